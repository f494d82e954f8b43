#!/usr/bin/env bash
# `make cluster` / `make cluster-down`: Redis, PostgreSQL and three nodes on loopback ports, each with
# its own directory and pid file under $CLUSTER_DIR; `down` stops exactly those processes, by pid.
#
#   scripts/cluster.sh up     starts everything and prints the nodes' URLs
#   scripts/cluster.sh down   stops the nodes (SIGTERM: they drain), then Redis and PostgreSQL
#   scripts/cluster.sh restart-node N   starts node N again on its port once its process is gone (drills)
#   scripts/cluster.sh roll BALANCER_DIR   a rolling deploy behind scripts/balancer.sh: each node in turn
#                                          is taken out of the balancer, stopped with SIGTERM (it drains),
#                                          started again, and put back once ready
#
# CLUSTER_NODES (3), CLUSTER_BINARY (the release build), CLUSTER_ARGS (more flags for every node,
# e.g. the bench's rate limits) and REDIS (`server`, the default: one redis-server; `cluster`: a Redis
# Cluster of 3 primaries and 3 replicas, the nodes given every node as a seed; `sentinel`: a primary, a
# replica and three sentinels, the nodes given the sentinels) change what starts.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${CLUSTER_DIR:-/tmp/switchboard-cluster-$(id -u)}
nodes=${CLUSTER_NODES:-3}
redis_mode=${REDIS:-server}
binary=${CLUSTER_BINARY:-.build/release/switchboard}
read -r -a extra <<<"${CLUSTER_ARGS:-}"

# Starts node INDEX on PORT (0: any free one) in the background, recording its pid.
launch() {
  local index=$1 port=$2
  nohup "$binary" serve --node-id "node-$index" --http-port "$port" --data-dir "$dir/node-$index" \
    --auth-secret "$(cat "$dir/secret")" --database-url "$(cat "$dir/database-url")" --redis-url "$(cat "$dir/redis-url")" \
    $(cat "$dir/redis-args" 2>/dev/null) ${extra[@]+"${extra[@]}"} >>"$dir/node-$index.log" 2>&1 </dev/null &
  echo $! >"$dir/node-$index.pid"
}

# Prints node INDEX's URL once its log says where it listens (a start after the first SEEN such lines).
wait_url() {
  local index=$1 seen=${2:-0} url=""
  for _ in $(seq 1 600); do
    url=$(grep -o 'http=http://127\.0\.0\.1:[0-9]*' "$dir/node-$index.log" | tail -n +$((seen + 1)) | tail -n 1 | cut -c6- || true)
    [[ -n $url ]] && { echo "$url"; return 0; }
    kill -0 "$(cat "$dir/node-$index.pid")" 2>/dev/null || { cat "$dir/node-$index.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "node-$index did not start; see $dir/node-$index.log" >&2
  exit 1
}

# Starts node INDEX again on the port it had, once its old process is gone (after a kill or a drain).
restart_node() {
  local index=$1 old
  old=$(cat "$dir/node-$index.pid")
  for _ in $(seq 1 600); do
    kill -0 "$old" 2>/dev/null || break
    sleep 0.1
  done
  local seen
  seen=$(grep -c 'http=http://127\.0\.0\.1:' "$dir/node-$index.log" || true)
  launch "$index" "$(cat "$dir/node-$index.port")"
  wait_url "$index" "$seen" >/dev/null
}

up() {
  if [[ -d $dir ]]; then
    echo "a cluster already runs in $dir (make cluster-down first)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  chmod 755 "$dir"
  local database redis secret
  # PostgreSQL's durable defaults: what the cluster acknowledges is on disk (the bench measures this).
  database=$(POSTGRES_DURABLE=1 bash scripts/postgres.sh start "$dir/postgres")
  case $redis_mode in
    server) redis=$(bash scripts/redis.sh start "$dir/redis") ;;
    cluster) redis=$(bash scripts/redis.sh start-cluster "$dir/redis" 3 1) ;;
    sentinel)
      # The sentinels name the primary; the URL's host is the name they monitor it by.
      echo "--redis-sentinels $(bash scripts/redis.sh start-sentinel "$dir/redis")" >"$dir/redis-args"
      redis=redis://switchboard
      ;;
    *) echo "REDIS must be server, cluster or sentinel, not '$redis_mode'" >&2; exit 2 ;;
  esac
  secret=$(head -c 32 /dev/urandom | base64 | tr -d '/+=' | head -c 40)
  echo "$secret" >"$dir/secret"
  chmod 600 "$dir/secret"
  echo "$database" >"$dir/database-url"
  echo "$redis" >"$dir/redis-url"
  for index in $(seq 1 "$nodes"); do
    launch "$index" 0
  done
  echo "redis:      $redis $(cat "$dir/redis-args" 2>/dev/null)"
  echo "postgres:   $database"
  for index in $(seq 1 "$nodes"); do
    local url
    url=$(wait_url "$index")
    echo "${url##*:}" >"$dir/node-$index.port"
    echo "node-$index:     $url  (ws: ${url/http:/ws:}/v1/ws, log: $dir/node-$index.log)"
  done
  echo "tokens:     $binary token --user alice --auth-secret \$(cat $dir/secret)"
  echo "stop with:  make cluster-down"
}

down() {
  [[ -d $dir ]] || { echo "no cluster in $dir"; return 0; }
  local pidfile pid
  for pidfile in "$dir"/node-*.pid; do
    [[ -f $pidfile ]] || continue
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pidfile in "$dir"/node-*.pid; do
    [[ -f $pidfile ]] || continue
    pid=$(cat "$pidfile")
    for _ in $(seq 1 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  bash scripts/redis.sh stop "$dir/redis"
  bash scripts/postgres.sh stop "$dir/postgres"
  rm -rf "$dir"
  echo "cluster stopped"
}

# Waits until node INDEX answers /health/ready with 200.
wait_ready() {
  local url
  url=http://127.0.0.1:$(cat "$dir/node-$1.port")/health/ready
  for _ in $(seq 1 600); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$url" || true) == 200 ]] && return 0
    sleep 0.1
  done
  echo "node-$1 did not become ready" >&2
  exit 1
}

# The rolling deploy (see the header), as a Kubernetes Deployment with a preStop pause does it.
roll() {
  local balancer=$1 index other ports
  for index in $(seq 1 "$nodes"); do
    ports=()
    for other in $(seq 1 "$nodes"); do
      ((other == index)) || ports+=("$(cat "$dir/node-$other.port")")
    done
    bash scripts/balancer.sh set "$balancer" "${ports[@]}"
    # The balancer's reload takes effect (Kubernetes' preStop pause plays this part).
    sleep 1
    echo "rolling: node-$index stopped (SIGTERM)"
    kill -TERM "$(cat "$dir/node-$index.pid")"
    restart_node "$index"
    wait_ready "$index"
    ports=()
    for other in $(seq 1 "$nodes"); do ports+=("$(cat "$dir/node-$other.port")"); done
    bash scripts/balancer.sh set "$balancer" "${ports[@]}"
    echo "rolling: node-$index replaced and back in the balancer"
  done
}

case ${1:-} in
  up) up ;;
  down) down ;;
  restart-node) restart_node "${2:?usage: $0 restart-node INDEX}" ;;
  roll) roll "${2:?usage: $0 roll BALANCER_DIR}" ;;
  *)
    echo "usage: $0 up|down|restart-node INDEX|roll BALANCER_DIR" >&2
    exit 2
    ;;
esac
