# The Switchboard node image. Build: `docker build -t switchboard .` (docker-compose.yml and k8s/ use it).
# Two stages: the build runs the Makefile's own `make release` (one source of truth for how the node is
# built), with the Swift standard library linked statically; the runtime is Debian slim with hiredis
# and SQLite (the Redis client's and the embedded store's C libraries), a non-root user and nothing
# else but curl for the health check.

FROM swift:6.3-bookworm AS build
WORKDIR /src
# The dependency graph first, so that a source change does not fetch the packages again.
COPY Package.swift ./
RUN swift package resolve
COPY . .
RUN make release SWIFT_FLAGS=--static-swift-stdlib \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/switchboard" /out/switchboard

FROM debian:bookworm-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl libhiredis0.14 libsqlite3-0 libstdc++6 tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/switchboard --create-home --shell /usr/sbin/nologin switchboard
COPY --from=build /out/switchboard /usr/local/bin/switchboard
# Listen on every interface inside the container; the data directory holds only the generated JWT
# secret in cluster mode (set AUTH_SECRET instead) and the SQLite store on the embedded engine.
ENV HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080 \
    DATA_DIR=/var/lib/switchboard
USER 10001:10001
WORKDIR /var/lib/switchboard
VOLUME ["/var/lib/switchboard"]
EXPOSE 8080
# SIGTERM starts the drain: readiness turns 503, clients get the reconnect advisory, then 1012 (docs/operations.md).
STOPSIGNAL SIGTERM
# The probe's port is HTTP_PORT above (scripts/deploy_check.py keeps them equal).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["curl", "--fail", "--silent", "--show-error", "--output", "/dev/null", "http://127.0.0.1:8080/health/ready"]
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["serve"]
