#!/usr/bin/env bash
# A local nginx in front of nodes on loopback ports, as a production balancer would be (the proxy
# settings are deploy/nginx/switchboard-proxy.conf, the compose file's too). Debian's nginx is
# installed when missing; the server runs as the caller, with everything under DIR; stopped by pid.
#
#   scripts/balancer.sh start DIR PORT…   starts it on a free port with those nodes; prints its URL
#   scripts/balancer.sh set DIR PORT…     the nodes it sends to from now on (a reload: connections
#                                         already open stay where they are until they close)
#   scripts/balancer.sh stop DIR
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
command=${1:?usage: balancer.sh start|set|stop DIR [PORT…]}
dir=${2:?usage: balancer.sh start|set|stop DIR [PORT…]}
shift 2

write_config() {
  local port=$1 upstreams="" node
  shift
  for node in "$@"; do upstreams+="        server 127.0.0.1:$node max_fails=1 fail_timeout=2s;"$'\n'; done
  cat >"$dir/nginx.conf.new" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      close;
    }
    upstream switchboard {
        least_conn;
$upstreams    }
    server {
        listen 127.0.0.1:$port;
        location / {
            include $PWD/deploy/nginx/switchboard-proxy.conf;
        }
    }
}
CONF
  mv "$dir/nginx.conf.new" "$dir/nginx.conf"
}

case $command in
  start)
    if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
      if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        # A policy-rc.d keeps the package from starting its own server (one the machine has is kept).
        made_policy=
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
          printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
        fi
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >&2 || true
        [[ -z $made_policy ]] || rm -f /usr/sbin/policy-rc.d
        command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || { echo "could not install nginx" >&2; exit 1; }
      else
        echo "the balancer needs nginx (Debian: apt-get install nginx-light)" >&2
        exit 1
      fi
    fi
    mkdir -p "$dir/tmp"
    port=$(free_port)
    echo "$port" >"$dir/port"
    write_config "$port" "$@"
    /usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log"
    for _ in $(seq 1 100); do
      port_open "$port" && { echo "http://127.0.0.1:$port"; exit 0; }
      sleep 0.1
    done
    echo "nginx did not start; see $dir/error.log" >&2
    exit 1
    ;;
  set)
    write_config "$(cat "$dir/port")" "$@"
    kill -HUP "$(cat "$dir/nginx.pid")"
    ;;
  stop)
    [[ -f $dir/nginx.pid ]] || exit 0
    pid=$(cat "$dir/nginx.pid")
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    ;;
  *)
    echo "usage: balancer.sh start|set|stop DIR [PORT…]" >&2
    exit 2
    ;;
esac
