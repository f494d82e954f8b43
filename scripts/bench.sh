#!/usr/bin/env bash
# The bench harness against real deployments (bench/README.md).
#
#   scripts/bench.sh cluster SCENARIO [HARNESS FLAGS…]   release build; starts a cluster (CLUSTER_NODES,
#                                                        default 2), runs the scenario against every node
#                                                        with each process measured, stops the cluster
#   scripts/bench.sh smoke DIR                           `make test`'s short run: debug builds, one embedded
#                                                        node in DIR; fails unless nothing is lost
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
# The harness's users send far above a chat user's rate: the nodes under test get limits out of the way.
limits=(--limits-rate-messages 1000000 --limits-rate-burst 1000000)

case ${1:-} in
  cluster)
    scenario=${2:?usage: scripts/bench.sh cluster SCENARIO [flags]}
    shift 2
    swift build -c release --product switchboard
    swift build -c release --package-path bench
    export CLUSTER_DIR=${CLUSTER_DIR:-/tmp/switchboard-bench-$(id -u)} CLUSTER_NODES=${CLUSTER_NODES:-2}
    export CLUSTER_BINARY=.build/release/switchboard CLUSTER_ARGS="${limits[*]}"
    trap 'bash scripts/cluster.sh down >/dev/null' EXIT
    bash scripts/cluster.sh up
    urls=() processes=()
    for index in $(seq 1 "$CLUSTER_NODES"); do
      urls+=("$(grep -o 'http=http://127\.0\.0\.1:[0-9]*' "$CLUSTER_DIR/node-$index.log" | head -n 1 | cut -c6-)")
      processes+=(--process "node-$index=$(cat "$CLUSTER_DIR/node-$index.pid")")
    done
    processes+=(--process "redis=$(cat "$CLUSTER_DIR/redis/redis.pid")")
    processes+=(--process "postgres=$(head -n 1 "$CLUSTER_DIR/postgres/data/postmaster.pid")")
    nodes=$(IFS=,; echo "${urls[*]}")
    bench/.build/release/switchboard-bench run "$scenario" --nodes "$nodes" --secret "$(cat "$CLUSTER_DIR/secret")" \
      "${processes[@]}" --out bench/results "$@"
    ;;
  smoke)
    work=${2:?usage: scripts/bench.sh smoke DIR}
    mkdir -p "$work"
    swift build --package-path bench
    secret=bench-smoke-secret-of-at-least-32-bytes
    port=$(free_port)
    .build/debug/switchboard serve --data-dir "$work/data" --http-port "$port" --auth-secret "$secret" "${limits[@]}" \
      >"$work/node.log" 2>&1 &
    node=$!
    trap 'kill "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true' EXIT
    for _ in $(seq 1 200); do
      port_open "$port" && break
      kill -0 "$node" 2>/dev/null || { cat "$work/node.log" >&2; exit 1; }
      sleep 0.1
    done
    bench/.build/debug/switchboard-bench run bench/scenarios/smoke.json --nodes "http://127.0.0.1:$port" --secret "$secret" \
      --process "node=$node" --out "$work/results"
    ;;
  *)
    echo "usage: $0 cluster SCENARIO [flags] | smoke DIR" >&2
    exit 2
    ;;
esac
