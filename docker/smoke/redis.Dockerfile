# SMOKE-TEST STAND-IN, not for users: plays valkey/valkey:9 (Docker Hub is unreachable on the build
# machines) in scripts/container-smoke. Debian's redis-server; redis-cli answers the compose healthcheck.
ARG DEBIAN_IMAGE=immich-zh-smoke/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server; \
    rm -rf /var/lib/apt/lists/*
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
