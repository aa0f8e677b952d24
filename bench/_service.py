"""Start ``plugin-service serve`` in a subprocess for a benchmark and wait until it answers /ping;
ping it from a process of its own while the benchmark loads it."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from multiprocessing.connection import Connection

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


class Pinger:
    """``GET /ping`` every ``period_s`` from a separate process, as Immich's server pings from its own.

    A pinger thread inside the benchmark process would share its GIL and CPU with the threads that
    drive the load (16 clients building requests and comparing answers), and would measure their
    queueing, not the service's.  The process is started with ``spawn`` so it holds nothing else.
    """

    def __init__(self, url: str, period_s: float = 0.1):
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._results, child = context.Pipe(duplex=False)
        self._process = context.Process(target=_ping_loop, args=(url, period_s, self._stop, child), daemon=True)
        self._process.start()
        child.close()

    def stop(self) -> tuple[list[tuple[float, float]], int]:
        """(monotonic start, seconds) of each answered ping, and the number of failed ones."""
        self._stop.set()
        pings, failures = self._results.recv()
        self._process.join(timeout=30)
        return pings, failures


def _ping_loop(url: str, period_s: float, stop, results: Connection) -> None:
    pings: list[tuple[float, float]] = []
    failures = 0
    with httpx.Client() as client:
        while not stop.is_set():
            started = time.monotonic()
            try:
                ok = client.get(url + "/ping", timeout=10).text == "pong"
            except httpx.HTTPError:
                ok = False
            if ok:
                pings.append((started, time.monotonic() - started))
            else:
                failures += 1
            stop.wait(period_s)
    results.send((pings, failures))
