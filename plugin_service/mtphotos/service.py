"""MT Photos results from the engines, in the reference servers' JSON shapes.  No HTTP in here.

References: MT-Photos/mt-photos-ai ``onnx/server.py`` (OCR, CLIP) and
kqstone/mt-photos-insightface-unofficial ``server.py`` (faces).  Their quirks
are kept on purpose, because MT Photos parses exactly these shapes: OCR
numbers are strings (``"0.98"``, ``"4.0"``), CLIP floats are strings with 16
decimals, face boxes are integers ``x, y, w, h`` truncated like ``int()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
from PIL import Image

from plugin_service.context import ServiceContext
from plugin_service.engines.clip.loader import image_encoder, text_encoder
from plugin_service.engines.faces.loader import get_face_model
from plugin_service.engines.ocr import OcrOptions, TextLine, get_ocr_model
from plugin_service.errors import ModelLoadError, ServiceError
from plugin_service.imaging import to_array

T = TypeVar("T")


# The configuration bench/ocr.py measures as "ours" for the CLI and this API: the engine's
# defaults and the single-line fallback, since MT Photos also sends small crops and screenshots.
# mt-photos-ai itself ran RapidOCR's defaults (text score 0.5), which keeps more misread lines.
def ocr_options(ctx: ServiceContext) -> OcrOptions:
    return OcrOptions(single_line_fallback=True, use_angle_classifier=ctx.settings.ocr_use_angle_classifier)


class Refused(Exception):
    """A request the reference answers with ``{"result": [], "msg": …}`` (HTTP 200)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def refused_upload(exc: ServiceError, filename: str | None) -> Refused:
    name = f"{filename} " if filename else ""
    return Refused(f"The uploaded file {name}is not a valid image format or is corrupted: {exc.message}")


def check_size(ctx: ServiceContext, image: Image.Image) -> Image.Image:
    limit = ctx.settings.mt_photos_max_side
    if image.width > limit or image.height > limit:
        raise Refused("height or width out of range")
    return image


def ocr(ctx: ServiceContext, image: Image.Image) -> dict[str, list]:
    model = _load(lambda: get_ocr_model(ctx, ctx.settings.ocr_default_model))
    return ocr_result(model.read(to_array(image), ocr_options(ctx)))


def ocr_result(lines: list[TextLine]) -> dict[str, list]:
    texts, scores, boxes = [], [], []
    for line in lines:
        (x0, y0), (x1, _), (_, y2), _ = line.box  # TL, TR, BR, BL, as RapidOCR gives them
        boxes.append({"x": _fixed(x0), "y": _fixed(y0), "width": _fixed(x1 - x0), "height": _fixed(y2 - y0)})
        texts.append(line.text)
        scores.append(f"{line.text_score:.2f}")
    return {"texts": texts, "scores": scores, "boxes": boxes}


def _fixed(value: float) -> str:
    """mt-photos-ai's ``to_fixed``: ``str(round(v, 2))``, so whole numbers read ``"4.0"``."""
    return str(round(float(value), 2))


def clip_image(ctx: ServiceContext, image: Image.Image) -> list[str]:
    name = _clip_model(ctx)
    return _clip_strings(_load(lambda: image_encoder(ctx, name).encode(image)))


def clip_text(ctx: ServiceContext, text: str) -> list[str]:
    name = _clip_model(ctx)
    return _clip_strings(_load(lambda: text_encoder(ctx, name).encode([text])[0]))


def _clip_model(ctx: ServiceContext) -> str:
    if not ctx.settings.mt_photos_clip_model:
        raise Refused("No CLIP model configured: set PLUGIN_SERVICE_MT_PHOTOS_CLIP_MODEL")
    return ctx.settings.mt_photos_clip_model


def _clip_strings(vector: np.ndarray) -> list[str]:
    # Each float32 at its shortest round-trip value (what Immich's /predict sends), printed the
    # reference's way with 16 decimals.
    return [f"{float(str(v)):.16f}" for v in np.asarray(vector, dtype=np.float32).reshape(-1)]


def represent(ctx: ServiceContext, image: Image.Image) -> dict[str, object]:
    name = ctx.settings.mt_photos_face_model
    model = _load(lambda: get_face_model(ctx, name))
    faces = model.analyse(to_array(image), ctx.settings.mt_photos_face_min_score)
    return {
        "detector_backend": "insightface",
        "recognition_model": name,
        "result": [
            {
                "embedding": [float(v) for v in np.asarray(face.embedding, dtype=np.float64)],
                "facial_area": {
                    "x": int(face.box[0]),
                    "y": int(face.box[1]),
                    "w": int(face.box[2] - face.box[0]),
                    "h": int(face.box[3] - face.box[1]),
                },
                "face_confidence": face.score,
            }
            for face in faces
        ],
    }


def _load(call: Callable[[], T]) -> T:
    try:
        return call()
    except ModelLoadError as exc:
        raise Refused(f"model '{exc.model}' cannot be used: {exc.reason}") from exc
    except ServiceError as exc:
        raise Refused(exc.message) from exc
