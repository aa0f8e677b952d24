# The zh plugin service: drop-in Immich ML server (POST /predict, GET /ping on port 3003), MT Photos
# AI API and ML gateway. Models live in the /cache volume (downloaded on first use, or pre-seeded).
#
#   docker build -f docker/plugin-service.Dockerfile -t immich-zh-plugin-service .          # CPU
#   docker build -f docker/plugin-service.Dockerfile --build-arg VARIANT=cuda \
#       -t immich-zh-plugin-service:cuda .                                                  # NVIDIA GPU
#
# Two stages: the first builds this project's wheel and installs it with its dependencies into a
# virtual environment; the runtime stage copies only that environment (no pip, no wheels, no build
# tools; torch is never installed: it is only needed to export Chinese-CLIP checkpoints, see docs/clip.md).
# The context is the repository root; .dockerignore keeps it to pyproject.toml, README.md and the packages.
# PYTHON_IMAGE may point at any Debian bookworm image with Python 3.11 (scripts/container-smoke
# builds with a local stand-in because the build machines cannot reach Docker Hub).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# cpu: onnxruntime. cuda: onnxruntime-gpu with the CUDA runtime, cuBLAS, cuFFT, cuRAND and cuDNN
# from NVIDIA's PyPI wheels (CUDA 13 for 1.31.1), so no CUDA base image is needed (the host needs an
# NVIDIA driver and the NVIDIA container toolkit: `docker run --gpus all`). docs/containers.md.
ARG VARIANT=cpu
ARG ONNXRUNTIME_GPU_VERSION=1.31.1
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# binutils for strip (build stage only)
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends binutils; \
    rm -rf /var/lib/apt/lists/*; \
    python3 -m venv /opt/venv
WORKDIR /src
COPY . .
RUN set -eux; \
    /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels .; \
    /opt/venv/bin/pip install --prefer-binary /wheels/*.whl; \
    case "${VARIANT}" in \
      cpu) ;; \
      cuda) /opt/venv/bin/pip uninstall -y onnxruntime; \
            /opt/venv/bin/pip install --prefer-binary "onnxruntime-gpu[cuda,cudnn]==${ONNXRUNTIME_GPU_VERSION}" ;; \
      *) echo "VARIANT must be cpu or cuda, not ${VARIANT}" >&2; exit 1 ;; \
    esac; \
    # NVIDIA's wheels keep their libraries in site-packages/nvidia/**/lib: list them for ldconfig
    find /opt/venv -type d -path '*/site-packages/nvidia/*' -name lib > /opt/venv/nvidia-libs.conf; \
    # the runtime never installs packages: drop pip and setuptools
    /opt/venv/bin/pip uninstall -y pip setuptools wheel 2>/dev/null || true; \
    # size: numpy's test suite, symbols of the extension modules (about 25 MB; not the libraries that
    # auditwheel bundled in *.libs/, which patchelf rewrote and strip breaks, nor NVIDIA's) and byte-code caches
    # (about 65 MB; PYTHONDONTWRITEBYTECODE below, start-up is about 1 s slower)
    find /opt/venv -depth -type d -name tests -path '*/numpy/*' -exec rm -rf {} +; \
    find /opt/venv -type f -name '*.so*' ! -path '*.libs/*' ! -path '*/nvidia/*' -exec strip --strip-unneeded {} +; \
    /opt/venv/bin/python -c "import numpy, cv2, onnxruntime, psycopg, plugin_service.cli; print(onnxruntime.get_available_providers())"; \
    find /opt/venv -type d -name __pycache__ -exec rm -rf {} +

FROM ${PYTHON_IMAGE}
ARG VARIANT=cpu
# onnxruntime and OpenCV use OpenMP (libgomp), which slim Debian images lack
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends libgomp1; \
    rm -rf /var/lib/apt/lists/*; \
    useradd --system --home-dir /cache --uid 1001 --user-group plugin; \
    mkdir -p /cache/models; chown -R plugin:plugin /cache
COPY --from=build /opt/venv /opt/venv
# empty on CPU; on CUDA the dynamic loader finds NVIDIA's libraries for onnxruntime's CUDA provider
RUN if [ -s /opt/venv/nvidia-libs.conf ]; then cp /opt/venv/nvidia-libs.conf /etc/ld.so.conf.d/nvidia-wheels.conf && ldconfig; fi
ENV PATH=/opt/venv/bin:$PATH \
    PLUGIN_SERVICE_HOST=0.0.0.0 \
    PLUGIN_SERVICE_PORT=3003 \
    PLUGIN_SERVICE_MODEL_DIR=/cache/models \
    XDG_CACHE_HOME=/cache \
    HF_HOME=/cache/huggingface \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PLUGIN_SERVICE_IMAGE_VARIANT=${VARIANT}
USER plugin
WORKDIR /cache
VOLUME /cache
EXPOSE 3003
# GET /ping as Immich's own ML image does; Python's urllib instead of curl keeps curl out of the image
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/ping' % os.environ.get('PLUGIN_SERVICE_PORT', '3003'), timeout=2)"]
ENTRYPOINT ["plugin-service"]
CMD ["serve"]
