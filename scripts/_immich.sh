# Shared helpers for the Immich patch scripts (sourced, not executed).
# The series targets exactly one Immich release; bump these together with a rebase of the series.
IMMICH_VERSION="3.1.0"
IMMICH_TAG="v3.1.0"
IMMICH_COMMIT="8aa95c67470a02a8ddedf03c2e52963af33065ff"
IMMICH_REPO_URL="${IMMICH_REPO_URL:-https://github.com/immich-app/immich.git}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# IMMICH_PATCH_ROOT lets tests work on a scratch copy of the series.
PATCH_ROOT="${IMMICH_PATCH_ROOT:-$REPO_ROOT/patches}"
# server (with open-api, the SDK and i18n), web, and the mobile app's generated Dart client
PATCH_DIRS=("$PATCH_ROOT/immich-server" "$PATCH_ROOT/immich-web" "$PATCH_ROOT/immich-mobile")

die() { echo "error: $*" >&2; exit 1; }

# The Immich checkout: first argument, else $IMMICH_SRC, else ../immich beside the repository.
immich_dir() {
  local dir="${1:-${IMMICH_SRC:-$REPO_ROOT/../immich}}"
  [[ -d "$dir" ]] || return 1
  (cd "$dir" && pwd)
}

# All patches, server series first, then web, then mobile, each series in file-name order.
list_patches() {
  local d
  for d in "${PATCH_DIRS[@]}"; do
    [[ -d "$d" ]] && find "$d" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' | sort
  done
  return 0
}

# A patch whose message has the trailer `Series-Applies-If-Exists: PATH` applies only to trees that
# have PATH (e.g. the committed Dart client, which newer Immich generates at build time instead).
patch_wanted_in() {
  local patch="$1" tree="$2" path
  path="$(sed -n 's/^Series-Applies-If-Exists: *//p' "$patch" | head -n1)"
  [[ -z "$path" || -e "$tree/$path" ]]
}

# The patches that apply to tree $1 (all of them, less those whose trailer names a path it lacks).
list_patches_for() {
  local patch
  while IFS= read -r patch; do
    patch_wanted_in "$patch" "$1" && echo "$patch"
  done < <(list_patches)
  return 0
}

# Generated files (the Dart client) end with blank lines; everything else is checked by Immich's prettier.
GIT_APPLY=(git apply --whitespace=nowarn)

immich_version_of() {
  sed -n 's/^  "version": "\(.*\)",$/\1/p' "$1/server/package.json" 2>/dev/null | head -n1
}

# Copy the files the series touches from tree $1 into scratch directory $2.
#   forward: the pre-images (files created by a patch are not expected in the tree);
#   reverse: the post-images, to test whether the series is already applied.
copy_touched_files() {
  local src="$1" scratch="$2" direction="${3:-forward}" patch path
  local -a patches
  mapfile -t patches < <(list_patches_for "$src")
  local created
  created="$(for patch in "${patches[@]}"; do
    awk '/^--- \/dev\/null$/ { getline; sub(/^\+\+\+ b\//, ""); print }' "$patch"
  done | sort -u)"
  for patch in "${patches[@]}"; do
    if [[ "$direction" == forward ]]; then sed -n 's#^--- a/##p' "$patch"; else sed -n 's#^+++ b/##p' "$patch"; fi
  done | sort -u | while IFS= read -r path; do
    if [[ "$direction" == forward ]] && grep -qxF "$path" <<<"$created"; then
      continue
    fi
    [[ -f "$src/$path" ]] || { echo "missing: $path" >&2; return 1; }
    mkdir -p "$scratch/$(dirname "$path")"
    cp "$src/$path" "$scratch/$path"
  done
}

# True when the whole series is already applied to tree $1 (it reverse-applies, last patch first).
series_is_applied() {
  local src="$1" scratch patch ok=0
  scratch="$(mktemp -d)"
  if copy_touched_files "$src" "$scratch" reverse 2>/dev/null; then
    ok=1
    while IFS= read -r patch; do
      (cd "$scratch" && "${GIT_APPLY[@]}" --reverse "$patch" 2>/dev/null) || { ok=0; break; }
    done < <(list_patches_for "$src" | tac)
  fi
  rm -rf "$scratch"
  (( ok ))
}
