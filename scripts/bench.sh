#!/usr/bin/env bash
# The bench harness against real deployments (bench/README.md). BENCH_BINARY names another release
# build of the node to measure (an older commit's, to compare); the default is this tree's.
# BENCH_NODE_ARGS adds flags to every node (e.g. "--database-append-batch 16"); BENCH_KEEP=1 leaves the
# cluster running after a cluster run (to read its logs; stop it with `make cluster-down`). The cluster's
# PostgreSQL is given BENCH_WAL_AHEAD (default 48) WAL segments ready for reuse before the load, as a
# database in service has them (scripts/postgres.sh wal-ahead); 0 measures a fresh database instead.
#
#   scripts/bench.sh cluster SCENARIO [HARNESS FLAGS…]   release build; starts a cluster (CLUSTER_NODES,
#                                                        default 2), runs the scenario against every node
#                                                        with each process measured, stops the cluster
#   scripts/bench.sh embedded SCENARIO [HARNESS FLAGS…]  release build; one node on the embedded engine
#                                                        (SQLite in a temporary directory), measured
#   scripts/bench.sh drill [NAME…]                       release build; a cluster (2 nodes); the drill scenario
#                                                        once per fault (all when none is named), one table;
#                                                        REDIS=cluster|sentinel: 3 nodes on a Redis Cluster or
#                                                        behind Sentinel, their drills
#   scripts/bench.sh rolling [HARNESS FLAGS…]            release build; three nodes behind a local nginx
#                                                        (scripts/balancer.sh), the clients connected through
#                                                        it; each node replaced in turn (SIGTERM, a fresh
#                                                        start) while they send: fails on a loss, a duplicate
#                                                        or any error (the reconnect advisory is not one)
#   scripts/bench.sh calibrate [HARNESS FLAGS…]          release build; the harness alone: 100,000 deliveries/s
#                                                        from `switchboard-bench reference-node` (no store),
#                                                        the harness's own CPU reported
#   scripts/bench.sh smoke DIR                           `make test`'s part: the harness's own tests, then a
#                                                        short run (debug builds, one embedded node in DIR);
#                                                        fails unless nothing is lost
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
# The harness's users send far above a chat user's rate: the nodes under test get limits out of the way
# (the typing throttle to 100 ms, which bench/scenarios/typing.json states as typingThrottleMilliseconds).
# Its clients do not mark deliveries (the other servers' benchmark clients have nothing to mark), so
# redelivery, which would send them their entries again, is off: the bench measures the send path.
limits=(--limits-rate-messages 1000000 --limits-rate-burst 1000000 --typing-throttle-ms 100 --redeliver-delay-ms 0)

# Release builds, and a cluster (CLUSTER_NODES, default 2) that is stopped when the script exits.
start_cluster() {
  swift build -c release --product switchboard
  swift build -c release --package-path bench
  export CLUSTER_DIR=${CLUSTER_DIR:-/tmp/switchboard-bench-$(id -u)} CLUSTER_NODES=${CLUSTER_NODES:-2}
  export CLUSTER_BINARY=${BENCH_BINARY:-.build/release/switchboard} CLUSTER_ARGS="${limits[*]} ${BENCH_NODE_ARGS:-}"
  trap '[ -n "${BENCH_KEEP:-}" ] || bash scripts/cluster.sh down >/dev/null' EXIT
  bash scripts/cluster.sh up
  local segments=${BENCH_WAL_AHEAD:-48}
  [[ $segments == 0 ]] || bash scripts/postgres.sh wal-ahead "$CLUSTER_DIR/postgres" "$segments"
}

