"""Immich's own tool-chain on the patched tree: vitest for every touched service and the new specs,
type checks, and (with PLUGIN_SERVICE_IMMICH_FULL=1) dependency installation and the builds.

Bounded for CI: nothing here runs unless a patched tree with installed dependencies is given
(IMMICH_PATCHED_SRC) or PLUGIN_SERVICE_IMMICH_FULL=1 asks for the full, slow run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.build import FONT
from tests.immich._series import FULL, HOW_TO_FULL, NodeTools, server_specs
from tests.patches.conftest import run_tool as _run

pytestmark = pytest.mark.immich


def test_server_unit_tests_of_touched_services_and_new_specs(patched_tree: Path, tools: NodeTools):
    specs = [spec for spec in server_specs() if (patched_tree / spec).is_file()]
    assert any(spec.endswith("search.hybrid.spec.ts") for spec in specs)
    cmd = ["pnpm", "exec", "vitest", "run", "--config", "test/vitest.config.mjs"]
    result = _run(cmd + [spec.removeprefix("server/") for spec in specs], patched_tree / "server", tools, 900)
    assert " failed" not in result.stdout.split("Test Files", 1)[-1]


def test_server_type_check(patched_tree: Path, tools: NodeTools):
    _run(["pnpm", "exec", "tsc", "--noEmit"], patched_tree / "server", tools, 900)


def test_web_unit_tests_and_svelte_check(patched_tree: Path, tools: NodeTools):
    web = patched_tree / "web"
    if not (web / "node_modules").is_dir():
        pytest.skip(f"{web} has no node_modules; {HOW_TO_FULL}")
    _run(["pnpm", "exec", "svelte-kit", "sync"], web, tools, 300)
    # the new spec, plus Immich's specs of the touched asset service and asset-viewer menu
    specs = [
        "src/lib/utils/zh-search.spec.ts",
        "src/lib/utils/chinese-clip.spec.ts",
        "src/lib/utils/ocr-models.spec.ts",
        "src/lib/components/shared-components/search-bar/SearchBar.spec.ts",
        "src/lib/services/asset.service.spec.ts",
        "src/lib/components/asset-viewer/AssetViewerNavBar.spec.ts",
    ]
    _run(["pnpm", "exec", "vitest", "run", *specs], web, tools, 600)
    _run(["pnpm", "run", "check:typescript"], web, tools, 900)
    _run(["pnpm", "run", "check:svelte"], web, tools, 900)


@pytest.mark.skipif(
    not FULL, reason=f"the server and web builds run only with PLUGIN_SERVICE_IMMICH_FULL=1; {HOW_TO_FULL}"
)
def test_server_and_web_build(patched_tree: Path, tools: NodeTools):
    _run(["pnpm", "--filter", "immich", "build"], patched_tree, tools, 1200)
    assert (patched_tree / "server" / "dist" / "main.js").is_file()
    if not (patched_tree / FONT).is_file():
        pytest.skip(
            f"{patched_tree / FONT} is missing (the blob is absent from some snapshots) "
            "and no .ttf was found to stand in"
        )
    _run(["pnpm", "--filter", "immich-web", "build"], patched_tree, tools, 3600)
    assert (patched_tree / "web" / "build" / "index.html").is_file()
