#!/usr/bin/env bash
# Check that the whole series applies cleanly, in order, to a clean Immich tree, without touching that
# tree: the files the series touches are copied into a scratch directory and the patches are applied
# there with `git apply` (which rejects fuzz). A patch with a `Series-Applies-If-Exists: PATH` trailer is
# skipped (and said so) where PATH is not in the tree.
#
#   scripts/check-patches.sh [IMMICH_DIR]     (default: $IMMICH_SRC, else ../immich)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_immich.sh"

src="$(immich_dir "${1:-}")" || die "no Immich tree (pass a directory or set IMMICH_SRC)"
version="$(immich_version_of "$src")"
[[ "$version" == "$IMMICH_VERSION" ]] || die "$src is Immich '$version', the series targets $IMMICH_VERSION"

mapfile -t patches < <(list_patches_for "$src")
(( ${#patches[@]} > 0 )) || die "no patches found"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

copy_touched_files "$src" "$scratch" forward || die "$src is not a clean Immich $IMMICH_VERSION tree"

failed=0
for patch in "${patches[@]}"; do
  name="${patch#"$REPO_ROOT"/}"
  if (cd "$scratch" && "${GIT_APPLY[@]}" "$patch" 2>"$scratch/.err"); then
    echo "ok    $name"
  else
    echo "FAIL  $name" >&2
    sed 's/^/      /' "$scratch/.err" >&2
    failed=1
  fi
done
while IFS= read -r patch; do
  patch_wanted_in "$patch" "$src" || echo "skip  ${patch#"$REPO_ROOT"/} ($(sed -n 's/^Series-Applies-If-Exists: *//p' "$patch" | head -n1) is not in this tree)"
done < <(list_patches)
if (( failed )) && series_is_applied "$src"; then
  echo "note: $src already has the series applied; check against a clean $IMMICH_TAG tree" >&2
fi
exit "$failed"
