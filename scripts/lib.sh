# Helpers shared by the scripts (postgres.sh, redis.sh, schemathesis.sh, bench.sh); sourced, not run.

# Prints a loopback port for a server the scripts start, nothing listening on it. Ports are handed out
# in turn across all of one user's runs (a counter in ${TMPDIR:-/tmp}/switchboard-ports-UID, taken
# under flock), from 12000-21999. In turn, not at random: a test that kills a server keeps calling its address, and a port
# handed out again soon after would put another test's server there (a cluster client would then read
# another cluster's slot map). The range is below the kernel's ephemeral ports (32768 up), where an
# outgoing connection may hold a port that a connect test does not see, and a cluster node's bus port
# (its port + 10000, so 22000-31999) falls in neither range.
free_port() {
  local state
  state=${TMPDIR:-/tmp}/switchboard-ports-$(id -u)
  (
    flock 9
    next=$(cat "$state" 2>/dev/null || true)
    [[ $next =~ ^[0-9]+$ ]] || next=$((RANDOM % 10000))
    for _ in $(seq 1 200); do
      port=$((12000 + next % 10000))
      next=$(((next + 1) % 10000))
      if ! port_open "$port" && ! port_open $((port + 10000)); then
        echo "$next" >"$state"
        echo "$port"
        exit 0
      fi
    done
    echo "no free port found" >&2
    exit 1
  ) 9>>"$state.lock" || exit 1
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
