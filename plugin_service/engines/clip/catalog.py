"""Chinese-CLIP model files.

Layout of a model in the store: ``clip/<name>/visual/model.onnx`` and
``textual/model.onnx`` (fp32; quantised siblings ``model.int8.onnx`` /
``model.fp16.onnx`` are made locally by ``plugin-service clip export``).

Where the files come from:
* ``chinese-clip-vit-base-patch16``: ready ONNX exports of the official recipe
  on Hugging Face (``eisneim/cn-clip_vit-b-16``), the same files MT Photos
  users download by hand (``plugin-service clip import-mtphotos`` takes
  those too);
* every model: ``plugin-service clip export NAME`` downloads the official
  checkpoint (``OFA-Sys/<name>`` on Hugging Face, ``AI-ModelScope/<name>`` on
  ModelScope) and converts it with cn_clip + torch (the ``torch`` extra).

No checksum is pinned: none of these files could be read from the machines
this was written on, and an invented checksum is worse than none.  The store
downloads them over HTTPS and records what it got (docs/clip.md).
"""

from __future__ import annotations

from plugin_service.engines.clip.architectures import ARCHITECTURES
from plugin_service.store.catalog import Catalog, ModelFile, ModelSpec, Source

VISUAL = "visual/model.onnx"
TEXTUAL = "textual/model.onnx"
LICENSE = "MIT (OFA-Sys/Chinese-CLIP weights)"

# Ready-made ONNX exports (official recipe: inputs image/text, unnormalised outputs, batch 1).
_READY_ONNX = {
    "chinese-clip-vit-base-patch16": ("eisneim/cn-clip_vit-b-16", "vit-b-16.img.fp32.onnx", "vit-b-16.txt.fp32.onnx"),
}


def _spec(name: str) -> ModelSpec:
    arch = ARCHITECTURES[name]
    ready = _READY_ONNX.get(name)
    visual_sources: tuple[Source, ...] = ()
    textual_sources: tuple[Source, ...] = ()
    if ready:
        repo, image_file, text_file = ready
        visual_sources = (Source(kind="huggingface", repo=repo, path=image_file, revision="main"),)
        textual_sources = (Source(kind="huggingface", repo=repo, path=text_file, revision="main"),)
    return ModelSpec(
        name=name,
        task="clip",
        files=(
            ModelFile(path=VISUAL, sha256="", sources=visual_sources),
            ModelFile(path=TEXTUAL, sha256="", sources=textual_sources),
        ),
        description=f"Chinese-CLIP {arch.arch} ({arch.embed_dim}-d, {arch.image_size}px)",
        license=LICENSE,
        info={
            "embed_dim": arch.embed_dim,
            "image_size": arch.image_size,
            "checkpoint": [
                {"kind": "huggingface", "repo": f"OFA-Sys/{name}", "path": arch.checkpoint},
                {"kind": "modelscope", "repo": f"AI-ModelScope/{name}", "path": arch.checkpoint},
            ],
        },
    )


def checkpoint_spec(name: str) -> ModelSpec:
    """The official PyTorch checkpoint of ``name`` (input to ``plugin-service clip export``)."""
    arch = ARCHITECTURES[name]
    return ModelSpec(
        name=f"{name}-checkpoint",
        task="clip",
        files=(
            ModelFile(
                path=arch.checkpoint,
                sha256="",
                sources=(
                    Source(kind="huggingface", repo=f"OFA-Sys/{name}", path=arch.checkpoint, revision="main"),
                    Source(kind="modelscope", repo=f"AI-ModelScope/{name}", path=arch.checkpoint, revision="master"),
                ),
            ),
        ),
        description=f"official Chinese-CLIP {arch.arch} PyTorch checkpoint",
        license=LICENSE,
    )


CLIP_MODELS: tuple[ModelSpec, ...] = tuple(_spec(name) for name in ARCHITECTURES)
CLIP_CATALOG = Catalog(CLIP_MODELS)
