#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian 12 machine, then run it.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/ocr -x`).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: a CJK font for rendered test images.
APT_PACKAGES=(fonts-noto-cjk)
if command -v dpkg >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

python3 -m pip install -q --disable-pip-version-check -e ".[dev,torch]"
exec python3 -m pytest "$@"
