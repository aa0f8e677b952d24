# The zh plugin service: drop-in Immich ML server (POST /predict, GET /ping on port 3003), MT Photos
# AI API and ML gateway. CPU image; models are downloaded into /cache on first use (or pre-seeded).
#
#   docker build -f docker/plugin-service.Dockerfile -t immich-zh-plugin-service .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY plugin_service ./plugin_service
COPY db ./db
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
# opencv-python-headless and onnxruntime need libgomp; curl for the health check
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
 && useradd --system --home /cache --uid 1001 plugin && mkdir -p /cache && chown plugin /cache
USER plugin
ENV PLUGIN_SERVICE_HOST=0.0.0.0 \
    PLUGIN_SERVICE_PORT=3003 \
    PLUGIN_SERVICE_MODEL_DIR=/cache/models \
    XDG_CACHE_HOME=/cache
VOLUME /cache
EXPOSE 3003
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s CMD curl -fsS http://127.0.0.1:3003/ping || exit 1
ENTRYPOINT ["plugin-service"]
CMD ["serve"]
