"""Immich's own tool-chain on the patched tree: vitest for every touched service and the new specs,
type checks, and (with PLUGIN_SERVICE_IMMICH_FULL=1) dependency installation and the builds.

Bounded for CI: nothing here runs unless a patched tree with installed dependencies is given
(IMMICH_PATCHED_SRC) or PLUGIN_SERVICE_IMMICH_FULL=1 asks for the full, slow run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.immich._series import (
    FULL,
    HOW_TO_FULL,
    IMMICH_VERSION,
    SCRIPTS,
    NodeTools,
    clean_tree,
    immich_version,
    node_tools,
    series_is_applied,
    server_specs,
)

pytestmark = pytest.mark.immich


def _run(cmd: list[str], cwd: Path, tools: NodeTools, timeout: int) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, env=tools.env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(cmd)} failed in {cwd}:\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def tools() -> NodeTools:
    found = node_tools()
    if isinstance(found, str):
        pytest.skip(f"{found}; {HOW_TO_FULL}")
    return found


def _prepare_full_tree(tools: NodeTools, workdir: Path) -> Path:
    """Copy the clean tree (without build outputs), apply the series, install the server and web deps."""
    src = clean_tree()
    if src is None or immich_version(src) != IMMICH_VERSION or series_is_applied(src):
        pytest.skip("PLUGIN_SERVICE_IMMICH_FULL=1 needs a clean v3.1.0 tree in IMMICH_SRC or ../immich")
    tree = workdir / "immich"
    shutil.copytree(src, tree, symlinks=True, ignore=shutil.ignore_patterns("node_modules", "dist", "build", ".svelte-kit"))
    _run(["bash", str(SCRIPTS / "apply-patches.sh"), str(tree)], tree, tools, 120)
    _placeholder_font(tree)
    _run(["pnpm", "--filter", "immich...", "--filter", "immich-web...", "install", "--frozen-lockfile"], tree, tools, 1800)
    return tree


FONT = Path("web/src/lib/assets/fonts/GoogleSans/GoogleSans.ttf")


def _placeholder_font(tree: Path) -> None:
    """Some snapshots of the Immich repository lack this font blob; the web build only needs a TTF there."""
    if (tree / FONT).is_file():
        return
    candidates = sorted(Path("/usr/share/fonts").rglob("*.ttf")) if Path("/usr/share/fonts").is_dir() else []
    if candidates:
        (tree / FONT).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(candidates[0], tree / FONT)


@pytest.fixture(scope="module")
def patched_tree(tools: NodeTools, tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("IMMICH_PATCHED_SRC")
    if given:
        tree = Path(given).resolve()
        if not (tree / "server" / "node_modules").is_dir():
            pytest.skip(f"IMMICH_PATCHED_SRC={tree} has no server/node_modules; {HOW_TO_FULL}")
        if not series_is_applied(tree):
            pytest.skip(f"IMMICH_PATCHED_SRC={tree} does not have the series applied (scripts/apply-patches.sh)")
    elif (src := clean_tree()) and series_is_applied(src) and (src / "server" / "node_modules").is_dir():
        tree = src  # ../immich (or IMMICH_SRC) is already patched and installed
    elif FULL:
        tree = _prepare_full_tree(tools, tmp_path_factory.mktemp("immich-full"))
    else:
        pytest.skip(f"expensive Immich checks are off; {HOW_TO_FULL}")

    # Workspace packages the server and web import from their build output.
    for package in ("packages/sdk", "packages/plugin-sdk"):
        if FULL or not any((tree / package / out).is_dir() for out in ("build", "dist")):
            _run(["pnpm", "--filter", f"./{package}", "build"], tree, tools, 600)
    return tree


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
    specs = ["src/lib/utils/zh-search.spec.ts", "src/lib/services/asset.service.spec.ts",
             "src/lib/components/asset-viewer/AssetViewerNavBar.spec.ts"]
    _run(["pnpm", "exec", "vitest", "run", *specs], web, tools, 600)
    _run(["pnpm", "run", "check:typescript"], web, tools, 900)
    _run(["pnpm", "run", "check:svelte"], web, tools, 900)


@pytest.mark.skipif(not FULL, reason=f"the server and web builds run only with PLUGIN_SERVICE_IMMICH_FULL=1; {HOW_TO_FULL}")
def test_server_and_web_build(patched_tree: Path, tools: NodeTools):
    _run(["pnpm", "--filter", "immich", "build"], patched_tree, tools, 1200)
    assert (patched_tree / "server" / "dist" / "main.js").is_file()
    if not (patched_tree / FONT).is_file():
        pytest.skip(f"{patched_tree / FONT} is missing (the blob is absent from some snapshots) and no .ttf was found to stand in")
    _run(["pnpm", "--filter", "immich-web", "build"], patched_tree, tools, 3600)
    assert (patched_tree / "web" / "build" / "index.html").is_file()
