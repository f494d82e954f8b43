#!/usr/bin/env bash
# What a post costs the embedded store's writer with its statement compiled at every call (as the
# store ran it on SQLiteNIO) and with it prepared once and reused (as it runs it on GRDB): a
# database made by the node binary given (its schema and the `messages_post` trigger, which SQLite
# codes into every insert), then Python's sqlite3 module (Debian's libsqlite3) running the store's post statement in
# transactions of 1, 8 and 32 posts as the writer does (BEGIN IMMEDIATE … COMMIT, WAL,
# synchronous=NORMAL, foreign keys on), 20 conversations of 10. SQLite itself, not the node: no thread
# hops, no Swift.
#
#   bash scripts/sqlite-statement-cost.sh [BINARY]       default .build/release/switchboard
#
# The post statement is read from the store's source (`SQLiteStore.postStatement`), so it is the one the
# node runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
binary=${1:-.build/release/switchboard}
work=$(mktemp -d /tmp/switchboard-sqlite-cost.XXXXXX)
trap 'stop_node; rm -rf "$work"' EXIT
start_node "$binary" "$work" --data-dir "$work/data" --auth-secret "statement-cost-secret-of-at-least-32-bytes"
stop_node
# The lines between `static let postStatement = """` and the closing `"""`.
sed -n '/static let postStatement = """/,/^ *"""$/p' Sources/EmbeddedEngine/Store/SQLiteStore.swift | sed '1d;$d' >"$work/post.sql"
[[ -s $work/post.sql ]] || { echo "sqlite-statement-cost: SQLiteStore.postStatement not found" >&2; exit 1; }
python3 - "$work/data/chat.sqlite" "$work/post.sql" <<'PY'
import sqlite3, sys, time, uuid
path = sys.argv[1]
post = open(sys.argv[2]).read()
setup = sqlite3.connect(path, isolation_level=None)
for c in range(20):
    setup.execute("INSERT INTO conversations (id, kind, created_by, created_at, last_activity_at) VALUES (?, 'group', 'u0', 0, 0)", (f"c{c}",))
    for u in range(10):
        setup.execute("INSERT INTO participants (conversation_id, user_id, role, joined_at) VALUES (?, ?, 'member', 0)", (f"c{c}", f"u{u}"))
setup.close()
for cached in (False, True):
    # cached_statements=0: every execute compiles its SQL text, as SQLiteNIO's query did.
    db = sqlite3.connect(path, isolation_level=None, cached_statements=128 if cached else 0)
    for pragma in ("PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=5000"):
        db.execute(pragma)
    for batch in (1, 8, 32):
        transactions = 4000 // batch
        started = time.perf_counter()
        for _ in range(transactions):
            db.execute("BEGIN IMMEDIATE")
            for i in range(batch):
                user = f"u{i % 10}"
                db.execute(post, (uuid.uuid4().hex, user, uuid.uuid4().hex, "text", "hello", None, 5, f"c{i % 20}", user)).fetchall()
            db.execute("COMMIT")
        per_post = (time.perf_counter() - started) / (transactions * batch) * 1e6
        print(f"statement {'prepared once' if cached else 'compiled per call'}  posts per transaction {batch:2d}: {per_post:6.1f} µs a post")
    db.close()
PY
