# Switchboard: `make run` starts a node on the embedded engine; `make test` runs the whole suite.
SWIFT ?= swift
ARGS ?=
## Extra flags for `make release` (the Dockerfile passes --static-swift-stdlib).
SWIFT_FLAGS ?=

.PHONY: run build release test lint deps clean cluster cluster-down bench drill rolling

## Installs what a fresh Debian machine lacks to build a node (Debian's libhiredis-dev and libsqlite3-dev).
deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build --product switchboard

## One node on the embedded engine (SQLite in ./data, in-process pub/sub): no servers needed.
run: build
	.build/debug/switchboard serve --data-dir ./data $(ARGS)

## The whole suite: unit, conformance and end-to-end tests against real nodes on loopback ports, with
## throwaway PostgreSQL servers it installs (when missing), starts and stops itself.
test: deps
	SWIFT=$(SWIFT) bash scripts/test.sh

## The deployment files (Dockerfile, docker-compose.yml, k8s/, alert rules, dashboard) checked offline
## against the node, then the proof that each check fails on a broken copy; `make test` runs both.
lint: build
	bash scripts/lint.sh
	bash scripts/lint.sh selftest

## The release build of the node: what `make cluster` and `make bench` run (never a debug binary).
release: deps
	$(SWIFT) build -c release --product switchboard $(SWIFT_FLAGS)

## Cluster mode on one machine: Redis, PostgreSQL and three nodes on loopback ports; prints their URLs.
## REDIS=cluster: a Redis Cluster (3 primaries, 3 replicas) instead of one redis-server; REDIS=sentinel: a
## primary, a replica and three sentinels.
REDIS ?= server
cluster: release
	@REDIS=$(REDIS) bash scripts/cluster.sh up

## Stops what `make cluster` started (by the pids it recorded), and removes its directory.
cluster-down:
	@bash scripts/cluster.sh down

## A short `fanout` against a two-node cluster it starts and stops (release builds); prints the summary
## and writes the JSON result and the HTML report to bench/results/. SCENARIO and BENCH_ARGS change it.
SCENARIO ?= bench/scenarios/fanout.json
BENCH_ARGS ?=
bench: deps
	REDIS=$(REDIS) bash scripts/bench.sh cluster $(SCENARIO) $(BENCH_ARGS)

## Every failover drill (bench/README.md) under the drill load on a two-node cluster, one table at the
## end; each must lose nothing and show no duplicate. DRILLS names a subset. REDIS=cluster or sentinel:
## the drills on three nodes over a Redis Cluster or Sentinel (the busiest primary killed, and others).
DRILLS ?=
drill: deps
	REDIS=$(REDIS) bash scripts/bench.sh drill $(DRILLS)

## A rolling deploy under load: three release nodes behind a local nginx, each replaced in turn while
## clients send through it; fails on a lost or repeated message or any error (`make test` runs it).
rolling: deps
	bash scripts/bench.sh rolling $(BENCH_ARGS)

clean:
	rm -rf .build
