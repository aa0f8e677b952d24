"""Failover when an upstream is down, slow, answers 500 or garbage; recovery; circuit breaker."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.gateway.conftest import FACES, image_request, png
from tests.gateway.servers import StandIn, free_port
from tests.gateway.standin import expected_answer


def faces(url: str, seed: int = 0, **kwargs) -> httpx.Response:
    return httpx.post(url + "/predict", **image_request(FACES, png(seed=seed)), timeout=30, **kwargs)


def right_answer(response: httpx.Response, seed: int) -> bool:
    body = response.json()
    expected = expected_answer(json.loads(FACES), png(seed=seed), None, "any")
    return body == expected


def test_upstream_down_fails_over_and_the_circuit_opens(fresh, gateway):
    _, b = fresh
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    url, app = gateway(upstreams=f"{dead},{b.url}", health_interval_s=0)
    for seed in range(8):
        response = faces(url, seed)
        assert response.status_code == 200, response.text
        assert right_answer(response, seed)
    metrics = httpx.get(url + "/metrics").text
    # three connection failures open the circuit; after that the dead upstream is skipped
    assert f'plugin_service_upstream_attempts_total{{pool="default",result="connect",url="{dead}/"}} 3.0' in metrics
    assert f'plugin_service_upstream_circuit_open{{pool="default",url="{dead}/"}} 1.0' in metrics
    assert len(b.requests()) == 8


@pytest.mark.parametrize("mode", ["error500", "garbage"])
def test_bad_answers_fail_over(fresh, gateway, mode):
    a, b = fresh
    a.control(mode)
    url, _ = gateway(upstreams=f"{a.url},{b.url}", health_interval_s=0)
    for seed in range(4):
        response = faces(url, seed)
        assert response.status_code == 200 and right_answer(response, seed)
    assert 1 <= len(a.requests()) <= 3  # tried until its circuit opened
    assert len(b.requests()) == 4


def test_slow_upstream_times_out_and_fails_over(fresh, gateway):
    a, b = fresh
    a.control("ok", delay_s=3)
    url, _ = gateway(
        upstreams=f"slow={a.url},{b.url}", routes="facial-recognition=slow", upstream_timeout_s=0.5, health_interval_s=0
    )
    started = time.monotonic()
    answers = [faces(url, seed) for seed in range(2)]
    assert all(r.status_code == 200 and right_answer(r, seed) for seed, r in enumerate(answers))
    assert time.monotonic() - started < 2.5  # never waited for the slow one's answer
    assert len(b.requests()) == 2


def test_all_upstreams_failing_give_clear_errors(fresh, gateway):
    a, b = fresh
    a.control("error500")
    b.control("garbage")
    url, _ = gateway(upstreams=f"{a.url},{b.url}", health_interval_s=0)
    response = faces(url)
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert "HTTP 500" in detail and "not an Immich /predict response" in detail
    dead = f"http://127.0.0.1:{free_port()}"
    url2, _ = gateway(upstreams=dead, health_interval_s=0)
    response = faces(url2)
    assert response.status_code == 503
    assert "unreachable" in response.json()["detail"]
    a.control("ok", delay_s=2)
    url3, _ = gateway(upstreams=a.url, upstream_timeout_s=0.3, health_interval_s=0)
    response = faces(url3)
    assert response.status_code == 504 and "timed out" in response.json()["detail"]


def test_client_errors_are_passed_back_without_failover(fresh, gateway):
    a, b = fresh
    a.control("status", status=422, detail="Invalid request format.")
    url, _ = gateway(upstreams=f"only={a.url}", routes="*=only", health_interval_s=0)
    response = faces(url)
    assert response.status_code == 422
    assert response.json() == {"detail": "Invalid request format."}


def test_recovery_after_restart(gateway):
    a = StandIn("a").start()
    b = StandIn("b").start()
    try:
        url, _ = gateway(upstreams=f"{a.url},{b.url}", health_interval_s=0.2)
        a.kill()
        for seed in range(6):
            assert faces(url, seed).status_code == 200
        time.sleep(0.5)
        metrics = httpx.get(url + "/metrics").text
        assert f'plugin_service_upstream_healthy{{pool="default",url="{a.url}/"}} 0.0' in metrics
        a.start()  # same port
        deadline = time.monotonic() + 5
        while not a.requests() and time.monotonic() < deadline:
            faces(url, 99)
            time.sleep(0.05)
        assert a.requests(), "the restarted upstream never got traffic again"
        assert (
            f'plugin_service_upstream_healthy{{pool="default",url="{a.url}/"}} 1.0' in httpx.get(url + "/metrics").text
        )
    finally:
        a.stop()
        b.stop()


def test_least_outstanding_requests_spreads_concurrent_load(fresh, gateway):
    from concurrent.futures import ThreadPoolExecutor

    a, b = fresh
    a.control("ok", delay_s=0.2)
    b.control("ok", delay_s=0.2)
    url, _ = gateway(upstreams=f"{a.url},{b.url}", health_interval_s=0)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda s: faces(url, s).status_code, range(16)))
    assert codes == [200] * 16
    assert abs(len(a.requests()) - len(b.requests())) <= 2


def test_fallback_backend_when_a_pool_fails(fresh, gateway):
    """``ocr=gpu|local``: the GPU pool is down, the local engine answers; ``|pool`` works the same."""
    from tests.gateway.conftest import OCR

    _, b = fresh
    dead = f"http://127.0.0.1:{free_port()}"
    url, _ = gateway(
        upstreams=f"gpu={dead};b={b.url}", routes="ocr=gpu|local;facial-recognition=gpu|b", health_interval_s=0
    )
    ocr = httpx.post(url + "/predict", **image_request(OCR, png(seed=8)), timeout=120)
    assert ocr.status_code == 200, ocr.text
    assert ocr.json()["ocr"] == {"box": [], "boxScore": [], "text": [], "textScore": []}
    assert right_answer(faces(url, 9), 9)
    assert [json.loads(r["entries"]) for r in b.requests()] == [json.loads(FACES)]
    metrics = httpx.get(url + "/metrics").text
    assert 'plugin_service_task_requests_total{backend="gpu",outcome="error",task="ocr"} 1.0' in metrics
    assert 'plugin_service_task_requests_total{backend="local",outcome="ok",task="ocr"} 1.0' in metrics
