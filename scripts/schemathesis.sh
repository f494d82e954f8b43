#!/usr/bin/env bash
# Checks docs/openapi.json against a real node with schemathesis (PyPI), every check on: requests the
# document allows must be accepted, requests it forbids refused, responses must match it, and a method
# a path lacks must get 405 with Allow. Allowances for state-dependent rules are in
# Tests/Schemathesis/schemathesis.toml, each with its reason.
#
#   scripts/schemathesis.sh DIR    runs the node (debug build) with its data in DIR, stops it by pid
#
# schemathesis is installed once into a virtual environment under .build/ (pinned version). The seed
# is fixed so a run is reproducible; SCHEMATHESIS_SEED picks another, SCHEMATHESIS_EXAMPLES the number
# of cases per operation.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
work=$1
mkdir -p "$work"
version=4.32.5
venv=$PWD/.build/schemathesis-$version

if [[ ! -x $venv/bin/schemathesis ]]; then
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
    else
      echo "schemathesis needs python3 with venv (Debian: apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

secret=schemathesis-secret-of-at-least-32-bytes
binary=.build/debug/switchboard
# Rate limits out of the way: the fuzzer sends thousands of requests as one user.
start_node "$binary" "$work" --data-dir "$work/data" --auth-secret "$secret" --limits-rate-messages 1000000 --limits-rate-burst 1000000
trap stop_node EXIT
token=$("$binary" token --user alice --roles agent:acme,admin --auth-secret "$secret")

"$venv/bin/schemathesis" --config-file Tests/Schemathesis/schemathesis.toml run docs/openapi.json \
  --url "$node_url" -H "Authorization: Bearer $token" \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-100}" --seed "${SCHEMATHESIS_SEED:-20261202}" \
  --generation-database none --no-color
