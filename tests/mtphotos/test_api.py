"""MT Photos AI API contract: every endpoint, api-key handling, bad and huge uploads, real engines."""

from __future__ import annotations

import io

import numpy as np
import pytest
from litestar.testing import TestClient
from PIL import Image

from plugin_service.app import create_app
from plugin_service.config import load_settings
from plugin_service.context import ServiceContext
from plugin_service.mtphotos import service
from tests._paths import require_shared
from tests.faces._models import arcface_signature_graph, make_pack, scrfd_path

KEY = "s3cret-key"
T1 = "faces/deepinsight__insightface/python-package/insightface/data/images/t1.jpg"
SIGN = "ocr/RapidAI__RapidOCR/python/tests/test_files/ch_en_num.jpg"
ENDPOINTS = ["/check", "/restart", "/restart_v2", "/ocr", "/clip/img", "/clip/txt", "/represent"]


@pytest.fixture(scope="module")
def pack_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mt-packs")
    make_pack(root / "buffalo_l", scrfd_path(), arcface_signature_graph(root / "arcface.onnx"), "immich")
    return root


def _client(pack_root, tmp_path, **settings) -> TestClient:
    values = dict(
        mt_photos_api_key=KEY,
        face_pack_dir=str(pack_root),
        model_dir=str(tmp_path / "models"),
        offline=True,
        ort_intra_op_threads=1,
        request_threads=1,
    )
    values.update(settings)
    ctx = ServiceContext.from_settings(load_settings({}, **values))
    return TestClient(create_app(ctx=ctx))


@pytest.fixture()
def client(pack_root, tmp_path):
    with _client(pack_root, tmp_path) as client:
        yield client


def _file(relative: str) -> dict:
    path = require_shared() / relative
    return {"file": (path.name, path.read_bytes(), "image/jpeg")}


def _png(width: int, height: int) -> dict:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 255).save(buffer, "PNG", optimize=True)
    return {"file": ("big.png", buffer.getvalue(), "image/png")}


@pytest.mark.parametrize("path", ENDPOINTS)
def test_wrong_or_missing_api_key_is_401(client, path):
    for headers in ({}, {"api-key": "wrong"}, {"api-key": KEY + "x"}, {"api-key": ""}):
        response = client.post(path, headers=headers)
        assert response.status_code == 401, (path, headers)
        assert response.json() == {"detail": "Invalid API key"}


def test_no_configured_key_turns_the_api_off(pack_root, tmp_path):
    with _client(pack_root, tmp_path, mt_photos_api_key="") as client:
        for path in ENDPOINTS:
            response = client.post(path, headers={"api-key": ""})
            assert response.status_code == 401 and "PLUGIN_SERVICE_MT_PHOTOS_API_KEY" in response.json()["detail"]
        assert client.get("/ping").text == "pong"  # the Immich API is unaffected


def test_check_and_restart(client):
    headers = {"api-key": KEY}
    response = client.post("/check", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["result"] == "pass" and body["recognition_model"] == "buffalo_l"
    assert client.post("/restart", headers=headers).json() == {"result": "pass"}


def test_restart_v2_releases_models_and_the_service_keeps_working(client):
    headers = {"api-key": KEY}
    assert len(client.post("/represent", headers=headers, files=_file(T1)).json()["result"]) == 6
    ctx = client.app.state.ctx
    assert ctx.models.loaded()
    assert client.post("/restart_v2", headers=headers).json() == {"result": "pass"}
    assert ctx.models.loaded() == {}
    assert len(client.post("/represent", headers=headers, files=_file(T1)).json()["result"]) == 6


def test_ocr_in_the_references_string_shape(client):
    body = client.post("/ocr", headers={"api-key": KEY}, files=_file(SIGN)).json()
    result = body["result"]
    assert set(result) == {"texts", "scores", "boxes"} and "正品促销" in result["texts"]
    assert len(result["texts"]) == len(result["scores"]) == len(result["boxes"])
    for score, box in zip(result["scores"], result["boxes"], strict=True):
        assert isinstance(score, str) and len(score.split(".")[1]) == 2 and 0 <= float(score) <= 1
        assert set(box) == {"x", "y", "width", "height"} and all(isinstance(v, str) for v in box.values())
        assert float(box["width"]) > 0 and float(box["height"]) > 0
    width, height = Image.open(require_shared() / SIGN).size
    for box in result["boxes"]:  # x, y = top-left corner; width/height from it (the reference's convention)
        assert float(box["x"]) >= -2 and float(box["x"]) + float(box["width"]) <= width + 2
        assert float(box["y"]) >= -2 and float(box["y"]) + float(box["height"]) <= height + 2


def test_represent_in_the_insightface_api_shape(client):
    body = client.post("/represent", headers={"api-key": KEY}, files=_file(T1)).json()
    assert body["detector_backend"] == "insightface" and body["recognition_model"] == "buffalo_l"
    assert len(body["result"]) == 6
    for face in body["result"]:
        assert set(face) == {"embedding", "facial_area", "face_confidence"}
        assert len(face["embedding"]) == 512 and abs(np.linalg.norm(face["embedding"]) - 1) < 1e-4
        assert set(face["facial_area"]) == {"x", "y", "w", "h"} and all(
            isinstance(v, int) for v in face["facial_area"].values()
        )
        assert face["face_confidence"] >= 0.65


def test_no_face_is_an_empty_result(client):
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), "gray").save(buffer, "JPEG")
    body = client.post(
        "/represent", headers={"api-key": KEY}, files={"file": ("g.jpg", buffer.getvalue(), "image/jpeg")}
    ).json()
    assert body["result"] == [] and "msg" not in body


