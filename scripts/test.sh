#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian 12 machine, then run it.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/ocr -x`).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: a CJK font for rendered test images.
source scripts/_apt.sh
ensure_apt_packages fonts-noto-cjk

python3 -m pip install -q --disable-pip-version-check -e ".[dev,torch,e2e]"
exec python3 -m pytest "$@"
