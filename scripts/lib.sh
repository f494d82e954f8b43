# Helpers shared by the scripts (postgres.sh, redis.sh, schemathesis.sh, bench.sh); sourced, not run.

# Prints a loopback port nothing listens on, below the kernel's ephemeral range when it can: a port in
# that range may be held by an outgoing connection, which a connect test does not see, and the server
# would then fail to bind.
free_port() {
  local port low=32768 span
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  span=$((low > 22000 ? low - 20000 : 30000))
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % span))
    if ! port_open "$port"; then echo "$port"; return; fi
  done
  echo "no free port found" >&2
  exit 1
}

# True when something accepts connections on the loopback port.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Closes every descriptor above stderr. A server started next outlives the script and must not keep
# the caller's descriptors open (a caller that waits for its pipes to close, as Foundation's Process
# does, would wait for the server).
close_inherited_fds() {
  local fd
  for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}

# Starts `BINARY serve ARGS…` on a free loopback port, logging to DIR/node.log, and returns once it
# accepts connections (or prints its log and exits). Sets node_pid and node_url; stop it with stop_node.
start_node() {
  local binary=$1 dir=$2 port
  shift 2
  mkdir -p "$dir"
  port=$(free_port)
  "$binary" serve --http-port "$port" "$@" >"$dir/node.log" 2>&1 &
  node_pid=$!
  node_url=http://127.0.0.1:$port
  for _ in $(seq 1 200); do
    port_open "$port" && return 0
    kill -0 "$node_pid" 2>/dev/null || { cat "$dir/node.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "the node did not start; see $dir/node.log" >&2
  exit 1
}

# Stops the node start_node started, by its pid.
stop_node() {
  kill "$node_pid" 2>/dev/null || true
  wait "$node_pid" 2>/dev/null || true
}
