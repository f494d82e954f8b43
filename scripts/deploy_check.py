#!/usr/bin/env python3
"""Checks that the deployment files agree with the node they deploy (issue 18, `make lint`).

    deploy_check.py ROOT --binary PATH [--base RENDERED.yaml --dev RENDERED.yaml]

ROOT holds Dockerfile, docker-compose.yml, deploy/ and k8s/ (the repository, or a broken copy of it in
lint.sh's self-test); the rendered manifests are `kubectl kustomize` of k8s/base and k8s/overlays/dev.
The node's side is read from the node itself, never from a copy in this script:

- every configuration variable set by the image, the compose file and the manifests (ConfigMap, Secret
  template and generators, container env) is one `switchboard serve --help` documents;
- every port the deployment names for the node (EXPOSE, health checks, nginx upstreams, containerPort,
  the Service's target) is the port the node is told to listen on (HTTP_PORT, else its default);
- the node is started (embedded engine, a temporary directory) and every probe and scrape path the
  deployment uses answers 200; every metric the dashboard and the alert rules read is one its
  /metrics exposes after a little traffic; then it is sent the image's and the compose file's stop
  signal and must exit 0 (its graceful drain);
- the stop timeouts (terminationGracePeriodSeconds with preStop, compose's stop_grace_period) exceed
  the drain the node is configured for (DRAIN_GRACE_MS + WS_CLOSE_TIMEOUT_MS).

Exits 1 with one line per disagreement.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

problems = []


def problem(message):
    problems.append(message)


def documented_variables(binary):
    """Variable -> default, from `switchboard serve --help` (ConfigKeys.all)."""
    text = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    found = dict(re.findall(r"--[a-z0-9-]+ / ([A-Z0-9_]+) \(default ([^)]*)\)", text))
    if not found:
        sys.exit("could not read the configuration keys from `switchboard serve --help`")
    return found


def dockerfile(root):
    """(env, exposed ports, healthcheck URLs, stop signal) of the runtime stage."""
    text = open(os.path.join(root, "Dockerfile")).read().replace("\\\n", " ")
    stages = re.split(r"(?m)^FROM\s", text)
    runtime = stages[-1]
    env = {}
    for line in re.findall(r"(?m)^ENV\s+(.*)$", runtime):
        for key, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\S+)", line):
            env[key] = value.strip('"')
    exposed = [int(p) for line in re.findall(r"(?m)^EXPOSE\s+(.*)$", runtime) for p in re.findall(r"(\d+)", line)]
    health = re.findall(r"(?m)^HEALTHCHECK.*?(https?://[^\s\"']+)", runtime)
    stop = re.findall(r"(?m)^STOPSIGNAL\s+(\S+)", runtime)
    return env, exposed, health, (stop[-1] if stop else None)


def compose(root):
    data = yaml.safe_load(open(os.path.join(root, "docker-compose.yml")))
    nodes, others = {}, {}
    for name, service in (data.get("services") or {}).items():
        image = str(service.get("image", ""))
        (nodes if image.startswith("switchboard") else others)[name] = service
    return nodes, others


def healthcheck_urls(service):
    test = (service.get("healthcheck") or {}).get("test") or []
    words = test if isinstance(test, list) else [test]
    return [w for word in words for w in re.findall(r"https?://[^\s\"']+", str(word))]


def duration_seconds(text):
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", str(text))
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def url_port_path(url):
    match = re.match(r"https?://[^/:]+(?::(\d+))?(/[^?#]*)?", url)
    return (int(match.group(1)) if match.group(1) else 80), (match.group(2) or "/")


def manifests(path):
    return [doc for doc in yaml.safe_load_all(open(path)) if doc] if path else []


def node_containers(documents):
    """(kind, name, pod spec, container) for every container that runs the switchboard image."""
    for doc in documents:
        spec = doc.get("spec") or {}
        pod = ((spec.get("template") or {}).get("spec")) or (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
        if not pod:
            continue
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            if str(container.get("image", "")).split(":")[0].split("/")[-1] == "switchboard":
                yield doc["kind"], doc["metadata"]["name"], pod, container


def dotenv(path):
    values = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def drain_seconds(env, documented):
    """The longest a node's graceful stop takes with these settings: the drain's grace, then the close timeout."""
    setting = lambda name: int(env.get(name, documented[name]))
    return (setting("DRAIN_GRACE_MS") + setting("WS_CLOSE_TIMEOUT_MS")) / 1000


def check_names(where, names, documented):
    for name in sorted(names):
        if name not in documented:
            problem(f"{where}: {name} is not a configuration variable the node documents (switchboard serve --help)")


def check_kubernetes(root, documents, documented, label, paths):
    by_kind_name = {(d["kind"], d["metadata"]["name"]): d for d in documents}
    services = [d for d in documents if d["kind"] == "Service" and d["metadata"]["name"] == "switchboard"]
    found = False
    for kind, name, pod, container in node_containers(documents):
        found = True
        where = f"{label} {kind}/{name}"
        env = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                ref = source["configMapRef"]["name"]
                config = by_kind_name.get(("ConfigMap", ref))
                if config is None:
                    problem(f"{where}: ConfigMap {ref} is not in the manifests")
                    continue
                env.update(config.get("data") or {})
            if "secretRef" in source:
                ref = source["secretRef"]["name"]
                secret = by_kind_name.get(("Secret", ref))
                if secret is None and ref == "switchboard-secrets":
                    secret = yaml.safe_load(open(os.path.join(root, "k8s/base/secret.template.yaml")))
                if secret is None:
                    problem(f"{where}: Secret {ref} is not in the manifests nor the template")
                    continue
                keys = list((secret.get("data") or {}).keys()) + list((secret.get("stringData") or {}).keys())
                env.update({key: "(secret)" for key in keys})
        for variable in container.get("env", []):
            env[variable["name"]] = variable.get("value", "(from a reference)")
        check_names(where, env.keys(), documented)
        if container.get("args", [None])[0] != "serve":
            continue
        port = int(env.get("HTTP_PORT", documented["HTTP_PORT"]))
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        if port not in ports.values():
            problem(f"{where}: no containerPort is the node's HTTP_PORT {port} (has {sorted(ports.values())})")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = (container.get(probe) or {}).get("httpGet")
            if not get:
                problem(f"{where}: no {probe} over HTTP")
                continue
            target = get["port"]
            if (ports.get(target) if isinstance(target, str) else target) != port:
                problem(f"{where}: {probe} port {target} is not the node's port {port}")
            paths.add(get["path"])
        drain = drain_seconds(env, documented)
        pre_stop = 0
        command = (((container.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command") or []
        if len(command) == 2 and command[0] == "sleep":
            pre_stop = float(command[1])
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace < pre_stop + drain + 5:
            problem(f"{where}: terminationGracePeriodSeconds {grace} < preStop {pre_stop:g} s + drain {drain:g} s + 5 s to close the stores")
        for service in services:
            for service_port in service["spec"]["ports"]:
                target = service_port.get("targetPort")
                if (ports.get(target) if isinstance(target, str) else target) != port:
                    problem(f"{label} Service/switchboard: targetPort {target} is not the node's port {port}")
    if not found:
        problem(f"{label}: no container runs the switchboard image")
    service_ports = {p.get("name") for service in services for p in service["spec"]["ports"]}
    for monitor in (d for d in documents if d["kind"] == "ServiceMonitor"):
        for endpoint in monitor["spec"]["endpoints"]:
            if endpoint.get("port") not in service_ports:
                problem(f"{label} ServiceMonitor: port {endpoint.get('port')} is not a port of Service/switchboard")
            paths.add(endpoint.get("path", "/metrics"))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url, method="GET", body=None, token=None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def check_running_node(binary, paths, metric_names, signals):
    """Starts the node, probes `paths`, reads /metrics after a little traffic, stops it with each signal."""
    for index, stop in enumerate(signals or ["SIGTERM"]):
        with tempfile.TemporaryDirectory() as directory:
            port = free_port()
            secret = "deploy-check-secret-0123456789abcdef0123"
            common = ["--data-dir", directory, "--auth-secret", secret]
            log = open(os.path.join(directory, "node.log"), "w")
            process = subprocess.Popen([binary, "serve", "--http-port", str(port), "--drain-grace-ms", "200", "--drain-jitter-ms", "100"] + common,
                                       stdout=log, stderr=subprocess.STDOUT)
            base = f"http://127.0.0.1:{port}"
            try:
                for _ in range(300):
                    try:
                        if fetch(base + "/health/live")[0] == 200:
                            break
                    except OSError:
                        pass
                    if process.poll() is not None:
                        break
                    time.sleep(0.1)
                else:
                    problem("the node did not start")
                if index == 0:
                    for path in sorted(paths):
                        status, _ = fetch(base + path)
                        if status != 200:
                            problem(f"probe or scrape path {path} answers {status} on a running node, not 200")
                    token = subprocess.run([binary, "token", "--user", "deploy-check"] + common, capture_output=True, text=True, check=True).stdout.strip()
                    status, body = fetch(base + "/v1/conversations/direct", "POST", {"user": "other"}, token)
                    if status in (200, 201):
                        conversation = json.loads(body)["conversation"]["id"]
                        fetch(base + f"/v1/conversations/{conversation}/messages", "POST", {"client_id": "c1", "content": "hello"}, token)
                        fetch(base + "/v1/conversations", token=token)
                    _, exposition = fetch(base + "/metrics")
                    exposed = set(re.findall(r"(?m)^# TYPE (\S+)", exposition))
                    for name in sorted(metric_names):
                        if name not in exposed:
                            problem(f"the dashboard or the alert rules read {name}, which the node's /metrics does not expose")
                number = getattr(signal, stop, None)
                if not isinstance(number, signal.Signals):
                    problem(f"stop signal {stop} is not a signal")
                    continue
                process.send_signal(number)
                try:
                    code = process.wait(timeout=30)
                    if code != 0:
                        problem(f"the node stopped by {stop} exited {code}, not 0: it does not drain on that signal")
                except subprocess.TimeoutExpired:
                    problem(f"the node did not exit within 30 s of {stop}")
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()


def metric_names(root):
    names = set()
    texts = [open(os.path.join(root, "deploy/grafana/switchboard.json")).read(), open(os.path.join(root, "deploy/prometheus/alerts.yml")).read()]
    for text in texts:
        for name in re.findall(r"\b(switchboard_[a-z0-9_]+)", text):
            names.add(re.sub(r"_(bucket|sum|count)$", "", name))
    return names


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--binary", required=True)
    parser.add_argument("--base")
    parser.add_argument("--dev")
    options = parser.parse_args()
    root = options.root
    documented = documented_variables(options.binary)
    default_port = int(documented["HTTP_PORT"])
    paths = {"/metrics"}
    signals = []

    # The image.
    env, exposed, health, stop = dockerfile(root)
    check_names("Dockerfile ENV", env.keys(), documented)
    image_port = int(env.get("HTTP_PORT", default_port))
    if image_port not in exposed:
        problem(f"Dockerfile: EXPOSE {exposed} does not include the node's HTTP_PORT {image_port}")
    if not health:
        problem("Dockerfile: no HEALTHCHECK URL")
    for url in health:
        port, path = url_port_path(url)
        if port != image_port:
            problem(f"Dockerfile: HEALTHCHECK port {port} is not the node's HTTP_PORT {image_port}")
        paths.add(path)
    if stop is None:
        problem("Dockerfile: no STOPSIGNAL")
    else:
        signals.append(stop)

    # The compose file.
    nodes, others = compose(root)
    if not nodes:
        problem("docker-compose.yml: no service runs the switchboard image")
    for name, service in nodes.items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        check_names(f"docker-compose.yml service {name}", environment.keys(), documented)
        if (service.get("command") or ["serve"])[0] != "serve":
            continue
        port = int(environment.get("HTTP_PORT", image_port))
        for url in healthcheck_urls(service):
            url_port, path = url_port_path(url)
            if url_port != port:
                problem(f"docker-compose.yml service {name}: healthcheck port {url_port} is not the node's port {port}")
            paths.add(path)
        if "stop_signal" in service:
            signals.append(service["stop_signal"])
        drain = drain_seconds(environment, documented)
        grace = duration_seconds(service.get("stop_grace_period", "10s"))
        if grace is None or grace < drain + 2:
            problem(f"docker-compose.yml service {name}: stop_grace_period {service.get('stop_grace_period', '10s (default)')} < drain {drain:g} s + 2 s")
        nginx = os.path.join(root, "deploy/compose/nginx.conf")
        upstreams = re.findall(rf"server\s+{re.escape(name)}:(\d+)", open(nginx).read())
        if not upstreams:
            problem(f"deploy/compose/nginx.conf: node service {name} is not an upstream")
        for upstream in upstreams:
            if int(upstream) != port:
                problem(f"deploy/compose/nginx.conf: upstream {name}:{upstream} is not the node's port {port}")

    # The manifests.
    base_config = dotenv(os.path.join(root, "k8s/base/config.env"))
    check_names("k8s/base/config.env", base_config.keys(), documented)
    template = yaml.safe_load(open(os.path.join(root, "k8s/base/secret.template.yaml")))
    check_names("k8s/base/secret.template.yaml", (template.get("stringData") or {}).keys(), documented)
    for label, rendered in (("k8s/base", options.base), ("k8s/overlays/dev", options.dev)):
        if rendered:
            check_kubernetes(root, manifests(rendered), documented, label, paths)

    check_running_node(options.binary, paths, metric_names(root), sorted(set(signals)))

    for line in problems:
        print(f"deploy check: {line}")
    if problems:
        sys.exit(1)
    print(f"deploy check: configuration names, ports, probe paths {sorted(paths)}, metrics and stop signals {sorted(set(signals))} agree with the node")


if __name__ == "__main__":
    main()
