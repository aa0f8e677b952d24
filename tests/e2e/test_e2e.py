"""The end-to-end run (tests/e2e/run.py) as a test: a real, patched Immich v3.1.0 built from the
clean tree in IMMICH_SRC or ../immich, talking to the plugin service. About 1 minute once built;
the first run builds Immich (a few minutes, needs the npm registry).

Skipped, with the reason, when there is no Immich tree or a service it needs is missing, and when
PLUGIN_SERVICE_E2E=0. The report and screenshots land in ../immich-e2e/artefacts
(PLUGIN_SERVICE_E2E_WORK moves it)."""

from __future__ import annotations

import os

import pytest

from tests.e2e.run import default_work_dir, missing_prerequisites, run_e2e
from tests.e2e.ui import browser_missing
from tests.immich._series import clean_tree

pytestmark = [pytest.mark.immich, pytest.mark.slow]


@pytest.mark.timeout(3600)
def test_immich_with_the_plugin_service_end_to_end():
    if os.environ.get("PLUGIN_SERVICE_E2E") == "0":
        pytest.skip("PLUGIN_SERVICE_E2E=0")
    clean = clean_tree()
    reason = missing_prerequisites(clean)
    if reason:
        pytest.skip(f"end-to-end run with the real Immich: {reason}")
    if browser_missing():
        pytest.skip(f"end-to-end run needs the browser for its UI walk: {browser_missing()} (or run scripts/e2e --no-ui)")
    report = run_e2e(clean, default_work_dir())
    print(report.markdown())
    assert report.ok, report.markdown()
