# Helpers shared by the server scripts (postgres.sh, redis.sh); sourced, not run.

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
