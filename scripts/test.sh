#!/usr/bin/env bash
# `make test`: builds, starts throwaway PostgreSQL servers (scripts/postgres.sh) and a Redis server
# (scripts/redis.sh), checks docs/openapi.json against a real node (scripts/schemathesis.sh), runs a short
# bench harness run against a real node (scripts/bench.sh smoke), checks the deployment files (make
# lint), runs a rolling deploy of release nodes behind nginx (scripts/bench.sh rolling), the JavaScript
# client's and the browser console's tests (node --test, headless Chromium), runs the whole suite, then the
# end-to-end tests again with every node on PostgreSQL, and stops the servers by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}

$SWIFT build --build-tests

work=$(mktemp -d /tmp/switchboard-test.XXXXXX)
chmod 755 "$work"
cleanup() {
  for server in "$work"/postgres-*; do
    [[ -d $server ]] && bash scripts/postgres.sh stop "$server"
  done
  # Ours and those tests started (scripts/redis.sh under $work), even when a test failed half way.
  for server in "$work"/redis*; do
    [[ -d $server ]] && bash scripts/redis.sh stop "$server"
  done
  rm -rf "$work"
}
trap cleanup EXIT

SWITCHBOARD_TEST_DATABASE_URL=$(bash scripts/postgres.sh start "$work/postgres-main")
# A second server only for the test that stops and restarts PostgreSQL under load.
SWITCHBOARD_TEST_OUTAGE_DATABASE_URL=$(bash scripts/postgres.sh start "$work/postgres-outage")
export SWITCHBOARD_TEST_DATABASE_URL SWITCHBOARD_TEST_OUTAGE_DATABASE_URL
export SWITCHBOARD_TEST_OUTAGE_DIR=$work/postgres-outage
export SWITCHBOARD_TEST_POSTGRES_SCRIPT=$PWD/scripts/postgres.sh
SWITCHBOARD_TEST_REDIS_URL=$(bash scripts/redis.sh start "$work/redis")
export SWITCHBOARD_TEST_REDIS_URL
# Tests that stop and restart Redis under load start servers of their own with this script.
export SWITCHBOARD_TEST_REDIS_SCRIPT=$PWD/scripts/redis.sh SWITCHBOARD_TEST_WORK=$work

echo "== docs/openapi.json against a real node (schemathesis, every check)"
bash scripts/schemathesis.sh "$work/schemathesis"
echo "== the bench harness: its own tests, and a short fanout against a real node that must lose nothing (scripts/bench.sh smoke)"
bash scripts/bench.sh smoke "$work/bench"
echo "== the deployment files checked offline against the node, and each check proven on a broken copy (make lint)"
bash scripts/lint.sh
bash scripts/lint.sh selftest
echo "== a rolling deploy: three release nodes behind nginx, each replaced in turn under load (scripts/bench.sh rolling)"
CLUSTER_DIR=$work/rolling bash scripts/bench.sh rolling --out "$work/rolling-results"
echo "== the JavaScript client against real nodes (node --test)"
bash scripts/js-test.sh
echo "== the console in headless Chromium: the demo page on a node, the admin page on two (scripts/console-test.sh)"
bash scripts/console-test.sh
echo "== the whole suite (nodes on the embedded SQLite store; store tests on both stores)"
# Without the Redis Cluster and Sentinel suites: their servers (six for a cluster, five for Sentinel,
# started, failed over) beside the whole parallel suite stalled its real-time checks for seconds on a
# two-core machine; they run next, alone.
$SWIFT test --skip-build --skip RedisCluster --skip RedisSentinel
echo "== the Redis client and every Redis engine port on a Redis Cluster (three primaries, a replica each) and through Sentinel"
$SWIFT test --skip-build --filter 'RedisCluster|RedisSentinel'
echo "== the end-to-end suite again, every node on PostgreSQL"
SWITCHBOARD_TEST_STORE=postgres $SWIFT test --skip-build --filter EndToEndTests --skip PostgresOutageTests --skip ClusterTests --skip RedisCluster
