"""The ONNX path reproduces cn_clip's own encode_image / encode_text (normalised) on the same weights."""

from __future__ import annotations

import numpy as np
import pytest

from plugin_service.engines.clip.architectures import ARCHITECTURES
from plugin_service.engines.clip.encoder import ImageEncoder, TextEncoder, preprocess
from plugin_service.engines.clip.export import torch_features
from plugin_service.engines.clip.tokenizer import ClipTokenizer
from tests._paths import require_shared
from tests.clip.conftest import TINY_ARCH, caption_pairs, onnx_session


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def test_tiny_configuration_parity(tiny_clip):
    require_shared()
    model, out = tiny_clip
    images = ImageEncoder(onnx_session(out / "visual/model.onnx"), TINY_ARCH)
    texts = TextEncoder(onnx_session(out / "textual/model.onnx"), TINY_ARCH)
    for image, captions in caption_pairs(6):
        ours = images.encode(image)
        reference = torch_features(model, image_tensor=preprocess(image, 32))[0]
        assert cosines(ours, reference) >= 0.9999
        ours_t = texts.encode(captions)
        reference_t = torch_features(model, text_ids=ClipTokenizer()(captions))
        assert np.all(cosines(ours_t, reference_t) >= 0.9999)
        assert np.allclose(np.linalg.norm(ours_t, axis=1), 1.0, atol=1e-5)


def test_vit_b16_real_architecture_parity(vit_b16):
    require_shared()
    model, store = vit_b16
    arch = ARCHITECTURES["chinese-clip-vit-base-patch16"]
    model_dir = store / "clip" / arch.name
    images = ImageEncoder(onnx_session(model_dir / "visual/model.onnx"), arch)
    texts = TextEncoder(onnx_session(model_dir / "textual/model.onnx"), arch)
    worst = 1.0
    for image, captions in caption_pairs(4):
        ours = images.encode(image)
        assert ours.shape == (512,)
        worst = min(worst, float(cosines(ours, torch_features(model, image_tensor=preprocess(image, 224))[0])))
        ours_t = texts.encode(captions)
        worst = min(worst, float(cosines(ours_t, torch_features(model, text_ids=ClipTokenizer()(captions))).min()))
    assert worst >= 0.9999, worst


def test_batched_text_equals_one_by_one(tiny_clip):
    model, out = tiny_clip
    texts = TextEncoder(onnx_session(out / "textual/model.onnx"), TINY_ARCH)
    batch = texts.encode(["红色的汽车", "a red car", "春节"])
    single = np.stack([texts.encode([t])[0] for t in ["红色的汽车", "a red car", "春节"]])
    assert np.allclose(batch, single, atol=1e-5)


def test_wrong_dimension_graph_is_refused(tiny_clip):
    _, out = tiny_clip
    with pytest.raises(ValueError, match="32-d features"):
        ImageEncoder(onnx_session(out / "visual/model.onnx"), ARCHITECTURES["chinese-clip-vit-base-patch16"])
