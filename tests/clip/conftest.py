"""cn_clip models with random weights, exported once per session.

Real Chinese-CLIP weights cannot be downloaded here, so parity is checked on
seeded random weights of (a) a tiny configuration and (b) the real ViT-B-16
architecture: the ONNX path must reproduce cn_clip's own encoders on the same
weights.  Needs the ``torch`` extra (torch + cn_clip); skipped, saying so, without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from plugin_service.engines.clip.architectures import ClipArchitecture
from tests._paths import DATA

TINY = dict(
    embed_dim=32, image_resolution=32, vision_layers=2, vision_width=64, vision_patch_size=8,
    vocab_size=21128, text_attention_probs_dropout_prob=0.0, text_hidden_act="gelu", text_hidden_dropout_prob=0.0,
    text_hidden_size=64, text_initializer_range=0.02, text_intermediate_size=128, text_max_position_embeddings=64,
    text_num_attention_heads=2, text_num_hidden_layers=2, text_type_vocab_size=2,
)  # fmt: skip
TINY_ARCH = ClipArchitecture("tiny-test-clip", "tiny", "tiny@tiny", 32, 32, "")


def _need_torch():
    pytest.importorskip("torch", reason="the torch extra (torch, cn_clip) is not installed")
    pytest.importorskip("cn_clip", reason="the torch extra (torch, cn_clip) is not installed")


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    _need_torch()
    from plugin_service.engines.clip.export import build_model, export_onnx

    model = build_model(TINY, seed=1)
    out = tmp_path_factory.mktemp("tiny-clip")
    export_onnx(model, out, image_size=32)
    return model, out


@pytest.fixture(scope="session")
def vit_b16(tmp_path_factory):
    """The real ViT-B-16 architecture, random weights, laid out as the model store expects."""
    _need_torch()
    from plugin_service.engines.clip.architectures import ARCHITECTURES
    from plugin_service.engines.clip.export import build_model, export_onnx, model_config

    store = tmp_path_factory.mktemp("clip-store")
    model_dir = store / "clip" / "chinese-clip-vit-base-patch16"
    model = build_model(model_config(ARCHITECTURES["chinese-clip-vit-base-patch16"]), seed=7)
    export_onnx(model, model_dir, image_size=224)
    return model, store


def caption_pairs(limit: int) -> list[tuple[Image.Image, list[str]]]:
    subset = json.loads((DATA / "flickr30k_cn_subset.json").read_text(encoding="utf-8"))["images"][:limit]
    return [(Image.open(DATA / item["file"]).convert("RGB"), item["captions_zh"]) for item in subset]


def onnx_session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
