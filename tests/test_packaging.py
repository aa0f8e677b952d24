"""The wheel installs one top-level package, ``plugin_service``, with the migrations and their SQL inside."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from tests._paths import REPO_ROOT


def test_wheel_top_level_is_plugin_service_only(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO_ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"plugin_service"}
    assert "plugin_service/db/migrations/alembic.ini" in names
    assert any(n.startswith("plugin_service/db/migrations/sql/") and n.endswith(".sql") for n in names)
    assert "plugin_service/engines/clip/vocab.txt" in names
