#!/usr/bin/env bash
# Apply the series to an Immich v3.1.0 checkout (in place).
#
#   scripts/apply-patches.sh [IMMICH_DIR]           apply to IMMICH_DIR ($IMMICH_SRC, else ../immich)
#   scripts/apply-patches.sh --clone [IMMICH_DIR]   clone the v3.1.0 tag there first (needs internet)
#   scripts/apply-patches.sh --server-only [...]    skip the web series
#
# The whole series is checked first (nothing is changed if any patch would fail); a tree that
# already has the series is left alone, so running it twice is harmless. With a git
# checkout, each patch becomes a commit when --commit is given (handy for rebasing the series).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_immich.sh"

clone=0 server_only=0 commit=0 dir=""
for arg in "$@"; do
  case "$arg" in
    --clone) clone=1 ;;
    --server-only) server_only=1 ;;
    --commit) commit=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) dir="$arg" ;;
  esac
done
dir="${dir:-${IMMICH_SRC:-$REPO_ROOT/../immich}}"

if (( clone )) && [[ ! -e "$dir" ]]; then
  git clone --depth 1 --branch "$IMMICH_TAG" "$IMMICH_REPO_URL" "$dir"
  [[ "$(git -C "$dir" rev-parse HEAD)" == "$IMMICH_COMMIT" ]] || die "$IMMICH_TAG is not $IMMICH_COMMIT"
fi
dir="$(immich_dir "$dir")" || die "no Immich tree at $dir (use --clone, pass a directory or set IMMICH_SRC)"
version="$(immich_version_of "$dir")"
[[ "$version" == "$IMMICH_VERSION" ]] || die "$dir is Immich '$version', the series targets $IMMICH_VERSION"

if series_is_applied "$dir"; then
  echo "the series is already applied to $dir"
  exit 0
fi
"$REPO_ROOT/scripts/check-patches.sh" "$dir" >/dev/null || die "the series does not apply to $dir (see scripts/check-patches.sh)"

mapfile -t patches < <(list_patches_for "$dir")
cd "$dir"
for patch in "${patches[@]}"; do
  name="${patch#"$REPO_ROOT"/}"
  if (( server_only )) && [[ "$name" == patches/immich-web/* ]]; then
    continue
  fi
  "${GIT_APPLY[@]}" "$patch"
  if (( commit )); then
    git add -A -- $(sed -n 's#^+++ b/##p' "$patch")
    # the whole message (unfolded subject and body, trailers included), as `git am` would record it
    message="$(mktemp)"
    subject="$(git mailinfo "$message" /dev/null <"$patch" | sed -n 's/^Subject: //p')"
    printf '%s\n\n%s\n' "$subject" "$(cat "$message")" |
      git -c user.name="${GIT_AUTHOR_NAME:-immich-zh-patches}" -c user.email="${GIT_AUTHOR_EMAIL:-immich-zh@localhost}" \
        commit -q -F -
    rm -f "$message"
  fi
  echo "applied  $name"
done
