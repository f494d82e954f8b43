#!/usr/bin/env bash
# The profile behind bench/RESULTS.md's per-send figures: a `fanout` run on the 2-node cluster
# (scripts/bench.sh cluster, release builds; BENCH_BINARY as there) and, 5 s into its load, for
# 5 s: system calls and context switches of both nodes (`perf stat`), the Redis commands run
# (INFO commandstats, before and after) and node-1's store metrics (batches, append time); then
# `perf record -g` of one process for 8 s. Needs perf (Debian's linux-perf) and root.
#
#   bash scripts/profile.sh RATE [PROCESS] [DURATION]
#     RATE      messages/s per conversation (20 conversations of 10: RATE × 200 deliveries/s)
#     PROCESS   what perf records: node-1 (default), node-2 or postgres (every server process)
#     DURATION  seconds of load (default 25; the samples need 5 + 5 + 8 of them)
#
# Writes into PROFILE_OUT (default /tmp/switchboard-profile): bench.txt, perf-stat-node-N.txt,
# redis-commands.txt, store-metrics.txt, perf.data and its top symbols (symbols.txt,
# children.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:?usage: scripts/profile.sh RATE [node-1|node-2|postgres] [DURATION]}
target=${2:-node-1}
duration=${3:-25}
out=${PROFILE_OUT:-/tmp/switchboard-profile}
command -v perf >/dev/null || { echo "profile: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
mkdir -p "$out"
export CLUSTER_DIR=${CLUSTER_DIR:-/tmp/switchboard-bench-$(id -u)}
rm -f "$CLUSTER_DIR"/node-*.pid

bash scripts/bench.sh cluster bench/scenarios/fanout.json --rate "$rate" --duration "$duration" >"$out/bench.txt" 2>&1 &
bench=$!
# The senders have started once the harness prints its first second.
for _ in $(seq 1 600); do
  grep -q " sent " "$out/bench.txt" 2>/dev/null && break
  kill -0 "$bench" 2>/dev/null || { cat "$out/bench.txt" >&2; exit 1; }
  sleep 1
done
sleep 5

node1=$(cat "$CLUSTER_DIR/node-1.pid")
node2=$(cat "$CLUSTER_DIR/node-2.pid")
redis_port=$(sed 's/.*://; s/[^0-9].*//' "$CLUSTER_DIR/redis-url")
metrics="http://127.0.0.1:$(cat "$CLUSTER_DIR/node-1.port")/metrics"
events=task-clock,context-switches
for call in read write writev epoll_wait futex getrandom; do events+=",syscalls:sys_enter_$call"; done

commandstats() { redis-cli -p "$redis_port" info commandstats | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\).*/\1 \2/p' | sort; }
store() { curl -fsS "$metrics" | grep -E '^switchboard_store_(append_batch_size|seconds)_(sum|count)' | grep -E 'batch|op="append"'; }
commandstats >"$out/redis-before.txt"
store >"$out/store-before.txt"
perf stat -e "$events" -p "$node1" -o "$out/perf-stat-node-1.txt" -- sleep 5 &
perf stat -e "$events" -p "$node2" -o "$out/perf-stat-node-2.txt" -- sleep 5
wait %2 2>/dev/null || true
commandstats >"$out/redis-after.txt"
store >"$out/store-after.txt"
join -a 2 -e 0 -o 0,1.2,2.2 "$out/redis-before.txt" "$out/redis-after.txt" | awk '{ print $1, $3 - $2 }' | sort -k2 -nr >"$out/redis-commands.txt"
paste -d ' ' "$out/store-before.txt" "$out/store-after.txt" | awk '{ print $1, $4 - $2 }' >"$out/store-metrics.txt"

case "$target" in
  node-1) pids=$node1 ;;
  node-2) pids=$node2 ;;
  postgres) pids=$(pgrep -d, -x postgres) ;;
  *) echo "profile: unknown process '$target'" >&2; exit 2 ;;
esac
perf record -F 999 -g -p "$pids" -o "$out/perf.data" -- sleep 8 >/dev/null 2>&1
wait "$bench" || true
# The reports are cut with head: perf may see a closed pipe, which is no failure here.
set +o pipefail
demangle() { if command -v swift >/dev/null; then swift demangle --simplified; else cat; fi; }
perf report -i "$out/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | demangle | cut -c1-160 | head -80 >"$out/symbols.txt"
perf report -i "$out/perf.data" --children --sort symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | demangle | cut -c1-160 | head -200 >"$out/children.txt"
echo "profile: $out (the run: $out/bench.txt)"
