"""Immich ``ocr`` task: options in Immich's terms → OCR engine → Immich's arrays."""

from __future__ import annotations

from typing import Any

from plugin_service.context import ServiceContext
from plugin_service.engines.ocr import OcrOptions, TextLine, get_ocr_model
from plugin_service.errors import BadRequest, InvalidRequestFormat
from plugin_service.imaging import to_array
from plugin_service.immich.protocol import ImagePayload, ModelEntry, Payload

# Immich ML's default when the server leaves recognition's minScore out (detection's are OcrOptions').
IMMICH_REC_MIN_SCORE = 0.9
_DEFAULTS = OcrOptions()


def run(ctx: ServiceContext, types: dict[str, ModelEntry], payload: Payload) -> dict[str, list]:
    if not isinstance(payload, ImagePayload):
        raise BadRequest("OCR needs an image")
    detection = types.get("detection")
    recognition = types.get("recognition")
    # The recogniser's name carries the language (CH__, EN__, …); the detector is shared.
    name = (recognition or detection).modelName  # type: ignore[union-attr]
    options = ocr_options(detection, recognition)
    model = get_ocr_model(ctx, name)
    lines = model.read(to_array(payload.image), options)
    if recognition is None:
        lines = [TextLine(line.box, line.box_score, "", 0.0) for line in lines]
    return immich_ocr_response(lines, payload.width, payload.height)


def ocr_options(detection: ModelEntry | None, recognition: ModelEntry | None) -> OcrOptions:
    det = detection.options if detection else {}
    rec = recognition.options if recognition else {}
    return OcrOptions(
        det_min_score=_number(det, "minScore", _DEFAULTS.det_min_score, "ocr.detection", 0.0, 1.0),
        max_resolution=int(
            _number(det, "maxResolution", _DEFAULTS.max_resolution, "ocr.detection", 1, 100_000, integer=True)
        ),
        rec_min_score=_number(rec, "minScore", IMMICH_REC_MIN_SCORE, "ocr.recognition", 0.0, 1.0),
    )


def immich_ocr_response(lines: list[TextLine], width: int, height: int) -> dict[str, list]:
    box: list[float] = []
    for line in lines:
        for x, y in line.box:
            box.extend((x / width, y / height))
    return {
        "box": box,
        "boxScore": [line.box_score for line in lines],
        "text": [line.text for line in lines],
        "textScore": [line.text_score for line in lines],
    }


def _number(
    options: dict[str, Any], key: str, default: float, where: str, low: float, high: float, integer: bool = False
) -> float:
    value = options.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and value != int(value)):
        kind = "an integer" if integer else "a number"
        raise InvalidRequestFormat(f"Invalid request format: {where}.options.{key} must be {kind}, got {value!r}")
    if not low <= value <= high:
        raise InvalidRequestFormat(
            f"Invalid request format: {where}.options.{key} must be between {low} and {high}, got {value!r}"
        )
    return float(value)
