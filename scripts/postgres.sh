#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: Debian's packages (installed when missing), initdb into a
# temporary directory, a free loopback port, trust authentication for the `switchboard` role.
#
#   scripts/postgres.sh start DIR   starts a server in DIR (created; must not exist) and prints its URL
#   scripts/postgres.sh stop DIR    stops the server in DIR by the pid it recorded (never by name)
#   scripts/postgres.sh restart DIR  starts the stopped server in DIR again, same data and port (outage tests)
#   scripts/postgres.sh wal-ahead DIR N  gives the running server in DIR N WAL segments ready for reuse (the bench)
#
# Tests trade durability for speed (fsync and full_page_writes off). POSTGRES_DURABLE=1 at `start` keeps
# PostgreSQL's durable defaults (fsync, synchronous_commit and full_page_writes on), remembered for a
# restart: the cluster, and so the bench, always runs that way, so an ack it measures means on disk.
#
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user the package creates.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z $dir ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      echo "installing Debian's postgresql packages" >&2
      # Only the binaries are wanted: no cluster of the package's own, which would run outside our control.
      mkdir -p /etc/postgresql-common
      [[ -f /etc/postgresql-common/createcluster.conf ]] || echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold \
        postgresql >&2
      dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    else
      echo "PostgreSQL is missing: install Debian's postgresql package (as root: apt-get install postgresql)" >&2
      exit 1
    fi
  fi
  echo "$dir"
}

# Runs a command as the user the server runs as.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_server() {
  local dir=$1 bin port
  close_inherited_fds
  bin=$(bindir)
  port=$(cat "$dir/port")
  local speed="-c fsync=off -c full_page_writes=off"
  [[ -f $dir/durable ]] && speed=""
  as_owner "$bin/pg_ctl" start -w -t 60 -D "$dir/data" -l "$dir/server.log" \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 $speed" >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
}

stop_server() {
  local dir=$1 pid
  [[ -f $dir/data/postmaster.pid ]] || return 0
  pid=$(head -n 1 "$dir/data/postmaster.pid")
  # SIGINT is PostgreSQL's fast shutdown: open sessions are ended, committed work is kept.
  kill -INT "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

case ${1:-} in
  start)
    dir=$2
    bin=$(bindir)
    mkdir -p "$dir"
    free_port >"$dir/port"
    if [[ ${POSTGRES_DURABLE:-0} == 1 ]]; then touch "$dir/durable"; fi
    if [[ $(id -u) -eq 0 ]]; then chown -R postgres "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U switchboard --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    start_server "$dir"
    echo "postgres://switchboard@127.0.0.1:$(cat "$dir/port")/postgres?sslmode=disable"
    ;;
  stop)
    stop_server "$2"
    ;;
  restart)
    start_server "$2"
    ;;
  wal-ahead)
    # A fresh cluster has one WAL segment, and the commit that fills a segment creates the next one:
    # 16 MB zero-filled inside that commit, 0.10–0.15 s on the bench's host under load, while every
    # other commit waits (bench/RESULTS.md, "twenty-second step"). A database in service does not pay
    # it: each checkpoint renames the segments it no longer needs into the next ones. This does the
    # same ahead of a measurement: N segments are written now (a WAL record, then a switch, N times),
    # and a checkpoint, with min_wal_size covering them, keeps them all for reuse.
    dir=$2 count=${3:?usage: $0 wal-ahead DIR COUNT}
    # One session, each statement on its own (ALTER SYSTEM and CHECKPOINT refuse a transaction block);
    # min_wal_size in MB counts 16 MB segments, the initdb default, with two to spare.
    {
      echo "ALTER SYSTEM SET min_wal_size = '$((count * 16 + 32))MB';"
      echo "SELECT pg_reload_conf();"
      for _ in $(seq 1 "$count"); do
        echo "SELECT pg_logical_emit_message(false, 'switchboard', 'wal-ahead');"
        echo "SELECT pg_switch_wal();"
      done
      echo "CHECKPOINT;"
    } | psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(cat "$dir/port")" -U switchboard -d postgres >/dev/null
    ;;
  *)
    echo "usage: $0 start|stop|restart DIR | wal-ahead DIR COUNT" >&2
    exit 2
    ;;
esac
