"""The Immich ``facial-recognition`` task, through the handler and through POST /predict."""

from __future__ import annotations

import io

import numpy as np
import orjson
import pytest
from PIL import Image

from plugin_service.errors import BadRequest, InvalidRequestFormat, ModelError
from plugin_service.immich.protocol import ImagePayload, TextPayload, parse_entries
from plugin_service.immich.tasks import HANDLERS
from tests._paths import require_shared
from tests.faces._models import make_pack, scrfd_path

T1 = "faces/deepinsight__insightface/python-package/insightface/data/images/t1.jpg"
IMMICH_ENTRIES = (
    '{"facial-recognition":{"detection":{"modelName":"buffalo_l","options":{"minScore":0.7}},"recognition":{"modelName":'
    '"buffalo_l"}}}'
)


def _image(relative: str = T1) -> ImagePayload:
    return ImagePayload(Image.open(require_shared() / relative).convert("RGB"))


def _run(ctx, entries: str, payload):
    return HANDLERS["facial-recognition"](ctx, parse_entries(entries)["facial-recognition"], payload)


def test_faces_in_immichs_shape(ctx):
    faces = _run(ctx, IMMICH_ENTRIES, _image())
    assert len(faces) == 6
    for face in faces:
        assert set(face) == {"boundingBox", "embedding", "score"}
        box = face["boundingBox"]
        assert list(box) == ["x1", "y1", "x2", "y2"]
        assert all(isinstance(v, float) and v.is_integer() for v in box.values())
        assert box["x1"] < box["x2"] and box["y1"] < box["y2"]
        vector = orjson.loads(face["embedding"])
        assert isinstance(face["embedding"], str) and len(vector) == 512
        assert abs(np.linalg.norm(vector) - 1) < 1e-4
        assert 0.7 <= face["score"] <= 1


def test_min_score_is_honoured_and_required(ctx):
    loose = _run(ctx, IMMICH_ENTRIES.replace("0.7", "0.3"), _image())
    strict = _run(ctx, IMMICH_ENTRIES.replace("0.7", "0.88"), _image())
    assert len(strict) < 6 <= len(loose)
    with pytest.raises(InvalidRequestFormat, match="minScore is required"):
        _run(ctx, IMMICH_ENTRIES.replace('"options":{"minScore":0.7}', '"options":{}'), _image())
    with pytest.raises(InvalidRequestFormat, match="between 0 and 1"):
        _run(ctx, IMMICH_ENTRIES.replace("0.7", '"high"'), _image())


def test_no_face_gives_an_empty_list(ctx):
    assert _run(ctx, IMMICH_ENTRIES, ImagePayload(Image.new("RGB", (640, 480), "gray"))) == []


def test_boxes_are_pixels_of_the_received_image_unclipped(ctx):
    faces = _run(
        ctx,
        IMMICH_ENTRIES.replace("0.7", "0.5"),
        _image("faces/serengil__deepface/tests/unit/dataset/selfie-many-people.jpg"),
    )
    assert min(f["boundingBox"]["x1"] for f in faces) < 0  # a face cut by the left border keeps its box
    # The same photo at half size gives boxes at half the coordinates.
    full = _run(ctx, IMMICH_ENTRIES, _image())
    small = _image()
    half = _run(
        ctx,
        IMMICH_ENTRIES,
        ImagePayload(small.image.resize((small.width // 2, small.height // 2), Image.Resampling.LANCZOS)),
    )
    assert len(half) == len(full)
    for a, b in zip(
        sorted(full, key=lambda f: f["boundingBox"]["x1"]),
        sorted(half, key=lambda f: f["boundingBox"]["x1"]),
        strict=True,
    ):
        assert abs(a["boundingBox"]["x1"] / 2 - b["boundingBox"]["x1"]) <= 3


def test_detection_only_returns_the_detector_output(ctx):
    result = _run(
        ctx, '{"facial-recognition":{"detection":{"modelName":"buffalo_l","options":{"minScore":0.7}}}}', _image()
    )
    assert set(result) == {"boxes", "scores", "landmarks"} and len(result["boxes"]) == 6
    assert np.array(result["landmarks"]).shape == (6, 5, 2)


def test_text_payload_and_non_512_recognisers_are_refused(ctx, pack_root, sface):
    with pytest.raises(BadRequest):
        _run(ctx, IMMICH_ENTRIES, TextPayload("hello"))
    make_pack(pack_root / "sface_pack", scrfd_path(), sface, "immich")
    with pytest.raises(ModelError, match="128-d"):
        _run(ctx, IMMICH_ENTRIES.replace("buffalo_l", "sface_pack"), _image())


def test_predict_over_http_and_a_missing_pack(ctx):
    from litestar.testing import TestClient

    from plugin_service.app import create_app

    with TestClient(create_app(ctx=ctx)) as client:
        data = (require_shared() / T1).read_bytes()
        response = client.post(
            "/predict", data={"entries": IMMICH_ENTRIES}, files={"image": ("blob", data, "application/octet-stream")}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"facial-recognition", "imageHeight", "imageWidth"}
        assert (body["imageWidth"], body["imageHeight"]) == Image.open(io.BytesIO(data)).size
        assert len(body["facial-recognition"]) == 6
        assert '"x1":' in response.text and ".0," in response.text  # Immich's float-typed whole pixels
        missing = client.post(
            "/predict",
            data={"entries": IMMICH_ENTRIES.replace("buffalo_l", "antelopev2")},
            files={"image": ("blob", data, "application/octet-stream")},
        )
        assert missing.status_code == 500 and "antelopev2" in missing.json()["detail"]


def test_the_request_a_real_immich_sent_gets_an_immich_shaped_answer(ctx):
    """shared/immich-contract holds the bytes Immich v3.1.0 posted for facial-recognition; replay them."""
    from litestar.testing import TestClient

    from plugin_service.app import create_app
    from tests._paths import CONTRACT
    from tests.protocol.contract import check_faces, load_captures

    if not CONTRACT.is_dir():
        pytest.skip(f"no Immich captures at {CONTRACT}")
    captures = [c for c in load_captures() if c.task == "facial-recognition"]
    assert captures
    with TestClient(create_app(ctx=ctx)) as client:
        for capture in captures:
            response = client.post("/predict", content=capture.body, headers=capture.headers)
            assert response.status_code == 200, response.text
            check_faces(response.json(), *capture.image_size)
