#!/usr/bin/env bash
# Checks (and installs, as root on Debian) what building and running a node needs.
# Two C libraries from Debian, besides the Swift toolchain: the embedded store links Debian's SQLite
# through GRDB (libsqlite3-dev), the Redis client Debian's hiredis 0.14 (libhiredis-dev).
set -euo pipefail
if ! command -v swift >/dev/null 2>&1; then
  echo "switchboard needs the Swift 6 toolchain on PATH (https://www.swift.org/install/linux/)." >&2
  exit 1
fi
missing=()
for tool in git; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[[ -f /usr/include/hiredis/hiredis.h ]] || missing+=(libhiredis-dev)
[[ -f /usr/include/sqlite3.h ]] || missing+=(libsqlite3-dev)
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "please install: ${missing[*]}" >&2
    exit 1
  fi
fi
