"""Replay what a real Immich v3.1.0 sent, byte for byte, and validate every field."""

from __future__ import annotations

import pytest

from tests._paths import CONTRACT
from tests.protocol.contract import check_clip, check_faces, check_ocr, load_captures

CAPTURES = load_captures() if CONTRACT.is_dir() else []


def test_captures_exist():
    if not CONTRACT.is_dir():
        pytest.skip(f"no captures at {CONTRACT}")
    assert {c.task for c in CAPTURES} == {"ocr", "facial-recognition", "clip"}


@pytest.mark.parametrize("capture", [c for c in CAPTURES if c.task == "ocr"], ids=lambda c: c.name)
def test_ocr_capture(client, capture):
    response = client.post("/predict", content=capture.body, headers=capture.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    check_ocr(response.json(), *capture.image_size)


@pytest.mark.parametrize("capture", [c for c in CAPTURES if c.task != "ocr"], ids=lambda c: c.name)
def test_clip_and_face_captures_answer_in_immich_shape_or_immich_error(client, capture):
    """Unpatched Immich asks for ViT-B-32__openai / buffalo_l: without those weights the
    answer must be Immich's 500 with a readable reason, never a malformed 200."""
    response = client.post("/predict", content=capture.body, headers=capture.headers)
    if response.status_code == 200:
        body = response.json()
        if capture.task == "clip":
            check_clip(body, capture.image_size)
        else:
            check_faces(body, *capture.image_size)
    else:
        assert response.status_code == 500
        detail = response.json()["detail"]
        model_name = next(iter(capture.entries[capture.task].values()))["modelName"]
        assert model_name in detail


def test_ocr_capture_with_real_text(client):
    """The same OCR request shape, on a photo that has text, returns it with boxes in reading order."""
    from io import BytesIO

    from tests.ocr.fonts import render_lines

    image = render_lines(["第一行 文字", "第二行"], size=48)
    buffer = BytesIO()
    image.save(buffer, "JPEG", quality=90)
    entries = (
        '{"ocr":{"detection":{"modelName":"PP-OCRv5_mobile","options":{"minScore":0.5,"maxResolution":736}},"recognition":'
        '{"modelName":"PP-OCRv5_mobile","options":{"minScore":0.8}}}}'
    )
    response = client.post(
        "/predict", data={"entries": entries}, files={"image": ("blob", buffer.getvalue(), "application/octet-stream")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    check_ocr(body, image.width, image.height)
    assert [t.replace(" ", "") for t in body["ocr"]["text"]] == ["第一行文字", "第二行"]
    box = body["ocr"]["box"]
    # TL, TR, BR, BL: x grows left→right on the top edge, y grows top→bottom on the right edge.
    assert box[0] < box[2] and box[3] < box[5] and box[6] < box[4]
    assert box[1] < box[9], "first line is above the second"
