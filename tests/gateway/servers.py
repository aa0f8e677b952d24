"""Real HTTP servers on 127.0.0.1 for the gateway tests: stand-ins, plugin-service workers, the gateway."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import uvicorn

from tests._net import free_port
from tests._paths import REPO_ROOT


class StandIn:
    """``tests/gateway/standin.py`` in its own process: can be killed and restarted on its port."""

    def __init__(self, name: str, port: int = 0):
        self.name = name
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StandIn:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.gateway.standin", "--port", str(self.port), "--name", self.name],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"stand-in {self.name} did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def kill(self) -> None:
        """SIGKILL: connections in flight are reset, like a crashed worker."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        self.kill()
        if self.process and self.process.stdout:
            self.process.stdout.close()

    def control(self, mode: str = "ok", **extra) -> None:
        httpx.post(self.url + "/_control", json={"mode": mode, **extra}, timeout=5).raise_for_status()

    def requests(self) -> list[dict]:
        return httpx.get(self.url + "/_requests", timeout=5).json()

    def reset(self) -> None:
        self.control("ok")
        httpx.post(self.url + "/_reset", timeout=5).raise_for_status()


def bound_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serve_in_thread(app, log_level: str = "warning", sock: socket.socket | None = None):
    """Run an ASGI app with uvicorn on a loopback port (or the bound ``sock``) in a thread; yields its base URL."""
    if sock is None:
        sock = bound_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, timeout_keep_alive=5, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("gateway did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextlib.contextmanager
def plugin_service_worker(model_dir: str):
    """A second, separate plugin-service process (``plugin-service serve``), as a GPU worker would run."""
    port = free_port()
    env = {
        **os.environ,
        "PLUGIN_SERVICE_OFFLINE": "true",
        "PLUGIN_SERVICE_MODEL_DIR": model_dir,
        "PLUGIN_SERVICE_LOG_LEVEL": "WARNING",
    }
    env.pop("PLUGIN_SERVICE_UPSTREAMS", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "plugin_service", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("plugin-service worker did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
