"""Face packs under Immich's names: ``buffalo_l`` (Immich's default), ``buffalo_m``, ``buffalo_s``, ``antelopev2``.

Source: Immich's own Hugging Face repositories ``immich-app/<pack>``
(``detection/model.onnx`` + ``recognition/model.onnx``), the files Immich ML
downloads (via ``HF_ENDPOINT`` mirrors too).  Their sha256 are not pinned
here: none could be read on the machines this was written on, and an invented
checksum is worse than none.  Unpinned files are downloaded over HTTPS and
used as received (the store logs that they are unverified).

A pack already on disk in InsightFace's zip layout (``det_10g.onnx``,
``w600k_r50.onnx``, …) or Immich's is used from ``face_pack_dir`` instead;
see ``plugin_service/engines/faces/loader.py`` and docs/faces.md.

InsightFace's pretrained weights are licensed for non-commercial research
purposes only.
"""

from __future__ import annotations

from plugin_service.store.catalog import Catalog, ModelFile, ModelSpec, Source

DETECTION = "detection/model.onnx"
RECOGNITION = "recognition/model.onnx"
LICENSE = "InsightFace pretrained weights: non-commercial research purposes only"

# pack -> (detector, recogniser, the file names inside InsightFace's model-zoo zip)
_PACKS = {
    "buffalo_l": ("SCRFD-10GF", "ResNet50 @ WebFace600K", ("det_10g.onnx", "w600k_r50.onnx")),
    "buffalo_m": ("SCRFD-2.5GF", "ResNet50 @ WebFace600K", ("det_2.5g.onnx", "w600k_r50.onnx")),
    "buffalo_s": ("SCRFD-500MF", "MobileFaceNet @ WebFace600K", ("det_500m.onnx", "w600k_mbf.onnx")),
    "antelopev2": ("SCRFD-10GF", "ResNet100 @ Glint360K", ("scrfd_10g_bnkps.onnx", "glintr100.onnx")),
}


def _pack(name: str) -> ModelSpec:
    detector, recogniser, insightface_files = _PACKS[name]
    return ModelSpec(
        name=name,
        task="facial-recognition",
        files=tuple(
            ModelFile(
                path=path,
                sha256="",
                sources=(Source(kind="huggingface", repo=f"immich-app/{name}", path=path, revision="main"),),
            )
            for path in (DETECTION, RECOGNITION)
        ),
        description=f"InsightFace {name}: {detector} detector + {recogniser} ArcFace (512-d)",
        license=LICENSE,
        info={
            "embedding_dim": 512,
            "insightface_files": list(insightface_files),
            "insightface_zip": f"https://github.com/deepinsight/insightface/releases/download/model-zoo/{name}.zip",
        },
    )


FACE_MODELS: tuple[ModelSpec, ...] = tuple(_pack(name) for name in _PACKS)
FACE_CATALOG = Catalog(FACE_MODELS)
