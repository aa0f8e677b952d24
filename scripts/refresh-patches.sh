#!/usr/bin/env bash
# Regenerate patches/immich-server and patches/immich-web from a development branch.
#
#   scripts/refresh-patches.sh DEV_CHECKOUT [BASE]
#
# DEV_CHECKOUT is an Immich git checkout whose branch has one commit per feature on top of BASE
# (default: the v3.1.0 tag). Commits that touch web/ go to the web series, all others (server,
# open-api, the generated SDK, i18n) to the server series; a commit must not mix the two.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_immich.sh"

dev="${1:?usage: refresh-patches.sh DEV_CHECKOUT [BASE]}"
base="${2:-$IMMICH_TAG}"
git -C "$dev" rev-parse --verify -q "$base^{commit}" >/dev/null || die "$dev has no $base"

for commit in $(git -C "$dev" rev-list --reverse "$base..HEAD"); do
  paths="$(git -C "$dev" diff-tree --no-commit-id --name-only -r "$commit")"
  if grep -q '^web/' <<<"$paths" && grep -qv '^web/' <<<"$paths"; then
    die "commit $(git -C "$dev" log -1 --format='%h %s' "$commit") mixes web/ and other paths; split it"
  fi
done

# Stable, reviewable output: no commit hashes in From lines, no version signature.
opts=(--zero-commit --no-signature --no-stat --keep-subject --text)
for series in immich-server immich-web; do
  mkdir -p "$PATCH_ROOT/$series"
  rm -f "$PATCH_ROOT/$series"/[0-9][0-9][0-9][0-9]-*.patch
done
git -C "$dev" format-patch "${opts[@]}" -o "$PATCH_ROOT/immich-server" "$base..HEAD" -- . ':(exclude)web' >/dev/null
git -C "$dev" format-patch "${opts[@]}" -o "$PATCH_ROOT/immich-web" "$base..HEAD" -- web >/dev/null
list_patches | sed "s#^$PATCH_ROOT/#patches/#"
