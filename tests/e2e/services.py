"""Start phase of the end-to-end run: PostgreSQL (pgvector), Redis, the plugin service and the
patched Immich server with both workers, all on loopback ports, all stopped by the ExitStack that
started them (also when a later phase fails)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests._postgres import EmbeddedPostgres, embedded_postgres
from tests.e2e import standins
from tests.e2e.capture import Answer, CapturingProxy
from tests.immich.e2e import stack


@dataclass
class Stack:
    scratch: Path
    pg: EmbeddedPostgres
    plugin_url: str
    plugin_log: Path
    immich_api: str  # http://127.0.0.1:PORT/api
    immich_web: str  # http://127.0.0.1:PORT
    immich_log: Path
    ml: CapturingProxy  # Immich's machine-learning URL: records each request, forwards it to the plugin service

    @property
    def dsn(self) -> str:
        return self.pg.dsn("immich")


def build_data(scratch: Path, web_build: Path) -> Path:
    """IMMICH_BUILD_DATA as the Docker image lays it out: the web bundle in www/ and reverse-geocoding
    data in geodata/. One city and one country are enough for the microservices worker to start
    (the real GeoNames / Natural Earth files are 100+ MB downloads the image build fetches)."""
    root = scratch / "build-data"
    geodata = root / "geodata"
    geodata.mkdir(parents=True)
    (root / "www").symlink_to(web_build)
    city = [
        "1796236",
        "Shanghai",
        "Shanghai",
        "上海",
        "31.22222",
        "121.45806",
        "P",
        "PPLA",
        "CN",
        "",
        "23",
        "",
        "",
        "",
        "24874500",
        "",
        "10",
        "Asia/Shanghai",
        "2026-01-01",
    ]
    (geodata / "cities500.txt").write_text("\t".join(city) + "\n")
    (geodata / "admin1CodesASCII.txt").write_text("CN.23\tShanghai\tShanghai\t1796231\n")
    (geodata / "admin2Codes.txt").write_text("")
    square = [[[121.0, 31.0], [122.0, 31.0], [122.0, 32.0], [121.0, 32.0], [121.0, 31.0]]]
    countries = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"ADMIN": "China", "ADM0_A3": "CHN", "TYPE": "Sovereign country"},
                "geometry": {"type": "Polygon", "coordinates": square},
            }
        ],
    }
    (geodata / "ne_10m_admin_0_countries.geojson").write_text(json.dumps(countries))
    (geodata / "geodata-date.txt").write_text("2026-01-01T00:00:00Z")
    return root


def start_plugin_service(scratch: Path, model_dir: Path, face_packs: Path) -> tuple[stack.Process, str]:
    port = stack.free_port()
    env = {
        **os.environ,
        "PLUGIN_SERVICE_HOST": "127.0.0.1",
        "PLUGIN_SERVICE_PORT": str(port),
        "PLUGIN_SERVICE_MODEL_DIR": str(model_dir),
        "PLUGIN_SERVICE_OFFLINE": "1",
        "PLUGIN_SERVICE_FACE_PACK_DIR": str(face_packs),
        "PLUGIN_SERVICE_LOG_LEVEL": "INFO",
    }
    log = scratch / "plugin-service.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "plugin_service.cli", "serve"],
        env=env,
        stdout=log.open("w"),
        cwd=standins.plugin_service_cwd(),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process = stack.Process(proc, log)
    url = f"http://127.0.0.1:{port}"
    try:
        stack.wait_for(lambda: _pong(url) or proc.poll() is not None, 120, "plugin service")
    except TimeoutError:
        process.stop()
        raise
    if proc.poll() is not None:
        raise RuntimeError(f"plugin service exited:\n{process.text()[-4000:]}")
    return process, url


def _pong(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ping", timeout=2).text.strip('"') == "pong"
    except httpx.HTTPError:
        return False


def db_upgrade(dsn_url: str, log: Path) -> None:
    """`plugin-service db upgrade`: the zh_search layer, on the schema Immich has just migrated."""
    env = {**os.environ, "PLUGIN_SERVICE_DATABASE_URL": dsn_url}
    with log.open("a") as out:
        subprocess.run(
            [sys.executable, "-m", "plugin_service.cli", "db", "upgrade"],
            env=env,
            stdout=out,
            cwd=standins.plugin_service_cwd(),
            stderr=subprocess.STDOUT,
            check=True,
            timeout=300,
        )


@contextlib.contextmanager
def running_stack(
    tree: Path,
    node_env: dict[str, str],
    model_dir: Path,
    face_packs: Path,
    artefacts: Path,
    timings: dict[str, float],
    ml_answer: Answer | None = None,
):
    """Yields a Stack; on exit stops Immich, the plugin service, Redis and PostgreSQL (in that order)
    and copies their logs into `artefacts`. Immich reaches the plugin service through a recording
    pass-through (`ml-requests.jsonl`); `ml_answer` may answer some requests itself (benchmarks)."""
    scratch = stack.scratch_dir()
    with contextlib.ExitStack() as stop:
        stop.callback(shutil.rmtree, scratch, True)
        logs = [
            scratch / name
            for name in ("immich.log", "plugin-service.log", "redis.log", "db-upgrade.log", "ml-requests.jsonl")
        ]
        stop.callback(_keep_logs, logs, artefacts)

        started = time.monotonic()
        pg = stop.enter_context(embedded_postgres())
        pg.create_database("immich")
        redis, redis_port = stack.start_redis(scratch)
        stop.callback(redis.stop)
        timings["start PostgreSQL + Redis"] = round(time.monotonic() - started, 1)

        started = time.monotonic()
        plugin, plugin_url = start_plugin_service(scratch, model_dir, face_packs)
        stop.callback(plugin.stop)
        timings["start plugin service"] = round(time.monotonic() - started, 1)
        proxy = CapturingProxy(plugin_url, scratch / "ml-requests.jsonl", ml_answer)
        stop.callback(proxy.stop)

        started = time.monotonic()
        extra = {
            "IMMICH_WORKERS_INCLUDE": "api,microservices",
            "IMMICH_BUILD_DATA": str(build_data(scratch, tree / "web" / "build")),
        }
        immich, api = stack.start_immich(
            tree / "server", scratch, node_env, pg.port, redis_port, proxy.url, extra_env=extra, timeout=300
        )
        stop.callback(immich.stop)
        timings["start Immich (migrations included)"] = round(time.monotonic() - started, 1)

        started = time.monotonic()
        db_upgrade(pg.url("immich"), scratch / "db-upgrade.log")
        timings["plugin-service db upgrade"] = round(time.monotonic() - started, 1)
        yield Stack(scratch, pg, plugin_url, plugin.log, api, api.removesuffix("/api"), immich.log, proxy)


def _keep_logs(logs: list[Path], artefacts: Path) -> None:
    artefacts.mkdir(parents=True, exist_ok=True)
    for log in logs:
        if log.is_file():
            shutil.copyfile(log, artefacts / log.name)
