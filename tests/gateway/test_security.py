"""Client allow-list and shared secret (header forms and Immich's only working form: a URL path prefix)."""

from __future__ import annotations

import base64
import logging

import httpx

from tests.gateway.conftest import FACES, image_request, png

SECRET = "s3cret-Token_1"


def test_allow_list_refuses_other_networks(gateway):
    url, _ = gateway(client_allow="10.0.0.0/8,192.168.0.0/16")
    response = httpx.get(url + "/ping")
    assert response.status_code == 403
    assert "allow-list" in response.json()["detail"]
    assert httpx.post(url + "/predict", **image_request(FACES, png())).status_code == 403


def test_allow_list_admits_listed_clients(gateway):
    url, _ = gateway(client_allow="10.0.0.0/8,127.0.0.1/32")
    assert httpx.get(url + "/ping").text == "pong"


def test_shared_secret_forms(fresh, gateway, caplog):
    a, _ = fresh
    with caplog.at_level(logging.DEBUG):
        url, _ = gateway(upstreams=a.url, shared_secret=SECRET)
        assert httpx.get(url + "/ping").status_code == 200  # open for container health checks
        refused = httpx.post(url + "/predict", **image_request(FACES, png()))
        assert refused.status_code == 401
        wrong = httpx.post(url + "/predict", headers={"authorization": "Bearer nope"}, **image_request(FACES, png()))
        assert wrong.status_code == 401
        basic = base64.b64encode(f"immich:{SECRET}".encode()).decode()
        for headers in (
            {"authorization": f"Bearer {SECRET}"},
            {"authorization": f"Basic {basic}"},
            {"x-api-key": SECRET},
            {"api-key": SECRET},
        ):
            assert httpx.post(url + "/predict", headers=headers, **image_request(FACES, png())).status_code == 200, (
                headers
            )
        # What an unmodified Immich can do: IMMICH_MACHINE_LEARNING_URL=http://gateway:3003/<secret>/
        prefix = f"{url}/{SECRET}/"
        assert httpx.get(prefix + "ping").text == "pong"
        assert httpx.post(prefix + "predict", **image_request(FACES, png())).status_code == 200
        assert httpx.post(f"{url}/not-the-secret/predict", **image_request(FACES, png())).status_code == 401
        metrics = httpx.get(url + "/metrics", headers={"x-api-key": SECRET}).text
    assert SECRET not in metrics
    assert 'path="/{secret}/predict"' in metrics
    # httpx records are this test's own client logging the URLs it calls; everything the service logs must be clean.
    assert all(SECRET not in record.getMessage() for record in caplog.records if record.name != "httpx")
    # the secret is the gateway's: it is never forwarded upstream
    assert all(r["authorization"] is None for r in a.requests())


def test_no_security_configured_changes_nothing(gateway):
    url, _ = gateway()
    assert httpx.get(url + "/ping").text == "pong"
    assert httpx.get(url + "/").json() == {"message": "Immich ML"}


def test_access_log_lines_are_redacted():
    """uvicorn logs the request path: a /<secret>/predict must not end up in the access log."""
    from plugin_service.gateway.logs import RedactSecret

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "POST", f"/{SECRET}/predict", "1.1", 200),
        None,
    )
    RedactSecret(SECRET).filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "POST /***/predict HTTP/1.1" 200'


def test_upstream_credentials_are_sent_as_basic_auth_and_never_shown(fresh, gateway, caplog):
    a, _ = fresh
    upstream = a.url.replace("http://", "http://worker:pa55word@")
    with caplog.at_level(logging.DEBUG):
        url, _ = gateway(upstreams=upstream)
        assert httpx.post(url + "/predict", **image_request(FACES, png())).status_code == 200
        metrics = httpx.get(url + "/metrics").text
    assert a.requests()[-1]["authorization"] == "Basic " + base64.b64encode(b"worker:pa55word").decode()
    assert "pa55word" not in metrics
    assert all("pa55word" not in record.getMessage() for record in caplog.records)
