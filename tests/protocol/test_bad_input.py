"""Every malformed request gets Immich's status and a readable message; the service keeps serving."""

from __future__ import annotations

import io

import pytest
from PIL import Image

OCR = (
    '{"ocr":{"detection":{"modelName":"PP-OCRv6_small","options":{"minScore":0.5,"maxResolution":736}},"recognition":'
    '{"modelName":"PP-OCRv6_small","options":{"minScore":0.8}}}}'
)


def jpeg(width=64, height=48, mode="RGB", fmt="JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), "white" if mode != "CMYK" else (0, 0, 0, 0)).save(buffer, fmt)
    return buffer.getvalue()


def post(client, entries=None, image=None, text=None):
    data = {}
    if entries is not None:
        data["entries"] = entries
    if text is not None:
        data["text"] = text
    files = {"image": ("blob", image, "application/octet-stream")} if image is not None else None
    return client.post("/predict", data=data, files=files)


@pytest.mark.parametrize(
    "entries",
    [
        "{not json",
        "[]",
        '"ocr"',
        "{}",
        '{"ocr":{}}',
        '{"ocr":{"detection":{"options":{}}}}',
        '{"ocr":{"detection":{"modelName":42}}}',
        '{"ocr":{"detection":{"modelName":""}}}',
        '{"ocr":{"detection":{"modelName":"PP-OCRv6_small","options":"fast"}}}',
        '{"ocr":{"detection":{"modelName":"PP-OCRv6_small","options":{"minScore":"high"}}}}',
        '{"ocr":{"detection":{"modelName":"PP-OCRv6_small","options":{"maxResolution":0}}}}',
        '{"ocr":{"detection":{"modelName":"PP-OCRv6_small","options":{"maxResolution":1.5}}}}',
    ],
)
def test_malformed_entries_are_422(client, entries):
    response = post(client, entries, image=jpeg())
    assert response.status_code == 422, response.text
    assert "Invalid request format" in response.json()["detail"]


def test_missing_entries_is_422(client):
    response = post(client, image=jpeg())
    assert response.status_code == 422
    assert "entries" in response.json()["detail"]


def test_missing_payload_is_400(client):
    response = post(client, OCR)
    assert response.status_code == 400
    assert response.json()["detail"] == "Either image or text must be provided"


def test_recognition_without_detection_is_400(client):
    response = post(client, '{"ocr":{"recognition":{"modelName":"PP-OCRv6_small"}}}', image=jpeg())
    assert response.status_code == 400
    assert "depends on output of ocr/detection" in response.json()["detail"]


@pytest.mark.parametrize(
    "entries, fragment",
    [
        ('{"ocr":{"visual":{"modelName":"PP-OCRv6_small"}}}', "ocr/visual"),
        ('{"speech":{"detection":{"modelName":"x"}}}', "speech"),
        (
            '{"ocr":{"detection":{"modelName":"PP-OCRv9_giant"},"recognition":{"modelName":"PP-OCRv9_giant"}}}',
            "PP-OCRv9_giant",
        ),
    ],
)
def test_unknown_task_type_or_model_is_500_with_reason(client, entries, fragment):
    response = post(client, entries, image=jpeg())
    assert response.status_code == 500
    assert fragment in response.json()["detail"]


def test_model_missing_offline_names_the_file(client):
    response = post(
        client,
        '{"ocr":{"detection":{"modelName":"PP-OCRv5_server"},"recognition":{"modelName":"PP-OCRv5_server"}}}',
        image=jpeg(),
    )
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert "Failed to load model 'PP-OCRv5_server'" in detail and "model.onnx" in detail and "offline" in detail


def test_text_payload_for_ocr_is_400(client):
    response = post(client, OCR, text="hello")
    assert response.status_code == 400


@pytest.mark.parametrize("image", [b"", b"not an image at all", jpeg()[:200], b"\x89PNG\r\n\x1a\n" + b"\0" * 64])
def test_empty_or_corrupt_image_is_400(client, image):
    response = post(client, OCR, image=image)
    assert response.status_code == 400, response.text
    assert "Image" in response.json()["detail"]


def test_decompression_bomb_is_413(client):
    # 10000×8000 = 80 Mpx of white PNG compresses to a few hundred KB; the limit here is 40 Mpx.
    response = post(client, OCR, image=jpeg(10000, 8000, "L", "PNG"))
    assert response.status_code == 413
    assert "pixels" in response.json()["detail"]


def test_oversized_body_is_413(client):
    response = post(client, OCR, image=b"\xff\xd8" + b"\0" * (9 * 1024 * 1024))
    assert response.status_code == 413
    # refused before the body was read: the client must not reuse the connection
    assert response.headers["connection"] == "close"


def test_over_long_text_is_413_and_closes_the_connection(client):
    response = post(client, '{"clip":{"textual":{"modelName":"chinese-clip-vit-base-patch16"}}}', text="北" * 70_000)
    assert response.status_code == 413 and "text" in response.json()["detail"]
    assert response.headers["connection"] == "close"


@pytest.mark.parametrize(
    "mode, fmt",
    [
        ("CMYK", "JPEG"),
        ("L", "PNG"),
        ("LA", "PNG"),
        ("RGBA", "PNG"),
        ("P", "PNG"),
        ("I;16", "PNG"),
        ("RGB", "WEBP"),
        ("1", "PNG"),
    ],
)
def test_unusual_image_modes_are_read(client, mode, fmt):
    response = post(client, OCR, image=jpeg(120, 90, mode, fmt))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["imageWidth"], body["imageHeight"]) == (120, 90)


def test_service_keeps_serving_after_errors(client):
    for _ in range(3):
        post(client, "{bad", image=b"junk")
    assert client.get("/ping").text == "pong"
    assert post(client, OCR, image=jpeg()).status_code == 200


def test_unknown_option_keys_are_ignored(client):
    entries = (
        '{"ocr":{"detection":{"modelName":"PP-OCRv6_small","options":{"minScore":0.5,"scoreMode":"slow","future":'
        '1}},"recognition":{"modelName":"PP-OCRv6_small"}}}'
    )
    assert post(client, entries, image=jpeg()).status_code == 200


def test_root_and_ping(client):
    assert client.get("/").json() == {"message": "Immich ML"}
    ping = client.get("/ping")
    assert ping.status_code == 200 and ping.text == "pong" and ping.headers["content-type"].startswith("text/plain")
