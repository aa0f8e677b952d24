"""The Immich v3.1.0 patch series: its shape (always), that it applies (with a v3.1.0 tree, and with the newer
upstream tree ../immich-next when present), and the scripts that carry it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests._paths import REPO_ROOT
from tests.immich._series import (
    IMMICH_VERSION,
    PATCH_DIRS,
    SCRIPTS,
    clean_tree,
    immich_version,
    patches,
    series_is_applied,
    touched_files,
)

pytestmark = pytest.mark.immich


def test_series_is_numbered_with_one_feature_per_patch():
    for directory in PATCH_DIRS:
        names = sorted(p.name for p in directory.glob("*.patch"))
        assert names, f"no patches in {directory}"
        assert [name[:4] for name in names] == [f"{i:04d}" for i in range(1, len(names) + 1)]
    for patch in patches():
        text = patch.path.read_text(encoding="utf-8")
        assert text.startswith("From "), f"{patch.path.name} is not git format-patch output"
        assert re.match(r"(feat\((server|web|i18n)\)|build\(generated\)): \S", patch.subject), patch.path.name
        # a message body that explains the change, not just a subject
        body = text.split("\n\n", 1)[1].split("\ndiff --git", 1)[0]
        assert len(body.strip()) > 80, f"{patch.path.name} has no explanatory message"
        assert patch.path.stat().st_size < 1_000_000


def test_server_web_and_mobile_series_are_separate():
    for patch in patches():
        web = {path for path in patch.touched if path.startswith("web/")}
        mobile = {path for path in patch.touched if path.startswith("mobile/")}
        if patch.path.parent.name == "immich-web":
            assert web == patch.touched, f"{patch.path.name} touches more than web/"
        elif patch.path.parent.name == "immich-mobile":
            assert mobile == patch.touched, f"{patch.path.name} touches more than mobile/"
        else:
            assert not web and not mobile, f"{patch.path.name} touches web/ or mobile/"
            assert all(p.split("/")[0] in {"server", "open-api", "packages", "i18n"} for p in patch.touched)


def test_generated_files_are_patches_of_their_own():
    """Generated files are regenerated on a rebase, not merged: only the build(generated) patches touch them."""
    generated = ("open-api/", "packages/sdk/src/fetch-client.ts", "mobile/openapi/", "server/src/queries/")
    for patch in patches():
        touches_generated = {path for path in patch.touched if path.startswith(generated)}
        if patch.subject.startswith("build(generated)"):
            assert touches_generated == patch.touched, f"{patch.path.name} mixes hand-written files in"
        else:
            assert not touches_generated, f"{patch.path.name} edits generated files: {sorted(touches_generated)}"


def test_docs_list_every_upstream_file_the_series_touches():
    doc = (REPO_ROOT / "docs" / "immich-patches.md").read_text(encoding="utf-8")
    missing = sorted(path for path in touched_files() if f"`{path}`" not in doc)
    assert not missing, f"docs/immich-patches.md does not mention: {missing}"


def test_scripts_are_valid_bash():
    for script in sorted(SCRIPTS.glob("*.sh")):
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script.name}: {result.stderr}"


@pytest.fixture(scope="module")
def immich_tree() -> Path:
    tree = clean_tree()
    if tree is None:
        pytest.skip("no Immich v3.1.0 tree: set IMMICH_SRC or put a checkout at ../immich beside the repository")
    if immich_version(tree) != IMMICH_VERSION:
        pytest.skip(f"{tree} is Immich {immich_version(tree)}, the series targets {IMMICH_VERSION}")
    return tree


def test_series_applies_cleanly_to_v3_1_0(immich_tree: Path):
    if series_is_applied(immich_tree):
        pytest.skip(f"{immich_tree} already has the series applied; point IMMICH_SRC at a clean v3.1.0 tree")
    result = subprocess.run(
        ["bash", str(SCRIPTS / "check-patches.sh"), str(immich_tree)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("\nok ") + result.stdout.startswith("ok ") == len(patches())


def test_each_patch_also_applies_on_its_own(immich_tree: Path):
    """Features stay separable: a patch that touches no file an earlier patch touched applies to the clean
    tree on its own (the others extend an earlier feature; all of them build only in order)."""
    if series_is_applied(immich_tree):
        pytest.skip(f"{immich_tree} already has the series applied; point IMMICH_SRC at a clean v3.1.0 tree")
    seen: set[str] = set()
    for patch in patches():
        if not patch.touched & seen:
            result = subprocess.run(
                ["git", "apply", "--check", "--whitespace=nowarn", str(patch.path)],
                cwd=immich_tree,
                capture_output=True,
                text=True,
            )
            assert result.returncode == 0, f"{patch.path.name}: {result.stderr}"
        seen |= patch.touched


def test_series_applies_to_the_newer_upstream_tree():
    """Rebase-readiness: the same series applies to upstream main (../immich-next or IMMICH_NEXT_SRC); a patch
    with a `Series-Applies-If-Exists` trailer is skipped there when its path is missing (the Dart client)."""
    tree = Path(os.environ.get("IMMICH_NEXT_SRC") or REPO_ROOT.parent / "immich-next")
    if not (tree / "server" / "package.json").is_file():
        pytest.skip(f"no newer upstream tree at {tree} (set IMMICH_NEXT_SRC)")
    if series_is_applied(tree):
        pytest.skip(f"{tree} already has the series applied")
    result = subprocess.run(
        ["bash", str(SCRIPTS / "check-patches.sh"), str(tree)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout + result.stderr


def test_apply_script_applies_once_and_is_idempotent(immich_tree: Path, tmp_path: Path):
    if series_is_applied(immich_tree):
        pytest.skip(f"{immich_tree} already has the series applied; point IMMICH_SRC at a clean v3.1.0 tree")
    # A scratch tree with just the files the series touches (and the version file the script checks).
    created = {path for patch in patches() for path in patch.created}
    for path in (touched_files() - created) | {"server/package.json"}:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(immich_tree / path, tmp_path / path)

    first = subprocess.run(["bash", str(SCRIPTS / "apply-patches.sh"), str(tmp_path)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("applied ") == len(patches())
    assert "'PP-OCRv6_small'" in (tmp_path / "server/src/config.ts").read_text()
    constants = (tmp_path / "server/src/constants.ts").read_text()
    assert "'chinese-clip-vit-base-patch16': { dimSize: 512 }" in constants

    again = subprocess.run(["bash", str(SCRIPTS / "apply-patches.sh"), str(tmp_path)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "already applied" in again.stdout

    # every string the web patches use exists in English, Simplified and Traditional Chinese
    used = {
        key
        for patch in patches()
        if patch.path.parent.name == "immich-web"
        for line in patch.path.read_text(encoding="utf-8").splitlines()
        if line.startswith("+")
        for key in re.findall(r"(?:\$t\(|description: )'([a-z0-9_.]+)'", line)
    }
    assert {"regenerate_ocr", "admin.machine_learning_ocr_model_pp_ocrv6_small"} <= used
    for language in ("en", "zh_Hans", "zh_Hant"):
        strings = json.loads((tmp_path / "i18n" / f"{language}.json").read_text(encoding="utf-8"))
        missing = [key for key in sorted(used) if _lookup(strings, key) is None]
        assert not missing, f"{language}.json lacks {missing}"


def _lookup(strings: dict, key: str):
    for part in key.split("."):
        if not isinstance(strings, dict) or part not in strings:
            return None
        strings = strings[part]
    return strings


def _git(repo: Path, *args: str) -> str:
    env_args = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    return subprocess.run(["git", *env_args, "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def test_refresh_splits_commits_into_server_and_web_series(tmp_path: Path):
    dev, out = tmp_path / "dev", tmp_path / "patches"
    (dev / "server").mkdir(parents=True)
    (dev / "web").mkdir()
    (dev / "server" / "a.ts").write_text("a\n")
    (dev / "web" / "b.svelte").write_text("b\n")
    _git(tmp_path, "init", "-q", str(dev))
    _git(dev, "add", "-A")
    _git(dev, "commit", "-qm", "base")
    _git(dev, "tag", "v3.1.0")
    (dev / "server" / "a.ts").write_text("a\nserver feature\n")
    _git(dev, "commit", "-qam", "feat(server): one")
    (dev / "web" / "b.svelte").write_text("b\nweb feature\n")
    _git(dev, "commit", "-qam", "feat(web): two")
    (dev / "i18n").mkdir()
    (dev / "i18n" / "en.json").write_text("{}\n")
    _git(dev, "add", "-A")
    _git(dev, "commit", "-qm", "feat(i18n): three")

    env = {**os.environ, "IMMICH_PATCH_ROOT": str(out)}
    result = subprocess.run(
        ["bash", str(SCRIPTS / "refresh-patches.sh"), str(dev)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    server = sorted(p.name for p in (out / "immich-server").iterdir())
    web = sorted(p.name for p in (out / "immich-web").iterdir())
    assert server == ["0001-feat-server-one.patch", "0002-feat-i18n-three.patch"]
    assert web == ["0001-feat-web-two.patch"]
    assert list((out / "immich-mobile").iterdir()) == []
    text = (out / "immich-server" / server[0]).read_text()
    assert text.startswith("From 0000000000000000000000000000000000000000 ") and "Subject: feat(server): one" in text

    (dev / "server" / "a.ts").write_text("a\nmixed\n")
    (dev / "web" / "b.svelte").write_text("b\nmixed\n")
    _git(dev, "commit", "-qam", "feat: mixed")
    mixed = subprocess.run(
        ["bash", str(SCRIPTS / "refresh-patches.sh"), str(dev)], env=env, capture_output=True, text=True
    )
    assert mixed.returncode != 0 and "mixes web/" in mixed.stderr


def test_a_patch_is_skipped_where_its_required_path_is_missing(tmp_path: Path):
    """`Series-Applies-If-Exists: PATH` (the committed Dart client of v3.1.0) keeps the series applicable to
    trees that generate that path at build time instead."""
    dev = tmp_path / "dev"
    (dev / "server").mkdir(parents=True)
    (dev / "mobile" / "openapi").mkdir(parents=True)
    (dev / "server" / "package.json").write_text(f'{{\n  "version": "{IMMICH_VERSION}",\n}}\n')
    (dev / "server" / "a.ts").write_text("a\n")
    (dev / "mobile" / "openapi" / "api.dart").write_text("api\n")
    _git(tmp_path, "init", "-q", str(dev))
    _git(dev, "add", "-A")
    _git(dev, "commit", "-qm", "base")
    _git(dev, "tag", "v3.1.0")
    (dev / "server" / "a.ts").write_text("a\nfeature\n")
    _git(dev, "commit", "-qam", "feat(server): feature")
    (dev / "mobile" / "openapi" / "api.dart").write_text("api\ngenerated\n")
    _git(dev, "commit", "-qam", "build(generated): Dart client\n\nSeries-Applies-If-Exists: mobile/openapi")
    env = {**os.environ, "IMMICH_PATCH_ROOT": str(tmp_path / "patches")}
    refresh = subprocess.run(
        ["bash", str(SCRIPTS / "refresh-patches.sh"), str(dev)], env=env, capture_output=True, text=True
    )
    assert refresh.returncode == 0, refresh.stderr

    newer = tmp_path / "newer"  # the base tree without the committed Dart client
    (newer / "server").mkdir(parents=True)
    for name in ("package.json", "a.ts"):
        (newer / "server" / name).write_text(_git(dev, "show", f"v3.1.0:server/{name}"))
    for tree, expected in ((newer, "skip "), (dev, None)):
        if tree is dev:
            _git(dev, "checkout", "-q", "v3.1.0")
        check = subprocess.run(
            ["bash", str(SCRIPTS / "check-patches.sh"), str(tree)], env=env, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert check.stdout.count("ok ") == (1 if expected else 2), check.stdout
        assert ("skip " in check.stdout) == bool(expected), check.stdout
    apply = subprocess.run(
        ["bash", str(SCRIPTS / "apply-patches.sh"), str(newer)], env=env, capture_output=True, text=True
    )
    assert apply.returncode == 0, apply.stderr
    assert (newer / "server" / "a.ts").read_text() == "a\nfeature\n" and not (newer / "mobile").exists()
