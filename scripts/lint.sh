#!/usr/bin/env bash
# Static checks CI runs before the tests: ruff (lint + format), mypy, and the import contracts
# that state the layering (pyproject.toml [tool.importlinter]; docs/architecture.md).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --disable-pip-version-check -e ".[dev]"
ruff check plugin_service tests bench
ruff format --check plugin_service tests bench
mypy
lint-imports
