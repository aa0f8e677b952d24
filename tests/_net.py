"""Network helpers shared by tests and benchmarks (one copy)."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the caller binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_pong(url: str, process: subprocess.Popen | None = None, timeout: float = 90) -> bool:
    """Poll `url`/ping until it answers "pong"; False after `timeout` s or once `process` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (process is None or process.poll() is None):
        try:
            if httpx.get(url + "/ping", timeout=1).text == "pong":
                return True
        except httpx.HTTPError:
            time.sleep(0.2)
    return False