# The harness against the cluster: every node's URL, each process measured (pids read now: a drill
# may have restarted some).
harness() {
  local urls=() processes=() index nodes
  for index in $(seq 1 "$CLUSTER_NODES"); do
    urls+=("http://127.0.0.1:$(cat "$CLUSTER_DIR/node-$index.port")")
    processes+=(--process "node-$index=$(cat "$CLUSTER_DIR/node-$index.pid")")
  done
  if [[ -d $CLUSTER_DIR/redis/node-1 ]]; then
    # A Redis Cluster: each live server measured (a drill may have killed one).
    for index in "$CLUSTER_DIR"/redis/node-*; do
      if [[ -s $index/redis.pid ]] && kill -0 "$(cat "$index/redis.pid")" 2>/dev/null; then
        processes+=(--process "redis-${index##*-}=$(cat "$index/redis.pid")")
      fi
    done
  else
    processes+=(--process "redis=$(cat "$CLUSTER_DIR/redis/redis.pid")")
  fi
  processes+=(--process "postgres=$(head -n 1 "$CLUSTER_DIR/postgres/data/postmaster.pid")")
  nodes=$(IFS=,; echo "${urls[*]}")
  bench/.build/release/switchboard-bench run "$1" --nodes "$nodes" --secret "$(cat "$CLUSTER_DIR/secret")" \
    "${processes[@]}" --out bench/results "${@:2}"
}

# The fault and restore commands of each drill (run by the harness through /bin/sh, 5 s into its load).
drill_args() {
  local d=$CLUSTER_DIR node2 redis postmaster
  node2="\$(cat $d/node-2.pid)"
  redis="\$(cat $d/redis/redis.pid)"
  postmaster="\$(head -n 1 $d/postgres/data/postmaster.pid)"
  case $1 in
    kill-node) echo "--fault-command|kill -KILL $node2|--restore-command|bash scripts/cluster.sh restart-node 2|--restore-after|5" ;;
    drain-node) echo "--fault-command|kill -TERM $node2|--restore-command|bash scripts/cluster.sh restart-node 2|--restore-after|12" ;;
    restart-redis) echo "--fault-command|bash scripts/redis.sh stop $d/redis|--restore-command|bash scripts/redis.sh restart $d/redis|--restore-after|3" ;;
    freeze-redis) echo "--fault-command|kill -STOP $redis|--restore-command|kill -CONT $redis|--restore-after|10" ;;
    restart-postgres) echo "--fault-command|bash scripts/postgres.sh stop $d/postgres|--restore-command|bash scripts/postgres.sh restart $d/postgres|--restore-after|3" ;;
    # The postmaster and every backend: a hung machine, not one hung process.
    freeze-postgres) echo "--fault-command|pkill -STOP -P $postmaster; kill -STOP $postmaster|--restore-command|kill -CONT $postmaster; pkill -CONT -P $postmaster|--restore-after|10" ;;
    # A Redis Cluster or Sentinel: the busiest primary crashes; its replica is promoted; the dead server
    # is started again later and rejoins as a replica (Sentinel demotes it).
    kill-redis-primary) echo "--fault-command|bash scripts/redis.sh kill-primary $d/redis >$d/killed-primary|--restore-command|bash scripts/redis.sh restart \$(cat $d/killed-primary)|--restore-after|10" ;;
    *) echo "unknown drill '$1' (kill-node drain-node restart-redis freeze-redis restart-postgres freeze-postgres kill-redis-primary)" >&2; return 1 ;;
  esac
}

