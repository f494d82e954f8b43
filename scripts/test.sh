#!/usr/bin/env bash
# `make test`: builds, starts throwaway PostgreSQL servers (scripts/postgres.sh), runs the whole suite,
# then the end-to-end tests again with every node on PostgreSQL, and stops the servers by pid.
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
  rm -rf "$work"
}
trap cleanup EXIT

SWITCHBOARD_TEST_DATABASE_URL=$(bash scripts/postgres.sh start "$work/postgres-main")
# A second server only for the test that stops and restarts PostgreSQL under load.
SWITCHBOARD_TEST_OUTAGE_DATABASE_URL=$(bash scripts/postgres.sh start "$work/postgres-outage")
export SWITCHBOARD_TEST_DATABASE_URL SWITCHBOARD_TEST_OUTAGE_DATABASE_URL
export SWITCHBOARD_TEST_OUTAGE_DIR=$work/postgres-outage
export SWITCHBOARD_TEST_POSTGRES_SCRIPT=$PWD/scripts/postgres.sh

echo "== the whole suite (nodes on the embedded SQLite store; store tests on both stores)"
$SWIFT test --skip-build
echo "== the end-to-end suite again, every node on PostgreSQL"
SWITCHBOARD_TEST_STORE=postgres $SWIFT test --skip-build --filter EndToEndTests --skip PostgresOutageTests
