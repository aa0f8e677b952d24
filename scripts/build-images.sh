#!/usr/bin/env bash
# Build the three images of the stack in docker/docker-compose.yml:
#   immich-zh-server      Immich v3.1.0 server with the web inside, from a patched tree
#   immich-zh-plugin-service  this repository (docker/plugin-service.Dockerfile)
#   immich-zh-postgres    PostgreSQL with VectorChord/pgvector and zhparser (db/zhparser)
#
#   scripts/build-images.sh [--dry-run] [--skip-immich] [IMMICH_DIR]
#
# IMMICH_DIR ($IMMICH_SRC, else ../immich) gets the series applied first if it lacks it
# (scripts/apply-patches.sh). Image names: IMMICH_SERVER_IMAGE, PLUGIN_SERVICE_IMAGE,
# ZH_POSTGRES_IMAGE. Needs docker with buildx (Immich's Dockerfile uses BuildKit features).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_immich.sh"

dry=0 skip_immich=0 dir=""
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry=1 ;;
    --skip-immich) skip_immich=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) dir="$arg" ;;
  esac
done
run() { echo "+ $*"; (( dry )) || "$@"; }

server_image="${IMMICH_SERVER_IMAGE:-immich-zh-server:$IMMICH_TAG}"
plugin_image="${PLUGIN_SERVICE_IMAGE:-immich-zh-plugin-service:latest}"
postgres_image="${ZH_POSTGRES_IMAGE:-immich-zh-postgres:latest}"

(( dry )) || command -v docker >/dev/null || die "docker is not installed"

if (( ! skip_immich )); then
  src="$(immich_dir "$dir")" || die "no Immich tree (pass a directory, set IMMICH_SRC, or use scripts/apply-patches.sh --clone)"
  run "$REPO_ROOT/scripts/apply-patches.sh" "$src"
  # Immich's own Dockerfile builds server, web and plugins; the context is the repository root.
  run docker build -f "$src/server/Dockerfile" -t "$server_image" "$src"
fi

run docker build -f "$REPO_ROOT/docker/plugin-service.Dockerfile" -t "$plugin_image" "$REPO_ROOT"

if [[ -f "$REPO_ROOT/db/zhparser/Dockerfile" ]]; then
  run docker build -t "$postgres_image" "$REPO_ROOT/db/zhparser"
else
  echo "warning: db/zhparser/Dockerfile not found; $postgres_image not built" >&2
fi
