"""Chinese-CLIP image and text encoders on onnxruntime.  No HTTP, no torch.

A model directory holds ``visual/model.onnx`` and ``textual/model.onnx``
(fp32; ``model.int8.onnx`` / ``model.fp16.onnx`` beside them when exported),
both taking one input (``image`` float32 N×3×S×S, ``text`` int64 N×52) and
returning unnormalised features, as the official export recipe and MT Photos'
files do.  Outputs here are L2-normalised.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from plugin_service.engines.clip.architectures import MEAN, STD, ClipArchitecture
from plugin_service.engines.clip.tokenizer import ClipTokenizer
from plugin_service.imaging import SIXTEEN_BIT_MODES

_MEAN = np.array(MEAN, dtype=np.float32).reshape(3, 1, 1)
_STD = np.array(STD, dtype=np.float32).reshape(3, 1, 1)


def preprocess(image: Image.Image, size: int) -> np.ndarray:
    """cn_clip's ``image_transform(size)`` on any Pillow image; 1×3×S×S float32.

    cn_clip composes torchvision's ``Resize((S, S), BICUBIC)`` (on a PIL image: ``image.resize``
    in the image's own mode, so Pillow uses NEAREST for 1-bit and palette images and resizes
    RGBA/LA premultiplied), then ``image.convert("RGB")`` (alpha dropped: fully transparent areas
    come out black), ``ToTensor`` (÷255) and ``Normalize`` with CLIP's mean and std.  The same
    calls, in the same order, here: tests/clip/test_preprocess.py runs cn_clip's own transform.

    One deliberate difference: 16-bit (and 32-bit integer) greyscale, which Pillow's ``convert``
    clips at 255 (a 16-bit photo comes out white), is scaled to 8 bits over the full 16-bit range
    (docs/clip.md).  The scaling is done after the resize, on S×S pixels.
    """
    resized = image.resize((size, size), Image.Resampling.BICUBIC)
    rgb = _sixteen_bit_to_rgb(resized) if resized.mode in SIXTEEN_BIT_MODES else resized.convert("RGB")
    array = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return ((array - _MEAN) / _STD)[np.newaxis].astype(np.float32)


def _sixteen_bit_to_rgb(image: Image.Image) -> Image.Image:
    """0..65535 → 0..255 (rounded); a 32-bit image with larger values is scaled by its peak."""
    values = np.asarray(image, dtype=np.float64)
    top = max(65535.0, float(values.max(initial=0)))
    return Image.fromarray(np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8), "L").convert("RGB")


def normalise_rows(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=-1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def _fixed_batch_of_one(session) -> bool:
    # The official recipe exports without dynamic axes: batch size 1 only.
    return session.get_inputs()[0].shape[0] == 1


class ImageEncoder:
    def __init__(self, session, architecture: ClipArchitecture):
        self.session = session
        self.architecture = architecture
        self._input = session.get_inputs()[0].name
        self._check_output()

    def _check_output(self) -> None:
        dim = self.session.get_outputs()[0].shape[-1]
        if isinstance(dim, int) and dim != self.architecture.embed_dim:
            raise ValueError(
                f"visual model outputs {dim}-d features, "
                f"{self.architecture.name} must give {self.architecture.embed_dim}"
            )

    def encode(self, image: Image.Image) -> np.ndarray:
        tensor = preprocess(image, self.architecture.image_size)
        return normalise_rows(self.session.run(None, {self._input: tensor})[0])[0]


class TextEncoder:
    def __init__(self, session, architecture: ClipArchitecture, tokenizer: ClipTokenizer | None = None):
        self.session = session
        self.architecture = architecture
        self.tokenizer = tokenizer or ClipTokenizer()
        self._input = session.get_inputs()[0].name
        self._one_at_a_time = _fixed_batch_of_one(session)

    def encode(self, texts: list[str]) -> np.ndarray:
        ids = self.tokenizer(texts)
        if self._one_at_a_time:
            rows = [self.session.run(None, {self._input: ids[i : i + 1]})[0] for i in range(len(ids))]
            return normalise_rows(np.concatenate(rows))
        return normalise_rows(self.session.run(None, {self._input: ids})[0])
