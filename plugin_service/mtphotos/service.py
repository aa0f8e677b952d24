"""MT Photos results from the engines, in the reference servers' JSON shapes.  No HTTP in here.

References: MT-Photos/mt-photos-ai ``onnx/server.py`` (OCR, CLIP) and
kqstone/mt-photos-insightface-unofficial ``server.py`` (faces).  Their quirks
are kept on purpose, because MT Photos parses exactly these shapes: OCR
numbers are strings (``"0.98"``, ``"4.0"``), CLIP floats are strings with 16
decimals, face boxes are integers ``x, y, w, h`` truncated like ``int()``.
"""

from __future__ import annotations

import numpy as np
import orjson
from PIL import Image

from plugin_service.context import ServiceContext
from plugin_service.engines.faces.loader import get_face_model
from plugin_service.engines.ocr import OcrOptions, TextLine
from plugin_service.engines.ocr_loader import get_ocr_model
from plugin_service.errors import ServiceError
from plugin_service.imaging import decode_image, to_array
from plugin_service.runtime import ModelLoadError

# The configuration bench/ocr.py measures as "ours" for the CLI and this API: Immich's
# thresholds (box 0.5, text > 0.8, shorter side ≤ 736 px) and the single-line fallback, since
# MT Photos also sends small crops and screenshots. mt-photos-ai itself ran RapidOCR's
# defaults (text score 0.5), which keeps more misread lines.
def ocr_options(ctx: ServiceContext) -> OcrOptions:
    return OcrOptions(
        det_min_score=0.5,
        max_resolution=736,
        rec_min_score=0.8,
        single_line_fallback=True,
        use_angle_classifier=ctx.settings.ocr_use_angle_classifier,
    )


class Refused(Exception):
    """A request the reference answers with ``{"result": [], "msg": …}`` (HTTP 200)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def decode_upload(ctx: ServiceContext, data: bytes, filename: str | None = None) -> Image.Image:
    try:
        image = decode_image(data, ctx.settings.max_image_pixels)
    except ServiceError as exc:
        raise Refused(f"The uploaded file {filename or ''} is not a valid image format or is corrupted: {exc.message}".replace("  ", " ")) from exc
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
    from plugin_service.immich.protocol import ImagePayload

    return _clip(ctx, "visual", ImagePayload(image))


def clip_text(ctx: ServiceContext, text: str) -> list[str]:
    from plugin_service.immich.protocol import TextPayload

    return _clip(ctx, "textual", TextPayload(text))


def _clip(ctx: ServiceContext, model_type: str, payload) -> list[str]:
    """Through the Immich ``clip`` task: the one public entry of the CLIP engine, so both APIs give the same vectors."""
    from plugin_service.immich.protocol import ModelEntry
    from plugin_service.immich.tasks import HANDLERS

    name = ctx.settings.mt_photos_clip_model
    if not name:
        raise Refused("No CLIP model configured: set PLUGIN_SERVICE_MT_PHOTOS_CLIP_MODEL")
    embedding = _load(lambda: HANDLERS["clip"](ctx, {model_type: ModelEntry(name)}, payload))
    vector = orjson.loads(embedding) if isinstance(embedding, (str, bytes)) else embedding
    return ["{:.16f}".format(float(v)) for v in vector]


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
                "facial_area": {"x": int(face.box[0]), "y": int(face.box[1]), "w": int(face.box[2] - face.box[0]), "h": int(face.box[3] - face.box[1])},
                "face_confidence": face.score,
            }
            for face in faces
        ],
    }


def _load(call):
    try:
        return call()
    except (ModelLoadError, ServiceError) as exc:
        raise Refused(getattr(exc, "message", None) or str(exc)) from exc
