# SMOKE-TEST STAND-IN, not for users: plays python:3.11-slim-bookworm (Docker Hub is unreachable on
# the build machines) so scripts/container-smoke can build docker/plugin-service.Dockerfile unchanged.
# Debian bookworm's own Python 3.11 on the local Debian base (debootstrap + docker import).
ARG DEBIAN_IMAGE=immich-zh-smoke/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv; \
    rm -rf /var/lib/apt/lists/* /usr/lib/python3.11/EXTERNALLY-MANAGED; \
    ln -s /usr/bin/python3 /usr/local/bin/python
ENV LANG=C.UTF-8
CMD ["python3"]