case ${1:-} in
  cluster)
    scenario=${2:?usage: scripts/bench.sh cluster SCENARIO [flags]}
    shift 2
    start_cluster
    harness "$scenario" "$@"
    ;;
  embedded)
    scenario=${2:?usage: scripts/bench.sh embedded SCENARIO [flags]}
    shift 2
    swift build -c release --product switchboard
    swift build -c release --package-path bench
    work=$(mktemp -d /tmp/switchboard-bench-embedded.XXXXXX)
    secret=$(head -c 32 /dev/urandom | base64 | tr -d '/+=' | head -c 40)
    start_node "${BENCH_BINARY:-.build/release/switchboard}" "$work" --data-dir "$work/data" --auth-secret "$secret" "${limits[@]}" ${BENCH_NODE_ARGS:-}
    trap 'stop_node; rm -rf "$work"' EXIT
    bench/.build/release/switchboard-bench run "$scenario" --nodes "$node_url" --secret "$secret" \
      --process "node=$node_pid" --out bench/results "$@"
    ;;
  drill)
    shift
    drills=("$@")
    if [[ ${REDIS:-server} != server ]]; then
      # On a Redis Cluster or Sentinel: three nodes, and the drills that make sense there (one
      # redis-server's restart or freeze does not).
      export CLUSTER_NODES=${CLUSTER_NODES:-3}
      ((${#drills[@]})) || drills=(kill-redis-primary kill-node restart-postgres)
    fi
    ((${#drills[@]})) || drills=(kill-node drain-node restart-redis freeze-redis restart-postgres freeze-postgres)
    start_cluster
    summary=()
    status=0
    for drill in "${drills[@]}"; do
      IFS='|' read -r -a args <<<"$(drill_args "$drill")"
      echo "== drill $drill"
      if harness bench/scenarios/drill.json --fault "$drill" --fault-at 5 "${args[@]}" | tee "$CLUSTER_DIR/drill-$drill.txt"; then
        result=ok
      else
        result=FAILED
        status=1
      fi
      line=$(grep -E '^[0-9.]+ [|] ' "$CLUSTER_DIR/drill-$drill.txt" | tail -n 1 || true)
      recovery=$(grep -o "recovery [^,]*" "$CLUSTER_DIR/drill-$drill.txt" | tail -n 1 || true)
      summary+=("$drill | $result | $recovery | $line")
    done
    echo
    echo "drill | result | recovery | msg/s | deliv/s | sent | acked | delivered | lost | dup shown | dup wire | reconnects | ack p50/p99 | deliver p50/p90/p99/p99.9/max (ms) | errors"
    printf '%s\n' "${summary[@]}"
    exit "$status"
    ;;
  rolling)
    shift
    export CLUSTER_NODES=3
    start_cluster
    balancer=$CLUSTER_DIR/balancer
    mkdir -p "$balancer"
    trap 'bash scripts/balancer.sh stop "$balancer"; bash scripts/cluster.sh down >/dev/null' EXIT
    ports=()
    for index in 1 2 3; do ports+=("$(cat "$CLUSTER_DIR/node-$index.port")"); done
    url=$(bash scripts/balancer.sh start "$balancer" "${ports[@]}")
    echo "balancer: $url"
    processes=()
    for index in 1 2 3; do processes+=(--process "node-$index=$(cat "$CLUSTER_DIR/node-$index.pid")"); done
    bench/.build/release/switchboard-bench run bench/scenarios/rolling.json --nodes "$url" --secret "$(cat "$CLUSTER_DIR/secret")" \
      "${processes[@]}" --fault rolling --fault-at 3 --fault-command "bash scripts/cluster.sh roll $balancer" --strict-errors \
      --out bench/results "$@"
    ;;
  calibrate)
    shift
    swift build -c release --package-path bench
    work=$(mktemp -d /tmp/switchboard-bench-calibrate.XXXXXX)
    bench/.build/release/switchboard-bench reference-node --port-file "$work/port" >"$work/reference.log" 2>&1 &
    reference=$!
    trap 'kill "$reference" 2>/dev/null; wait "$reference" 2>/dev/null; rm -rf "$work"' EXIT
    for _ in $(seq 1 100); do [[ -s $work/port ]] && break; sleep 0.1; done
    [[ -s $work/port ]] || { echo "the reference node did not start" >&2; cat "$work/reference.log" >&2; exit 1; }
    bench/.build/release/switchboard-bench run bench/scenarios/calibrate.json --nodes "http://127.0.0.1:$(cat "$work/port")" \
      --secret calibrate --process "reference=$reference" --out bench/results "$@"
    ;;
  smoke)
    work=${2:?usage: scripts/bench.sh smoke DIR}
    mkdir -p "$work"
    swift build --package-path bench --build-tests
    # The harness's own tests (its framing and frame scanning), then a short run against a real node.
    swift test --package-path bench --skip-build
    secret=bench-smoke-secret-of-at-least-32-bytes
    start_node .build/debug/switchboard "$work" --data-dir "$work/data" --auth-secret "$secret" "${limits[@]}"
    trap stop_node EXIT
    bench/.build/debug/switchboard-bench run bench/scenarios/smoke.json --nodes "$node_url" --secret "$secret" \
      --process "node=$node_pid" --out "$work/results"
    ;;
  *)
    echo "usage: $0 cluster SCENARIO [flags] | embedded SCENARIO [flags] | drill [NAME…] | rolling [flags] | calibrate [flags] | smoke DIR" >&2
    exit 2
    ;;
esac
