"""The end-to-end run (tests/e2e/run.py) as a test: a real, patched Immich v3.1.0 built from the
clean tree in IMMICH_SRC or ../immich, talking to the plugin service. About 3 minutes on 2 cores
once built; the first run builds Immich (a few minutes more, needs the npm registry). The second
user owns 60 photos here (PLUGIN_SERVICE_E2E_BULK=N changes it; `scripts/e2e` uses 300, ~7 minutes
more of ingest), enough for every multi-user check, to keep the suite's time reasonable.

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
TEST_BULK = 60


@pytest.mark.timeout(3600)
def test_immich_with_the_plugin_service_end_to_end():
    if os.environ.get("PLUGIN_SERVICE_E2E") == "0":
        pytest.skip("PLUGIN_SERVICE_E2E=0")
    clean = clean_tree()
    reason = missing_prerequisites(clean)
    if reason or clean is None:
        pytest.skip(f"end-to-end run with the real Immich: {reason}")
    if browser_missing():
        pytest.skip(
            f"end-to-end run needs the browser for its UI walk: {browser_missing()} (or run scripts/e2e --no-ui)"
        )
    bulk = int(os.environ.get("PLUGIN_SERVICE_E2E_BULK") or TEST_BULK)
    report = run_e2e(clean, default_work_dir(), bulk=bulk)
    print(report.markdown())
    assert report.ok, report.markdown()
