#!/usr/bin/env bash
# Build the three images of the stack in docker/docker-compose.yml:
#   immich-zh-server      Immich v3.1.0 server with the web inside, from a patched tree
#   immich-zh-plugin-service  this repository (docker/plugin-service.Dockerfile)
#   immich-zh-postgres    PostgreSQL with VectorChord/pgvector and zhparser (db/zhparser)
#
#   scripts/build-images.sh [--clone] [--cuda] [--dry-run] [--skip-immich] [--skip-postgres] [IMMICH_DIR]
#
# IMMICH_DIR ($IMMICH_SRC, else ../immich) gets the series applied first if it lacks it
# (scripts/apply-patches.sh); --clone clones Immich v3.1.0 there first when it does not exist.
# --cuda builds the plugin service's NVIDIA variant (onnxruntime-gpu) as $PLUGIN_SERVICE_IMAGE
# (default immich-zh-plugin-service:cuda). Image names: IMMICH_SERVER_IMAGE, PLUGIN_SERVICE_IMAGE,
# ZH_POSTGRES_IMAGE. Needs docker with buildx (Immich's Dockerfile uses BuildKit features) and
# internet access (Docker Hub, ghcr.io, GitHub, PyPI, npm). docs/containers.md walks through it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_immich.sh"

dry=0 skip_immich=0 skip_postgres=0 clone=0 variant=cpu dir=""
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry=1 ;;
    --skip-immich) skip_immich=1 ;;
    --skip-postgres) skip_postgres=1 ;;
    --clone) clone=1 ;;
    --cuda) variant=cuda ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) dir="$arg" ;;
  esac
done
run() { echo "+ $*"; (( dry )) || "$@"; }

server_image="${IMMICH_SERVER_IMAGE:-immich-zh-server:$IMMICH_TAG}"
if [[ "$variant" == cuda ]]; then
  plugin_image="${PLUGIN_SERVICE_IMAGE:-immich-zh-plugin-service:cuda}"
else
  plugin_image="${PLUGIN_SERVICE_IMAGE:-immich-zh-plugin-service:latest}"
fi
postgres_image="${ZH_POSTGRES_IMAGE:-immich-zh-postgres:latest}"

(( dry )) || command -v docker >/dev/null || die "docker is not installed"

if (( ! skip_immich )); then
  target="${dir:-${IMMICH_SRC:-$REPO_ROOT/../immich}}"
  if (( clone )) && [[ ! -e "$target" ]]; then
    run "$REPO_ROOT/scripts/apply-patches.sh" --clone "$target"
  fi
  if ! src="$(immich_dir "$target")"; then
    (( dry && clone )) || die "no Immich tree at $target (pass a directory, set IMMICH_SRC, or add --clone)"
    src="$target"
  fi
  run "$REPO_ROOT/scripts/apply-patches.sh" "$src"
  # Immich's own Dockerfile builds server, web and plugins with BuildKit; the context is the repository root.
  DOCKER_BUILDKIT=1 run docker build -f "$src/server/Dockerfile" -t "$server_image" "$src"
fi

run docker build -f "$REPO_ROOT/docker/plugin-service.Dockerfile" --build-arg "VARIANT=$variant" -t "$plugin_image" "$REPO_ROOT"

if (( ! skip_postgres )); then
  run docker build -t "$postgres_image" "$REPO_ROOT/db/zhparser"
fi

echo "built: $( (( skip_immich )) || printf '%s ' "$server_image")$plugin_image$( (( skip_postgres )) || printf ' %s' "$postgres_image")"
echo "next:  cp docker/example.env docker/.env   (edit it), then: docker compose -f docker/docker-compose.yml up -d"
