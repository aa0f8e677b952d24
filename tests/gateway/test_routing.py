"""Routing per task and model pattern, split/merge, aliases, text, request ids: real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import logging

import httpx

from tests.gateway.conftest import CLIP_VISUAL, FACES, OCR, image_request, png
from tests.gateway.standin import expected_answer


def test_unknown_task_and_faces_go_upstream_unchanged(fresh, gateway):
    a, _ = fresh
    url, _ = gateway(upstreams=a.url)
    image = png(seed=1)
    entries = '{"future-task":{"whatever":{"modelName":"m1","options":{"x":[1,2]},"extra":true}}}'
    direct = httpx.post(a.url + "/predict", **image_request(entries, image))
    via = httpx.post(url + "/predict", **image_request(entries, image))
    assert via.status_code == 200, via.text
    assert via.content == direct.content  # byte for byte
    assert via.headers["content-type"] == "application/json"
    faces = httpx.post(url + "/predict", **image_request(FACES, image))
    assert faces.json() == expected_answer(json.loads(FACES), image, None, "a")
    received = a.requests()
    assert [r["entries"] for r in received[1:]] == [entries, FACES]  # forwarded verbatim, unknown fields included
    assert all(r["image_sha256"] == received[0]["image_sha256"] for r in received)


def test_route_by_task_and_model_pattern(fresh, gateway):
    a, b = fresh
    url, _ = gateway(upstreams=f"a={a.url};b={b.url}", routes="clip:ViT-*=b;clip=a;facial-recognition=a")
    image = png(seed=2)
    vit = httpx.post(url + "/predict", **image_request(CLIP_VISUAL, image))
    xlm_entries = '{"clip":{"visual":{"modelName":"XLM-Roberta-Large-Vit-B-32"}}}'
    xlm = httpx.post(url + "/predict", **image_request(xlm_entries, image))
    assert vit.status_code == xlm.status_code == 200
    assert [r["entries"] for r in b.requests()] == [CLIP_VISUAL]
    assert [r["entries"] for r in a.requests()] == [xlm_entries]
    assert vit.json()["imageWidth"] == 64 and vit.json()["imageHeight"] == 48


def test_route_by_type_text_query(fresh, gateway):
    a, b = fresh
    url, _ = gateway(upstreams=f"a={a.url};b={b.url}", routes="clip.textual=b;clip=a")
    entries = '{"clip":{"textual":{"modelName":"ViT-B-32__openai","options":{"language":"zh-CN"}}}}'
    response = httpx.post(url + "/predict", data={"entries": entries, "text": "海边的日落"})
    assert response.status_code == 200, response.text
    assert response.json() == expected_answer(json.loads(entries), None, "海边的日落", "b")
    assert "imageHeight" not in response.json()
    assert [(r["entries"], r["text"]) for r in b.requests()] == [(entries, "海边的日落")]
    assert a.requests() == []


def test_split_two_upstreams_and_merge(fresh, gateway):
    a, b = fresh
    url, _ = gateway(upstreams=f"a={a.url};b={b.url}", routes="clip=a;facial-recognition=b")
    image = png(80, 30, seed=3)
    entries = json.loads(CLIP_VISUAL) | json.loads(FACES)
    response = httpx.post(url + "/predict", **image_request(json.dumps(entries), image))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "clip": expected_answer({"clip": entries["clip"]}, image, None, "a")["clip"],
        "facial-recognition": expected_answer({"facial-recognition": entries["facial-recognition"]}, image, None, "b")[
            "facial-recognition"
        ],
        "imageHeight": 30,
        "imageWidth": 80,
    }
    assert [set(json.loads(r["entries"])) for r in a.requests()] == [{"clip"}]
    assert [set(json.loads(r["entries"])) for r in b.requests()] == [{"facial-recognition"}]


def test_split_local_ocr_and_upstream_faces(fresh, gateway):
    """OCR runs on the real local engine, faces on the stand-in; one merged Immich answer."""
    from tests._paths import CONTRACT
    from tests.protocol.contract import check_ocr

    a, _ = fresh
    url, _ = gateway(upstreams=a.url)
    image = (CONTRACT / "001-ocr-image.jpg").read_bytes()
    local_only = httpx.post(url + "/predict", **image_request(OCR, image), timeout=120)
    assert local_only.status_code == 200, local_only.text
    assert a.requests() == []  # ocr is local by default
    merged = httpx.post(
        url + "/predict", **image_request(json.dumps(json.loads(OCR) | json.loads(FACES)), image), timeout=120
    )
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["ocr"] == local_only.json()["ocr"]
    assert body["facial-recognition"] == expected_answer(json.loads(FACES), image, None, "a")["facial-recognition"]
    check_ocr({k: body[k] for k in ("ocr", "imageHeight", "imageWidth")}, 1024, 768)
    assert [json.loads(r["entries"]) for r in a.requests()] == [json.loads(FACES)]


def test_alias_rewrites_model_name_and_warns(fresh, gateway, caplog):
    a, _ = fresh
    with caplog.at_level(logging.WARNING, logger="plugin_service.gateway"):
        url, _ = gateway(
            upstreams=a.url, routes="clip:ViT-B-16__openai=default>chinese-clip-vit-base-patch16;clip=default"
        )
    assert any(
        "model alias" in r.getMessage() and "chinese-clip-vit-base-patch16" in r.getMessage() for r in caplog.records
    )
    image = png(seed=4)
    aliased = httpx.post(
        url + "/predict", **image_request('{"clip":{"visual":{"modelName":"ViT-B-16__openai"}}}', image)
    )
    plain = httpx.post(url + "/predict", **image_request(CLIP_VISUAL, image))
    assert aliased.status_code == plain.status_code == 200
    names = [json.loads(r["entries"])["clip"]["visual"]["modelName"] for r in a.requests()]
    assert names == ["chinese-clip-vit-base-patch16", "ViT-B-32__openai"]
    # renaming one task leaves the others' JSON exactly as Immich wrote it
    both = '{"clip":{"visual":{"modelName":"ViT-B-16__openai"}},' + FACES[1:]
    assert httpx.post(url + "/predict", **image_request(both, image)).status_code == 200
    forwarded = a.requests()[-1]["entries"]
    assert FACES[1:-1] in forwarded and '"modelName":"chinese-clip-vit-base-patch16"' in forwarded


def test_alias_to_local_engine(gateway, standins):
    """An alias on a local route: the local engine is asked for the served name (and says so when it lacks it)."""
    a, _ = standins
    url, _ = gateway(upstreams=a.url, routes="ocr:paddle-v5=local>PP-OCRv5_mobile")
    entries = OCR.replace("PP-OCRv5_mobile", "paddle-v5")
    response = httpx.post(url + "/predict", **image_request(entries, png(seed=5)), timeout=120)
    assert response.status_code == 200, response.text
    assert response.json()["ocr"] == {"box": [], "boxScore": [], "text": [], "textScore": []}


def test_request_id_is_forwarded_and_returned(fresh, gateway):
    a, _ = fresh
    url, _ = gateway(upstreams=a.url)
    response = httpx.post(url + "/predict", headers={"x-request-id": "job-42"}, **image_request(FACES, png(seed=6)))
    assert response.headers["x-request-id"] == "job-42"
    assert a.requests()[-1]["request_id"] == "job-42"
    generated = httpx.post(url + "/predict", **image_request(FACES, png(seed=6)))
    assert len(generated.headers["x-request-id"]) == 16
    assert a.requests()[-1]["request_id"] == generated.headers["x-request-id"]


def test_second_plugin_service_instance_as_upstream(gateway, model_dir):
    """A real plugin-service worker behind the gateway answers OCR exactly as the gateway would locally."""
    from tests._paths import CONTRACT
    from tests.gateway.servers import plugin_service_worker

    image = (CONTRACT / "001-ocr-image.jpg").read_bytes()
    with plugin_service_worker(model_dir) as worker:
        url, _ = gateway(upstreams=f"gpu={worker}", routes="ocr=gpu")
        via = httpx.post(url + "/predict", **image_request(OCR, image), timeout=120)
        direct = httpx.post(worker + "/predict", **image_request(OCR, image), timeout=120)
        # the worker has no face pack either: its 500 comes back as the gateway's 502 with the reason
        faces = httpx.post(url + "/predict", **image_request(FACES, image), timeout=60)
    assert via.status_code == 200, via.text
    assert via.content == direct.content
    assert faces.status_code == 502
    assert "buffalo_l" in faces.json()["detail"]


def test_routing_loop_is_refused(model_dir):
    """A gateway whose upstream is itself: the hop counter stops the loop with a clear error."""
    from plugin_service.app import create_app
    from plugin_service.config import load_settings
    from tests.gateway.servers import bound_socket, serve_in_thread

    sock = bound_socket()
    own_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = load_settings({}, offline=True, model_dir=model_dir, health_interval_s=0, upstreams=own_url)
    with serve_in_thread(create_app(settings), sock=sock) as url:
        response = httpx.post(url + "/predict", **image_request(FACES, png(seed=7)), timeout=30)
    assert response.status_code == 508
    assert "routing loop" in response.json()["detail"]


def test_captured_immich_requests_pass_through_unchanged(fresh, gateway):
    """The exact bodies a real Immich v3.1.0 sent (shared/immich-contract), all routed upstream:
    the upstream receives the same entries and image bytes, the client the upstream's bytes."""
    import hashlib

    import pytest

    from tests._paths import CONTRACT
    from tests.protocol.contract import load_captures

    if not CONTRACT.is_dir():
        pytest.skip(f"no captures at {CONTRACT}")
    a, _ = fresh
    url, _ = gateway(upstreams=a.url, routes="*=default")
    captures = load_captures()
    for capture in captures:
        via = httpx.post(url + "/predict", content=capture.body, headers=capture.headers, timeout=30)
        direct = httpx.post(a.url + "/predict", content=capture.body, headers=capture.headers, timeout=30)
        assert via.status_code == 200, (capture.name, via.text)
        assert via.content == direct.content, capture.name
    received = a.requests()[0::2]  # gateway-forwarded ones; the direct calls interleave
    for capture, record in zip(captures, received, strict=True):
        assert json.loads(record["entries"]) == capture.entries
        if capture.image_size:
            image = (CONTRACT / f"{capture.name}-image.jpg").read_bytes()
            assert record["image_sha256"] == hashlib.sha256(image).hexdigest()
