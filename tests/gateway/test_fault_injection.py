"""500 requests from 16 concurrent clients while one of two upstreams is killed (SIGKILL) and restarted."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.gateway.conftest import FACES, png
from tests.gateway.servers import StandIn
from tests.gateway.standin import expected_answer

REQUESTS = 500
CLIENTS = 16
KILL_AFTER = 120  # completed requests
RESTART_AFTER = 300


def test_kill_and_restart_one_of_two_upstreams_under_load(gateway):
    a, b = StandIn("a").start(), StandIn("b").start()
    # A little work per request, so requests are in flight on the upstream when it dies.
    a.control("ok", delay_s=0.01)
    b.control("ok", delay_s=0.01)
    images = [png(seed=i) for i in range(REQUESTS)]
    expected = [expected_answer(json.loads(FACES), image, None, "-") for image in images]
    url, _ = gateway(upstreams=f"{a.url},{b.url}", health_interval_s=0.2)
    done = 0
    lock = threading.Lock()
    killed, restarted = threading.Event(), threading.Event()
    local = threading.local()

    def one(i: int):
        nonlocal done
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30)
        try:
            response = local.client.post(
                url + "/predict",
                data={"entries": FACES},
                files={"image": ("blob", images[i], "application/octet-stream")},
            )
            result = (response.status_code, response.json())
        except httpx.HTTPError as exc:  # a lost request: no answer at all
            result = (None, repr(exc))
        with lock:
            done += 1
            if done == KILL_AFTER:
                a.kill()
                killed.set()
            elif done == RESTART_AFTER:
                a.start()
                restarted.set()
        return result

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(one, range(REQUESTS)))
        after_restart = a.requests()
        metrics = httpx.get(url + "/metrics").text
    finally:
        a.stop()
        b.stop()

    assert killed.is_set() and restarted.is_set()
    lost = [r for r in results if r[0] is None]
    wrong = [i for i, r in enumerate(results) if r[0] == 200 and r[1] != expected[i]]
    errors = [r for r in results if r[0] not in (None, 200)]
    failed_at_a = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("plugin_service_upstream_attempts_total")
        and f'url="{a.url}/"' in line
        and 'result="ok"' not in line
    )
    assert not lost, lost[:3]
    assert not wrong, wrong[:3]
    assert failed_at_a >= 1, "the kill never hit the gateway: the test proved nothing"
    # The issue allows a clear 502/503 for requests in flight on the killed upstream. The gateway does
    # better: /predict is idempotent, so those are retried on the other upstream and every answer is right.
    assert all(status in (502, 503) and "upstream" in body["detail"] for status, body in errors)
    assert errors == []
    assert after_restart, "the restarted upstream got no traffic"
