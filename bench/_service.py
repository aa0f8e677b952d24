"""Start ``plugin-service serve`` in a subprocess for a benchmark and wait until it answers /ping."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from tests._net import free_port


def start_service(env: dict[str, str], timeout_s: float = 120.0) -> tuple[subprocess.Popen, str]:
    """A service with ``env`` added to this process's environment; its output is discarded."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "plugin_service", "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/ping", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
        if process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"plugin-service did not start (exit code {process.poll()})")
