"""Chinese-CLIP through POST /predict, as Immich calls it (real ViT-B-16 architecture, random weights)."""

from __future__ import annotations

import numpy as np
import pytest
from litestar.testing import TestClient

from plugin_service.app import create_app
from plugin_service.config import load_settings
from tests._paths import CONTRACT, DATA, require_shared
from tests.protocol.contract import check_clip, check_embedding_string, load_captures

VISUAL = '{"clip":{"visual":{"modelName":"chinese-clip-vit-base-patch16"}}}'
TEXTUAL = '{"clip":{"textual":{"modelName":"%s","options":{"language":"zh-CN"}}}}'


@pytest.fixture(scope="module")
def client(vit_b16):
    _, store = vit_b16
    settings = load_settings(
        {}, offline=True, model_dir=str(store), clip_aliases="ViT-B-32__openai=chinese-clip-vit-base-patch16"
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def jpeg(path) -> bytes:
    return path.read_bytes()


def test_visual_embedding_is_512_normalised_with_image_size(client):
    require_shared()
    image = DATA / "captions/OFA-Sys__Chinese-CLIP/examples/pokemon.jpeg"
    response = client.post(
        "/predict", data={"entries": VISUAL}, files={"image": ("blob", jpeg(image), "application/octet-stream")}
    )
    assert response.status_code == 200, response.text
    from PIL import Image

    check_clip(response.json(), Image.open(image).size, dim=512)


@pytest.mark.parametrize("name", ["chinese-clip-vit-base-patch16", "OFA-Sys/chinese-clip-vit-base-patch16"])
def test_textual_embedding_with_language_option(client, name):
    response = client.post("/predict", data={"entries": TEXTUAL % name, "text": "一只在草地上奔跑的小狗"})
    assert response.status_code == 200, response.text
    check_clip(response.json(), None, dim=512)


def test_same_text_same_vector_different_text_different_vector(client):
    def vec(text):
        body = client.post("/predict", data={"entries": TEXTUAL % "chinese-clip-vit-base-patch16", "text": text}).json()
        return np.array(check_embedding_string(body["clip"], 512))

    a, b, c = vec("红色的汽车"), vec("红色的汽车"), vec("蓝色的大海")
    assert np.allclose(a, b) and not np.allclose(a, c)


def test_captured_immich_clip_requests_through_an_alias(client):
    """Unpatched Immich asks for ViT-B-32__openai (512-d); the alias answers with Chinese-CLIP."""
    if not CONTRACT.is_dir():
        pytest.skip(f"no captures at {CONTRACT}")
    for capture in [c for c in load_captures() if c.task == "clip"]:
        response = client.post("/predict", content=capture.body, headers=capture.headers)
        assert response.status_code == 200, response.text
        check_clip(response.json(), capture.image_size, dim=512)


def test_unknown_model_is_500_with_reason(client):
    response = client.post("/predict", data={"entries": TEXTUAL % "ViT-H-14__laion2b-s32b-b79k", "text": "x"})
    assert response.status_code == 500
    assert "unknown CLIP model 'ViT-H-14__laion2b-s32b-b79k'" in response.json()["detail"]


def test_missing_weights_name_the_file_and_the_fix(client):
    response = client.post("/predict", data={"entries": TEXTUAL % "chinese-clip-vit-large-patch14", "text": "x"})
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert "textual/model.onnx" in detail and "plugin-service clip export chinese-clip-vit-large-patch14" in detail


def test_visual_model_with_text_payload_is_400(client):
    response = client.post("/predict", data={"entries": VISUAL, "text": "hello"})
    assert response.status_code == 400


def test_alias_with_wrong_dimension_is_refused_at_start(vit_b16):
    _, store = vit_b16
    with pytest.raises(ValueError, match="768-d vectors for ViT-L-14__openai"):
        create_app(
            load_settings({}, model_dir=str(store), clip_aliases="ViT-L-14__openai=chinese-clip-vit-base-patch16")
        )
