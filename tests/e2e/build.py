"""Build phase of the end-to-end run: Node 24 + pnpm 11, a patched copy of the clean Immich tree,
its dependencies, and the server and web builds.

The clean tree ($IMMICH_SRC or ../immich) is never modified: the series is applied to a copy in
the work directory. A finished build is stamped with the series fingerprint and reused by later
runs until a patch changes (then everything is rebuilt from the clean tree)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.immich._series import IMMICH_VERSION, PATCH_DIRS, SCRIPTS, NodeTools, immich_version, node_tools

# What Immich v3.1.0 declares: Node 24 (.nvmrc / mise) and exactly the pnpm of its package.json
# "packageManager" (another pnpm tries to switch to that one and verify its registry signature).
NODE_SPEC = "node@24"
PNPM_SPEC = "pnpm@11.13.1"
FONT = Path("web/src/lib/assets/fonts/GoogleSans/GoogleSans.ttf")
PLACEHOLDER_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)


class BuildError(RuntimeError):
    pass


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int, log: Path) -> None:
    """Run one build step, its output appended to `log`; a failure raises with the output's tail."""
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}   (in {cwd})\n")
        out.flush()
        result = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-6000:]
        raise BuildError(f"{' '.join(cmd)} failed (exit {result.returncode}) in {cwd}:\n{tail}")


def ensure_node_tools(prefix: Path, log: Path) -> NodeTools:
    """Node 24 and pnpm 11 from IMMICH_NODE_BIN_DIR / PATH, else installed from the npm registry
    into `prefix` (the `node` package pulls the platform binary as an npm package, no download site)."""
    found = node_tools()
    if isinstance(found, NodeTools) and found.pnpm_version == PNPM_SPEC.split("@")[1]:
        return found
    bin_dir = prefix / "node_modules" / ".bin"
    if not (bin_dir / "node").exists() or not _installed(prefix, PNPM_SPEC):
        npm = shutil.which("npm")
        if npm is None:
            raise BuildError(f"{found}; and npm is missing, so Node 24 cannot be installed (apt-get install npm)")
        prefix.mkdir(parents=True, exist_ok=True)
        run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", NODE_SPEC, PNPM_SPEC],
            prefix,
            dict(os.environ),
            600,
            log,
        )
    found = node_tools(str(bin_dir))
    if isinstance(found, str):
        raise BuildError(f"after installing {NODE_SPEC} and {PNPM_SPEC} into {prefix}: {found}")
    return found


def _installed(prefix: Path, spec: str) -> bool:
    name, version = spec.split("@")
    manifest = prefix / "node_modules" / name / "package.json"
    return manifest.is_file() and f'"version": "{version}"' in manifest.read_text()


def series_fingerprint() -> str:
    digest = hashlib.sha256()
    for directory in PATCH_DIRS:
        for patch in sorted(directory.glob("[0-9][0-9][0-9][0-9]-*.patch")):
            digest.update(patch.name.encode() + b"\0" + patch.read_bytes())
    return digest.hexdigest()[:16]


def built_tree(clean: Path, work: Path, tools: NodeTools, log: Path, timings: dict[str, float]) -> Path:
    """A patched, installed and built copy of `clean` under `work`; `timings` gets each step's seconds."""
    if immich_version(clean) != IMMICH_VERSION:
        raise BuildError(f"{clean} is Immich {immich_version(clean)}, the series targets {IMMICH_VERSION}")
    tree = work / "immich"
    stamp = tree / ".plugin-service-e2e"
    wanted = series_fingerprint()
    if stamp.is_file() and stamp.read_text().strip() == wanted:
        timings["build (cached)"] = 0.0
        return tree

    def step(name: str, cmd: list[str], timeout: int) -> None:
        started = time.monotonic()
        run(cmd, tree, tools.env, timeout, log)
        timings[name] = round(time.monotonic() - started, 1)

    started = time.monotonic()
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(
        clean,
        tree,
        symlinks=True,
        ignore=shutil.ignore_patterns("node_modules", "dist", "build", ".svelte-kit", "mobile"),
    )
    timings["copy clean tree"] = round(time.monotonic() - started, 1)
    step("apply patch series", ["bash", str(SCRIPTS / "apply-patches.sh"), str(tree)], 120)
    placeholder_font(tree)
    step(
        "pnpm install",
        ["pnpm", "--filter", "immich...", "--filter", "immich-web...", "install", "--frozen-lockfile"],
        1800,
    )
    step(
        "build sdk packages", ["pnpm", "--filter", "./packages/sdk", "--filter", "./packages/plugin-sdk", "build"], 600
    )
    step("build server", ["pnpm", "--filter", "immich", "build"], 1200)
    step("build web", ["pnpm", "--filter", "immich-web", "build"], 1800)
    stamp.write_text(wanted + "\n")
    return tree


def placeholder_font(tree: Path) -> None:
    """The repository snapshot lacks the GoogleSans blob; the web build only needs some font file there."""
    if (tree / FONT).is_file():
        return
    source = next((font for font in PLACEHOLDER_FONTS if font.is_file()), None)
    if source is None:
        raise BuildError(f"{FONT} is missing and no placeholder font is installed (apt-get install fonts-noto-cjk)")
    (tree / FONT).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, tree / FONT)
