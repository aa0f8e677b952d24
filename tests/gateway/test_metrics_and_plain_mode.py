"""/metrics content, and the service without upstreams: a plain local ML server."""

from __future__ import annotations

import httpx
from litestar.testing import TestClient

from plugin_service.app import create_app
from plugin_service.config import load_settings
from tests.gateway.conftest import FACES, OCR, image_request, png


def test_metrics_per_task_backend_upstream_and_models(fresh, gateway):
    a, _ = fresh
    url, _ = gateway(upstreams=a.url)
    assert httpx.post(url + "/predict", **image_request(FACES, png()), timeout=30).status_code == 200
    assert httpx.post(url + "/predict", **image_request(OCR, png()), timeout=120).status_code == 200
    response = httpx.get(url + "/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for line in (
        'plugin_service_task_requests_total{backend="default",outcome="ok",task="facial-recognition"} 1.0',
        'plugin_service_task_requests_total{backend="local",outcome="ok",task="ocr"} 1.0',
        'plugin_service_task_seconds_count{backend="local",task="ocr"} 1.0',
        f'plugin_service_upstream_attempts_total{{pool="default",result="ok",url="{a.url}/"}} 1.0',
        f'plugin_service_upstream_healthy{{pool="default",url="{a.url}/"}} 1.0',
        f'plugin_service_upstream_in_flight_requests{{pool="default",url="{a.url}/"}} 0.0',
        'plugin_service_http_requests_total{path="/predict",status="200"} 2.0',
        "plugin_service_http_in_flight_requests 1.0",  # the scrape itself
        'plugin_service_model_load_seconds{model="ocr/PP-OCRv5_mobile"}',
        "plugin_service_models_loaded 1.0",
        "process_resident_memory_bytes",
    ):
        assert line in text, line


def test_errors_are_counted_per_task_and_backend(fresh, gateway):
    a, _ = fresh
    a.control("error500")
    url, _ = gateway(upstreams=a.url, health_interval_s=0)
    assert httpx.post(url + "/predict", **image_request(FACES, png())).status_code == 502
    text = httpx.get(url + "/metrics").text
    assert 'plugin_service_task_errors_total{backend="default",reason="http_502",task="facial-recognition"} 1.0' in text
    assert 'plugin_service_http_requests_total{path="/predict",status="502"} 1.0' in text


def test_without_upstreams_it_is_a_plain_local_ml_server(tmp_path):
    settings = load_settings({}, offline=True, model_dir=str(tmp_path))
    app = create_app(settings)
    with TestClient(app) as client:
        unknown = client.post("/predict", data={"entries": '{"future-task":{"x":{"modelName":"m"}}}', "text": "hi"})
        assert unknown.status_code == 500 and "future-task" in unknown.json()["detail"]
        assert client.get("/ping").text == "pong"
        assert client.get("/metrics").status_code == 200
