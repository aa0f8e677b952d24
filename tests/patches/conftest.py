"""Shared fixtures of the Immich checks: the Node tool-chain and a patched tree with dependencies."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.build import placeholder_font
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
)


def run_tool(cmd: list[str], cwd: Path, tools: NodeTools, timeout: int) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, env=tools.env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(cmd)} failed in {cwd}:\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="session")
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
    shutil.copytree(
        src, tree, symlinks=True, ignore=shutil.ignore_patterns("node_modules", "dist", "build", ".svelte-kit")
    )
    run_tool(["bash", str(SCRIPTS / "apply-patches.sh"), str(tree)], tree, tools, 120)
    placeholder_font(tree)
    run_tool(
        ["pnpm", "--filter", "immich...", "--filter", "immich-web...", "install", "--frozen-lockfile"],
        tree,
        tools,
        1800,
    )
    return tree


@pytest.fixture(scope="session")
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
            run_tool(["pnpm", "--filter", f"./{package}", "build"], tree, tools, 600)
    return tree
