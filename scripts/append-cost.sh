#!/usr/bin/env bash
# What one append costs PostgreSQL, by group size: for each node binary given, a fresh database
# migrated by it, a group of 10 and a group of 1,000, then pgbench calling the store's two append
# functions directly (a batch of one post through the loop, a batch of eight through the set-based
# statement), one client, synchronous_commit off (the function's own work, not the disk's flush).
# Binaries alternate per measurement, so a change in the host hits both alike.
#
#   bash scripts/append-cost.sh BINARY [BINARY…]        e.g. an older release build and .build/release/switchboard
#
# Starts a throwaway PostgreSQL (scripts/postgres.sh) and stops it at the end. SECONDS_PER_RUN (8) and
# ROUNDS (2) tune the length. Prints one line per measurement: round, batch, group, binary, latency.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: scripts/append-cost.sh BINARY [BINARY…]" >&2; exit 2; }
seconds=${SECONDS_PER_RUN:-8}
rounds=${ROUNDS:-2}
work=$(mktemp -d /tmp/switchboard-append-cost.XXXXXX)
chmod 755 "$work"  # the server runs as its own user
bash scripts/postgres.sh start "$work/postgres" >"$work/postgres.log"
trap 'bash scripts/postgres.sh stop "$work/postgres" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
url=$(tail -n 1 "$work/postgres.log")
port=$(sed 's/.*:\([0-9]*\)\/.*/\1/' <<<"$url")
psql_() { psql -h 127.0.0.1 -p "$port" -U switchboard -v ON_ERROR_STOP=1 -q "$@"; }

for index in $(seq 1 $#); do
  binary=${!index}
  psql_ -d postgres -c "CREATE DATABASE cost_$index"
  "$binary" migrate --database-url "postgres://switchboard@127.0.0.1:$port/cost_$index?sslmode=disable" >"$work/migrate.log" 2>&1 ||
    { cat "$work/migrate.log" >&2; exit 1; }
  psql_ -d "cost_$index" <<'SQL'
INSERT INTO conversations (id, kind, title, created_by, created_at, last_activity_at)
VALUES ('c_10', 'group', 'ten', 'u1', 0, 0), ('c_1000', 'group', 'thousand', 'u1', 0, 0);
INSERT INTO participants (conversation_id, user_id, role, joined_at) SELECT 'c_10', 'u' || g, 'member', 0 FROM generate_series(1, 10) g;
INSERT INTO participants (conversation_id, user_id, role, joined_at) SELECT 'c_1000', 'u' || g, 'member', 0 FROM generate_series(1, 1000) g;
ANALYZE;
SQL
done

for group in c_10 c_1000; do
  cat >"$work/one-$group.sql" <<SQL
SELECT * FROM switchboard_append_batch(ARRAY['$group'], ARRAY[md5(random()::text)], ARRAY['u5'], ARRAY[md5(random()::text)],
  ARRAY['text'], ARRAY['post'], ARRAY[0::bigint], ARRAY[''], ARRAY['hello'], ARRAY[''], ARRAY[1::bigint]);
SQL
  cat >"$work/eight-$group.sql" <<SQL
SELECT * FROM switchboard_append_posts(array_fill('$group'::text, ARRAY[8]), ARRAY(SELECT md5(random()::text) FROM generate_series(1, 8)),
  ARRAY(SELECT 'u' || g FROM generate_series(1, 8) g), ARRAY(SELECT md5(random()::text) FROM generate_series(1, 8)),
  array_fill('text'::text, ARRAY[8]), array_fill('hello'::text, ARRAY[8]), array_fill(''::text, ARRAY[8]), array_fill(1::bigint, ARRAY[8]));
SQL
done

for round in $(seq 1 "$rounds"); do
  for batch in one eight; do
    for group in c_10 c_1000; do
      for index in $(seq 1 $#); do
        latency=$(PGOPTIONS='-c synchronous_commit=off' pgbench -n -h 127.0.0.1 -p "$port" -U switchboard -M prepared -c 1 \
          -T "$seconds" -f "$work/$batch-$group.sql" "cost_$index" 2>&1 | sed -n 's/^latency average = //p')
        echo "round $round  batch $batch  group ${group#c_}  ${!index}: $latency"
      done
    done
  done
done
