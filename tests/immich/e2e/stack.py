"""Throw-away services for the end-to-end check: Redis, a stand-in ML server and the patched Immich
server (PostgreSQL with pgvector comes from tests/_postgres.py). Each has .stop()."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests._net import free_port


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise TimeoutError(f"{what} did not come up within {timeout:.0f} s")


def scratch_dir() -> Path:
    """World-traversable, because PostgreSQL must run as a non-root user when we are root."""
    path = Path(tempfile.mkdtemp(prefix="immich-e2e-"))
    path.chmod(0o755)
    return path


@dataclass
class Process:
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            # the Immich launcher forks its workers into the same process group
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def start_redis(scratch: Path) -> tuple[Process, int]:
    binary = shutil.which("redis-server") or shutil.which("valkey-server")
    if binary is None:
        raise RuntimeError("redis-server not installed (apt-get install redis-server)")
    port = free_port()
    log = scratch / "redis.log"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for(lambda: _connects(port), 20, "redis")
    return Process(proc, log), port


def _connects(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class FakeMl:
    """CLIP textual embedding = the fixed unit vector (1/sqrt(512), ...)."""

    server: ThreadingHTTPServer
    url: str
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()


def start_fake_ml(dim: int = 512) -> FakeMl:
    vector = json.dumps([1 / math.sqrt(dim)] * dim)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # /ping
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"pong")

        def do_POST(self):  # /predict, clip textual only
            self.rfile.read(int(self.headers.get("content-length", 0)))
            body = json.dumps({"clip": vector}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    return FakeMl(server, f"http://127.0.0.1:{server.server_address[1]}")


def start_immich(
    server_dir: Path,
    scratch: Path,
    env: dict[str, str],
    db_port: int,
    redis_port: int,
    ml_url: str,
    name: str = "immich",
    extra_env: dict[str, str] | None = None,
    timeout: float = 180,
) -> tuple[Process, str]:
    """The built server (dist/main.js). By default only the API worker; `extra_env` may set
    IMMICH_WORKERS_INCLUDE="api,microservices" with IMMICH_BUILD_DATA (geodata, www) for the jobs."""
    port = free_port()
    media = scratch / "media"
    media.mkdir(exist_ok=True)
    immich_env = {
        **env,
        "DB_HOSTNAME": "127.0.0.1",
        "DB_PORT": str(db_port),
        "DB_USERNAME": "postgres",
        "DB_PASSWORD": "postgres",
        "DB_DATABASE_NAME": "immich",
        "DB_VECTOR_EXTENSION": "pgvector",
        "REDIS_HOSTNAME": "127.0.0.1",
        "REDIS_PORT": str(redis_port),
        "IMMICH_MEDIA_LOCATION": str(media),
        "IMMICH_PORT": str(port),
        "IMMICH_HOST": "127.0.0.1",
        "IMMICH_MACHINE_LEARNING_URL": ml_url,
        # the microservices worker needs /build/geodata from the Docker image; the API is what we test
        "IMMICH_WORKERS_INCLUDE": "api",
        "IMMICH_ENV": "production",
        "NODE_ENV": "production",
        **(extra_env or {}),
    }
    log = scratch / f"{name}.log"
    proc = subprocess.Popen(
        ["node", "dist/main.js"],
        cwd=server_dir,
        env=immich_env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process = Process(proc, log)
    try:
        wait_for(lambda: "Immich Server is listening" in process.text() or proc.poll() is not None, timeout, "Immich")
    except TimeoutError:
        process.stop()
        raise
    if proc.poll() is not None:
        raise RuntimeError(f"Immich exited:\n{process.text()[-4000:]}")
    return process, f"http://127.0.0.1:{port}/api"


@contextlib.contextmanager
def immich_services():
    """PostgreSQL (embedded, with an empty ``immich`` database), Redis and the stand-in ML server:
    what a patched Immich server needs to start. Yields (scratch dir, postgres, redis port, ML URL)."""
    from tests._postgres import embedded_postgres

    scratch = scratch_dir()
    with contextlib.ExitStack() as stop:
        stop.callback(shutil.rmtree, scratch, True)
        pg = stop.enter_context(embedded_postgres())
        pg.create_database("immich")
        redis, redis_port = start_redis(scratch)
        stop.callback(redis.stop)
        ml = start_fake_ml()
        stop.callback(ml.stop)
        yield scratch, pg, redis_port, ml.url
