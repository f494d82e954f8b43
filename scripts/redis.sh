#!/usr/bin/env bash
# A throwaway Redis server for tests and `make cluster`: Debian's redis-server (installed when missing),
# its own directory, a free loopback port, no persistence.
#
#   scripts/redis.sh start DIR     starts a server in DIR (created) and prints its URL
#   scripts/redis.sh stop DIR      stops the server in DIR by the pid it recorded (never by name); for a
#                                  cluster's DIR, every server of it
#   scripts/redis.sh start-tls DIR like start, but TLS only: a CA and a server certificate for 127.0.0.1 and
#                                  localhost are made in DIR; prints rediss://127.0.0.1:PORT?ca=DIR/ca.crt
#   scripts/redis.sh restart DIR   starts the stopped server in DIR again on the same port (outage tests)
#   scripts/redis.sh start-cluster DIR [PRIMARIES] [REPLICAS]
#                                  a Redis Cluster of PRIMARIES (default 3) primaries with REPLICAS (default 1)
#                                  replicas each, one server per DIR/node-N (cluster mode, a 2 s node timeout),
#                                  joined by `redis-cli --cluster create`; prints redis://HOST:PORT,HOST:PORT,…
#                                  (every node) once every slot is served, every node agrees and every
#                                  replica is in sync
#   scripts/redis.sh start-sentinel DIR
#                                  Sentinel mode: a primary (DIR/node-1), a replica (DIR/node-2) and three
#                                  sentinels (DIR/sentinel-N, quorum 2, a 1 s down-after) monitoring it as
#                                  'switchboard'; prints the sentinels as HOST:PORT,HOST:PORT,HOST:PORT once
#                                  each knows the replica and the other sentinels, and the replica is in sync
#   scripts/redis.sh reshard DIR COUNT
#                                  moves COUNT slots (with their keys) from node-1's primary to node-2's with
#                                  `redis-cli --cluster reshard`, as an operator would
#   scripts/redis.sh kill-primary DIR
#                                  SIGKILLs the busiest primary of the cluster in DIR (the most commands per
#                                  second now), as a crash would; prints its node directory (restart it
#                                  with `restart`: it rejoins as a replica)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

server_binary() {
  if ! command -v redis-server >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      echo "installing Debian's redis-server package" >&2
      apt-get update -qq >&2
      # policy-rc.d or not, the package's own service is never ours: we start servers by hand below.
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >&2
    else
      echo "Redis is missing: install Debian's redis-server package (as root: apt-get install redis-server)" >&2
      exit 1
    fi
  fi
  command -v redis-server
}

# A throwaway CA, and a server certificate it signed for 127.0.0.1 and localhost, in DIR.
make_certificates() {
  local dir=$1
  if ! command -v openssl >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >&2
    else
      echo "openssl is missing: install Debian's openssl package" >&2
      exit 1
    fi
  fi
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=switchboard test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/san.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
    -extfile "$dir/san.ext" -out "$dir/server.crt" 2>/dev/null
}

start_server() {
  local dir=$1 bin port
  local -a listen
  close_inherited_fds
  bin=$(server_binary)
  port=$(cat "$dir/port")
  listen=(--port "$port")
  if [[ -f $dir/server.crt ]]; then
    listen=(--port 0 --tls-port "$port" --tls-cert-file "$dir/server.crt" --tls-key-file "$dir/server.key"
      --tls-ca-cert-file "$dir/ca.crt" --tls-auth-clients no)
  fi
  if [[ -f $dir/cluster ]]; then
    # A replica syncs at once (no 5 s wait to batch replicas), and a stopped primary does not wait for its
    # replicas to acknowledge its last writes: throwaway servers, stopped by tests in a hurry.
    listen+=(--cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000
      --repl-diskless-sync-delay 0 --shutdown-timeout 0)
  fi
  # Sentinel mode: a replica follows the primary its file names; a sentinel runs from its own config file
  # (it rewrites it with what it learns).
  if [[ -f $dir/replicaof ]]; then listen+=(--replicaof 127.0.0.1 "$(cat "$dir/replicaof")"); fi
  if [[ -f $dir/sentinel.conf ]]; then listen=("$dir/sentinel.conf" --sentinel "${listen[@]}"); fi
  rm -f "$dir/redis.pid"
  "$bin" "${listen[@]}" --bind 127.0.0.1 --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --daemonize yes --save '' --appendonly no --protected-mode yes --maxclients 2000 >/dev/null
  for _ in $(seq 1 100); do
    if [[ -s $dir/redis.pid ]] && port_open "$port"; then return 0; fi
    sleep 0.05
  done
  cat "$dir/redis.log" >&2
  return 1
}

