"""What the Immich patch series touches, and where the Immich trees and Node tool-chain are."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests._paths import REPO_ROOT

# server (with open-api, the SDK and i18n), web, and the mobile app's generated Dart client
PATCH_DIRS = tuple(REPO_ROOT / "patches" / name for name in ("immich-server", "immich-web", "immich-mobile"))
SCRIPTS = REPO_ROOT / "scripts"
IMMICH_VERSION = "3.1.0"
FULL = os.environ.get("PLUGIN_SERVICE_IMMICH_FULL") == "1"
HOW_TO_FULL = (
    "set PLUGIN_SERVICE_IMMICH_FULL=1 (installs Immich's dependencies with pnpm and builds; needs Node 24 "
    "and pnpm 11, e.g. IMMICH_NODE_BIN_DIR=/opt/node24/env), or point IMMICH_PATCHED_SRC at a patched "
    "Immich tree whose node_modules are installed"
)


@dataclass(frozen=True)
class Patch:
    path: Path
    subject: str
    old_paths: frozenset[str]  # pre-images (not /dev/null)
    new_paths: frozenset[str]  # post-images (not /dev/null)
    created: frozenset[str]

    @property
    def touched(self) -> frozenset[str]:
        return self.old_paths | self.new_paths


def _parse(path: Path) -> Patch:
    text = path.read_text(encoding="utf-8")
    subject = re.search(r"^Subject: (.*)$", text, re.M)
    old = set(re.findall(r"^--- a/(.+)$", text, re.M))
    new = set(re.findall(r"^\+\+\+ b/(.+)$", text, re.M))
    created = set(re.findall(r"^--- /dev/null\n\+\+\+ b/(.+)$", text, re.M))
    return Patch(path, subject.group(1) if subject else "", frozenset(old), frozenset(new), frozenset(created))


def patches() -> list[Patch]:
    """Server series first, each in file-name order (the order scripts/apply-patches.sh uses)."""
    return [_parse(p) for d in PATCH_DIRS for p in sorted(d.glob("[0-9][0-9][0-9][0-9]-*.patch"))]


def touched_files() -> set[str]:
    return {path for patch in patches() for path in patch.touched}


def immich_version(tree: Path) -> str | None:
    match = re.search(r'^  "version": "(.*)",$', (tree / "server" / "package.json").read_text(), re.M)
    return match.group(1) if match else None


def clean_tree() -> Path | None:
    """A v3.1.0 tree: $IMMICH_SRC, else ../immich beside the repository."""
    tree = Path(os.environ.get("IMMICH_SRC") or REPO_ROOT.parent / "immich")
    return tree.resolve() if (tree / "server" / "package.json").is_file() else None


def series_is_applied(tree: Path) -> bool:
    script = f'source "{SCRIPTS}/_immich.sh"; series_is_applied "{tree}"'
    return subprocess.run(["bash", "-c", script], capture_output=True).returncode == 0


@dataclass(frozen=True)
class NodeTools:
    env: dict[str, str]
    node_version: str
    pnpm_version: str


def node_tools(bin_dir: str | None = None) -> NodeTools | str:
    """Node >= 24 and pnpm >= 10 from `bin_dir`, $IMMICH_NODE_BIN_DIR or PATH, or the reason they are unusable."""
    env = dict(os.environ)
    bin_dir = bin_dir or os.environ.get("IMMICH_NODE_BIN_DIR")
    if bin_dir:
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    node = shutil.which("node", path=env["PATH"])
    pnpm = shutil.which("pnpm", path=env["PATH"])
    if not node or not pnpm:
        return "node and pnpm not found (set IMMICH_NODE_BIN_DIR to a directory holding Node 24 and pnpm 11)"
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True, env=env).stdout.strip()
    pnpm_version = subprocess.run([pnpm, "--version"], capture_output=True, text=True, env=env).stdout.strip()
    if not node_version.startswith("v") or int(node_version[1:].split(".")[0]) < 24:
        return f"Immich v3.1.0 needs Node 24, found {node_version or 'none'} (set IMMICH_NODE_BIN_DIR)"
    if not pnpm_version or int(pnpm_version.split(".")[0]) < 10:
        return f"Immich v3.1.0 needs pnpm >= 10, found {pnpm_version or 'none'}"
    env["CI"] = "1"  # no interactive pnpm prompts
    return NodeTools(env, node_version, pnpm_version)


def server_specs() -> list[str]:
    """Server specs for the series: the new ones and the existing specs of every touched source file."""
    touched = touched_files()
    specs = {p for p in touched if p.startswith("server/src/") and p.endswith(".spec.ts")}
    for path in touched:
        if path.startswith("server/src/") and path.endswith(".ts") and not path.endswith(".spec.ts"):
            specs.add(path[: -len(".ts")] + ".spec.ts")
    return sorted(specs)