@pytest.mark.parametrize("path", ["/ocr", "/clip/img", "/represent"])
def test_bad_uploads_answer_in_the_references_error_form(client, path):
    headers = {"api-key": KEY}
    not_image = client.post(
        path, headers=headers, files={"file": ("notes.txt", b"definitely not an image", "text/plain")}
    )
    assert not_image.status_code == 200 and not_image.json()["result"] == [] and "notes.txt" in not_image.json()["msg"]
    missing = client.post(path, headers=headers, data={"other": "x"})
    assert missing.status_code == 200 and missing.json()["result"] == [] and "file" in missing.json()["msg"]
    # Wider than the reference's 10000 px limit (a small file: one white PNG row).
    too_wide = client.post(path, headers=headers, files=_png(10001, 1))
    assert too_wide.json() == {"result": [], "msg": "height or width out of range"}


def test_decompression_bombs_are_refused_before_decoding(pack_root, tmp_path):
    with _client(pack_root, tmp_path, max_image_pixels=1_000_000) as client:
        body = client.post("/represent", headers={"api-key": KEY}, files=_png(2000, 2000)).json()
        assert body["result"] == [] and "exceeds" in body["msg"]


def test_clip_vectors_are_16_decimal_strings(client, monkeypatch):
    vector = np.random.default_rng(3).standard_normal(512).astype(np.float32)
    vector /= np.linalg.norm(vector)
    calls = []

    class FakeEncoder:
        def __init__(self, kind, name):
            self.kind, self.name = kind, name

        def encode(self, item):
            calls.append((self.kind, self.name))
            return vector if self.kind == "visual" else np.stack([vector])

    monkeypatch.setattr(service, "image_encoder", lambda ctx, name: FakeEncoder("visual", name))
    monkeypatch.setattr(service, "text_encoder", lambda ctx, name: FakeEncoder("textual", name))
    monkeypatch.setattr(
        client.app.state.ctx,
        "settings",
        load_settings({}, mt_photos_api_key=KEY, mt_photos_clip_model="chinese-clip-test"),
    )
    image = client.post("/clip/img", headers={"api-key": KEY}, files=_file(T1)).json()["result"]
    text = client.post("/clip/txt", headers={"api-key": KEY}, json={"text": "海边的日落"}).json()["result"]
    for result in (image, text):
        assert len(result) == 512 and all(isinstance(v, str) and len(v.split(".")[1]) == 16 for v in result)
        np.testing.assert_allclose([float(v) for v in result], vector, atol=1e-7)
    assert calls == [("visual", "chinese-clip-test"), ("textual", "chinese-clip-test")]


def test_clip_without_an_engine_or_model_says_so(client):
    for response in (
        client.post("/clip/txt", headers={"api-key": KEY}, json={"text": "猫"}),
        client.post("/clip/img", headers={"api-key": KEY}, files=_file(T1)),
    ):
        body = response.json()
        assert response.status_code == 200
        if body["result"]:  # a CLIP engine and default model exist in this build
            assert len(body["result"]) in (512, 768, 1024)
        else:
            assert body["msg"]


def test_clip_txt_needs_a_text_field(client):
    response = client.post("/clip/txt", headers={"api-key": KEY}, json={"query": "猫"})
    assert response.status_code == 422 and "text" in response.json()["detail"]


def test_animated_gif_uses_the_first_frame(client):
    rgb = Image.open(require_shared() / T1).convert("RGB")
    buffer = io.BytesIO()
    rgb.save(buffer, "GIF", save_all=True, append_images=[Image.new("RGB", rgb.size, "black")], duration=100, loop=0)
    body = client.post(
        "/represent", headers={"api-key": KEY}, files={"file": ("t1.gif", buffer.getvalue(), "image/gif")}
    ).json()
    assert len(body["result"]) >= 5  # a 256-colour palette costs a little detail


def test_router_works_in_a_minimal_app_with_the_context_and_executors_in_state(pack_root, tmp_path):
    from litestar import Litestar
    from litestar.datastructures import State

    from plugin_service.mtphotos.routes import router
    from plugin_service.serving import Executors

    ctx = ServiceContext.from_settings(
        load_settings({}, mt_photos_api_key=KEY, face_pack_dir=str(pack_root), model_dir=str(tmp_path))
    )
    state = State({"ctx": ctx, "executors": Executors.create(1)})
    with TestClient(Litestar(route_handlers=[router], state=state)) as client:
        assert client.post("/check", headers={"api-key": KEY}).json()["result"] == "pass"
        assert client.post("/check", headers={"api-key": "no"}).status_code == 401
        assert len(client.post("/represent", headers={"api-key": KEY}, files=_file(T1)).json()["result"]) == 6


def test_ocr_reads_rendered_chinese_and_a_tight_single_line_crop(client):
    from tests.ocr.fonts import render_lines

    for padding in (30, 2):  # a normal picture, then a crop with no room around the line
        buffer = io.BytesIO()
        render_lines(["人工智能相册"], size=32, padding=padding).save(buffer, "PNG")
        result = client.post(
            "/ocr", headers={"api-key": KEY}, files={"file": ("line.png", buffer.getvalue(), "image/png")}
        ).json()["result"]
        assert [t.replace(" ", "") for t in result["texts"]] == ["人工智能相册"], padding
