# SMOKE-TEST STAND-IN, not for users: plays the patched Immich server image in scripts/container-smoke.
# Immich's own server/Dockerfile (which scripts/build-images.sh uses) needs ghcr.io base images and
# mise downloads that the build machines cannot reach, so the smoke run builds the patched tree on the
# host (pnpm: server, web, SDK packages) and lays the result out here as Immich's image does:
# /usr/src/app/server (pnpm deploy --prod), /build/www (the web build), /build/geodata (a minimal
# reverse-geocoding set, one city and one country). Node 24 comes from the npm registry, ffmpeg and
# perl (exiftool) from Debian; sharp uses the libvips its npm package ships (Debian bookworm's libvips
# is older than sharp 0.34 accepts). The build context is prepared by scripts/container-smoke.
ARG DEBIAN_IMAGE=immich-zh-smoke/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg perl tini; \
    rm -rf /var/lib/apt/lists/*
COPY node /usr/local/bin/node
COPY build /build
COPY server /usr/src/app/server
ENV NODE_ENV=production \
    IMMICH_ENV=production \
    IMMICH_BUILD_DATA=/build \
    IMMICH_MEDIA_LOCATION=/data
WORKDIR /usr/src/app/server
VOLUME /data
EXPOSE 2283
ENTRYPOINT ["tini", "--"]
CMD ["node", "dist/main.js"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.IMMICH_PORT || 2283) + '/api/server/ping').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
