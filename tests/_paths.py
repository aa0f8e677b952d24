"""Where the shared test data lives: ``shared/`` beside the repository checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PLUGIN_SERVICE_SHARED", REPO_ROOT.parent / "shared")).resolve()
DATA = SHARED / "data"
CONTRACT = SHARED / "immich-contract"


def require_shared() -> Path:
    """Skip (with the reason) when the shared data folder is not beside the checkout."""
    if not DATA.is_dir():
        pytest.skip(f"shared test data not found at {DATA} (set PLUGIN_SERVICE_SHARED)")
    return DATA
