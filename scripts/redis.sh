#!/usr/bin/env bash
# A throwaway Redis server for tests and `make cluster`: Debian's redis-server (installed when missing),
# its own directory, a free loopback port, no persistence.
#
#   scripts/redis.sh start DIR     starts a server in DIR (created) and prints its URL
#   scripts/redis.sh stop DIR      stops the server in DIR by the pid it recorded (never by name)
#   scripts/redis.sh restart DIR   starts the stopped server in DIR again on the same port (outage tests)
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

start_server() {
  local dir=$1 bin port
  close_inherited_fds
  bin=$(server_binary)
  port=$(cat "$dir/port")
  rm -f "$dir/redis.pid"
  "$bin" --port "$port" --bind 127.0.0.1 --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --daemonize yes --save '' --appendonly no --protected-mode yes --maxclients 2000 >/dev/null
  for _ in $(seq 1 100); do
    if [[ -s $dir/redis.pid ]] && port_open "$port"; then return 0; fi
    sleep 0.05
  done
  cat "$dir/redis.log" >&2
  exit 1
}

stop_server() {
  local dir=$1 pid
  [[ -s $dir/redis.pid ]] || return 0
  pid=$(cat "$dir/redis.pid")
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
    free_port >"$dir/port"
    start_server "$dir"
    echo "redis://127.0.0.1:$(cat "$dir/port")"
    ;;
  stop)
    stop_server "$2"
    ;;
  restart)
    start_server "$2"
    ;;
  *)
    echo "usage: $0 start|stop|restart DIR" >&2
    exit 2
    ;;
esac