# Starts a fresh server in DIR on a free port; a port lost to a race (bind fails) costs a retry.
start_fresh() {
  local dir=$1
  for _ in 1 2 3; do
    free_port >"$dir/port"
    if start_server "$dir"; then return 0; fi
    echo "redis-server did not come up on port $(cat "$dir/port"); trying another" >&2
  done
  exit 1
}

stop_server() {
  local dir=$1 pid
  [[ -s $dir/redis.pid ]] || return 0
  pid=$(cat "$dir/redis.pid")
  # SHUTDOWN first: a server started by a process that blocks SIGTERM (a test runner with signal handlers)
  # inherits the blocked signal and would only go at the SIGKILL below. TLS servers get the signal. Only
  # to our own server: after a SIGKILL (a drill) the port may belong to another test's server by now.
  if [[ ! -f $dir/server.crt && -s $dir/port ]] && kill -0 "$pid" 2>/dev/null; then
    local port owner
    port=$(cat "$dir/port")
    owner=$(timeout 2 redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p' || true)
    if [[ $owner == "$pid" ]]; then
      timeout 2 redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    fi
  fi
  kill -TERM "$pid" 2>/dev/null || { rm -f "$dir/redis.pid"; return 0; }
  for _ in $(seq 1 200); do
    # Redis removes its pid file as it exits; a daemon nobody reaps may linger as a zombie after that.
    if [[ ! -e $dir/redis.pid ]] || ! kill -0 "$pid" 2>/dev/null; then rm -f "$dir/redis.pid"; return 0; fi
    sleep 0.02
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/redis.pid"
}

case ${1:-} in
  start)
    dir=$2
    server_binary >/dev/null
    mkdir -p "$dir"
    start_fresh "$dir"
    echo "redis://127.0.0.1:$(cat "$dir/port")"
    ;;
  start-tls)
    dir=$2
    server_binary >/dev/null
    mkdir -p "$dir"
    make_certificates "$dir"
    start_fresh "$dir"
    echo "rediss://127.0.0.1:$(cat "$dir/port")?ca=$dir/ca.crt"
    ;;
  stop | stop-cluster)
    # A cluster's directory holds a server per node-N; a single server's directory, the server itself.
    stop_server "$2"
    for node in "$2"/sentinel-* "$2"/node-*; do if [[ -d $node ]]; then stop_server "$node"; fi; done
    ;;
  restart)
    start_server "$2" || exit 1
    ;;
  start-cluster)
    dir=$2 primaries=${3:-3} replicas=${4:-1}
    server_binary >/dev/null
    mkdir -p "$dir"
    nodes=()
    for index in $(seq 1 $((primaries * (replicas + 1)))); do
      mkdir -p "$dir/node-$index"
      touch "$dir/node-$index/cluster"
      start_fresh "$dir/node-$index"
      nodes+=("127.0.0.1:$(cat "$dir/node-$index/port")")
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas "$replicas" --cluster-yes >"$dir/create.log" 2>&1 \
      || { cat "$dir/create.log" >&2; exit 1; }
    # Every node must know the whole map (and every replica its primary) before a client relies on it.
    for _ in $(seq 1 200); do
      settled=1
      for node in "${nodes[@]}"; do
        info=$(redis-cli -h 127.0.0.1 -p "${node##*:}" cluster info 2>/dev/null || true)
        grep -q '^cluster_state:ok' <<<"$info" && grep -q "^cluster_known_nodes:${#nodes[@]}" <<<"$info" || settled=0
        # A replica counts once its link to its primary is up (it can be promoted then).
        replication=$(redis-cli -h 127.0.0.1 -p "${node##*:}" info replication 2>/dev/null || true)
        grep -q '^role:slave' <<<"$replication" && ! grep -q '^master_link_status:up' <<<"$replication" && settled=0
      done
      ((settled)) && break
      sleep 0.2
    done
    ((settled)) || { echo "the cluster in $dir did not settle" >&2; exit 1; }
    (IFS=,; echo "redis://${nodes[*]}")
    ;;
  start-sentinel)
    dir=$2
    server_binary >/dev/null
    mkdir -p "$dir/node-1" "$dir/node-2"
    start_fresh "$dir/node-1"
    cp "$dir/node-1/port" "$dir/node-2/replicaof"
    start_fresh "$dir/node-2"
    sentinels=()
    for index in 1 2 3; do
      node=$dir/sentinel-$index
      mkdir -p "$node"
      printf '%s\n' "sentinel monitor switchboard 127.0.0.1 $(cat "$dir/node-1/port") 2" \
        "sentinel down-after-milliseconds switchboard 1000" "sentinel failover-timeout switchboard 10000" >"$node/sentinel.conf"
      start_fresh "$node"
      sentinels+=("127.0.0.1:$(cat "$node/port")")
    done
    for _ in $(seq 1 300); do
      settled=1
      for sentinel in "${sentinels[@]}"; do
        info=$(redis-cli -h 127.0.0.1 -p "${sentinel##*:}" sentinel master switchboard 2>/dev/null | tr -d '\r' || true)
        grep -A1 -x 'num-slaves' <<<"$info" | tail -n 1 | grep -qx 1 || settled=0
        grep -A1 -x 'num-other-sentinels' <<<"$info" | tail -n 1 | grep -qx 2 || settled=0
      done
      redis-cli -h 127.0.0.1 -p "$(cat "$dir/node-2/port")" info replication 2>/dev/null | grep -q '^master_link_status:up' || settled=0
      ((settled)) && break
      sleep 0.1
    done
    ((settled)) || { echo "the sentinels in $dir did not settle" >&2; exit 1; }
    (IFS=,; echo "${sentinels[*]}")
    ;;
  reshard)
    dir=$2 count=${3:?usage: $0 reshard DIR COUNT}
    from=$(redis-cli -h 127.0.0.1 -p "$(cat "$dir/node-1/port")" cluster myid)
    to=$(redis-cli -h 127.0.0.1 -p "$(cat "$dir/node-2/port")" cluster myid)
    redis-cli --cluster reshard "127.0.0.1:$(cat "$dir/node-1/port")" --cluster-from "$from" --cluster-to "$to" \
      --cluster-slots "$count" --cluster-yes >"$dir/reshard.log" 2>&1 || { cat "$dir/reshard.log" >&2; exit 1; }
    ;;
  kill-primary)
    busiest="" most=-1
    for node in "$2"/node-*; do
      [[ -s $node/redis.pid ]] && kill -0 "$(cat "$node/redis.pid")" 2>/dev/null || continue
      info=$(redis-cli -h 127.0.0.1 -p "$(cat "$node/port")" info 2>/dev/null | tr -d '\r' || true)
      grep -q '^role:master' <<<"$info" || continue
      ops=$(sed -n 's/^instantaneous_ops_per_sec://p' <<<"$info")
      if ((${ops:-0} > most)); then busiest=$node most=${ops:-0}; fi
    done
    [[ -n $busiest ]] || { echo "no live primary in $2" >&2; exit 1; }
    kill -KILL "$(cat "$busiest/redis.pid")"
    echo "$busiest"
    ;;
  *)
    echo "usage: $0 start|start-tls|stop|restart DIR | start-cluster DIR [PRIMARIES] [REPLICAS] | stop-cluster DIR | start-sentinel DIR | reshard DIR COUNT | kill-primary DIR" >&2
    exit 2
    ;;
esac
