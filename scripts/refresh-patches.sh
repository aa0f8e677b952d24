#!/usr/bin/env bash
# Regenerate patches/immich-server, patches/immich-web and patches/immich-mobile from a development branch.
#
#   scripts/refresh-patches.sh DEV_CHECKOUT [BASE]
#
# DEV_CHECKOUT is an Immich git checkout whose branch has one commit per feature on top of BASE
# (default: the v3.1.0 tag). Commits that touch web/ go to the web series, commits that touch mobile/
# (the generated Dart client, which newer Immich no longer commits) to the mobile series, all others
# (server, open-api, the generated SDK, i18n) to the server series; a commit must not mix them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_immich.sh"

dev="${1:?usage: refresh-patches.sh DEV_CHECKOUT [BASE]}"
base="${2:-$IMMICH_TAG}"
git -C "$dev" rev-parse --verify -q "$base^{commit}" >/dev/null || die "$dev has no $base"

for commit in $(git -C "$dev" rev-list --reverse "$base..HEAD"); do
  paths="$(git -C "$dev" diff-tree --no-commit-id --name-only -r "$commit")"
  for part in web mobile; do
    if grep -q "^$part/" <<<"$paths" && grep -qv "^$part/" <<<"$paths"; then
      die "commit $(git -C "$dev" log -1 --format='%h %s' "$commit") mixes $part/ and other paths; split it"
    fi
  done
done

# Stable, reviewable output: no commit hashes in From lines, no version signature.
opts=(--zero-commit --no-signature --no-stat --keep-subject --text)
for series in immich-server immich-web immich-mobile; do
  mkdir -p "$PATCH_ROOT/$series"
  rm -f "$PATCH_ROOT/$series"/[0-9][0-9][0-9][0-9]-*.patch
done
git -C "$dev" format-patch "${opts[@]}" -o "$PATCH_ROOT/immich-server" "$base..HEAD" -- . ':(exclude)web' ':(exclude)mobile' >/dev/null
git -C "$dev" format-patch "${opts[@]}" -o "$PATCH_ROOT/immich-web" "$base..HEAD" -- web >/dev/null
git -C "$dev" format-patch "${opts[@]}" -o "$PATCH_ROOT/immich-mobile" "$base..HEAD" -- mobile >/dev/null
list_patches | sed "s#^$PATCH_ROOT/#patches/#"
