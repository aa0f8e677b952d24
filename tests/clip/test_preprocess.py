"""CLIP preprocessing equals cn_clip's own transform, for every image mode Pillow opens.

The reference is ``cn_clip.clip.utils.image_transform`` itself: its Compose, its order, its
constants.  It is built from torchvision classes, and torchvision cannot be installed next to
the CPU torch wheel used here, so the four torchvision pieces it uses are re-implemented below
from torchvision's source, PIL path only (``transforms.py``, ``functional.py``,
``functional_pil.py``, v0.15-0.20): ``Resize`` on a PIL image is ``img.resize((w, h), mode)``,
``ToTensor`` is ``uint8 HWC -> float CHW / 255``, ``Normalize`` is ``(x - mean) / std``.
A test checks that cn_clip's function still composes exactly those.
"""

from __future__ import annotations

import inspect
import io
import math
import zlib

import numpy as np
import pytest
from PIL import Image

from plugin_service.engines.clip.encoder import preprocess
from plugin_service.imaging import SIXTEEN_BIT_MODES, decode_image

torch = pytest.importorskip("torch", reason="the torch extra (torch, cn_clip) is not installed")


class InterpolationMode:  # torchvision.transforms.InterpolationMode (the members cn_clip uses)
    BICUBIC = "bicubic"


_PIL_MODES = {InterpolationMode.BICUBIC: Image.Resampling.BICUBIC}


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img


class Resize:
    """torchvision Resize with a (h, w) size on a PIL image: F_pil.resize -> img.resize(size[::-1], mode)."""

    def __init__(self, size, interpolation=InterpolationMode.BICUBIC, max_size=None, antialias=True):
        assert isinstance(size, (tuple, list)) and len(size) == 2 and max_size is None
        self.size, self.interpolation = list(size), interpolation

    def __call__(self, img):
        assert isinstance(img, Image.Image)
        return img.resize(tuple(self.size[::-1]), _PIL_MODES[self.interpolation])


class ToTensor:
    """F.to_tensor for a PIL image (cn_clip converts to RGB first, so uint8)."""

    def __call__(self, pic):
        array = np.array(pic, np.uint8, copy=True)
        img = torch.from_numpy(array).view(pic.size[1], pic.size[0], len(pic.getbands()))
        img = img.permute((2, 0, 1)).contiguous()
        return img.to(dtype=torch.get_default_dtype()).div(255)


class Normalize:
    def __init__(self, mean, std, inplace=False):
        self.mean, self.std = mean, std

    def __call__(self, tensor):
        mean = torch.as_tensor(self.mean, dtype=tensor.dtype)
        std = torch.as_tensor(self.std, dtype=tensor.dtype)
        return tensor.clone().sub_(mean[:, None, None]).div_(std[:, None, None])


@pytest.fixture(scope="module")
def cn_clip_transform():
    from plugin_service.engines.clip.export import import_cn_clip

    import_cn_clip()
    from cn_clip.clip import utils

    saved = {name: getattr(utils, name) for name in ("Compose", "Resize", "ToTensor", "Normalize", "InterpolationMode")}
    for name, value in (
        ("Compose", Compose),
        ("Resize", Resize),
        ("ToTensor", ToTensor),
        ("Normalize", Normalize),
        ("InterpolationMode", InterpolationMode),
    ):
        setattr(utils, name, value)
    yield utils.image_transform
    for name, value in saved.items():
        setattr(utils, name, value)


def test_cn_clip_composes_what_the_reference_implements():
    from plugin_service.engines.clip.export import import_cn_clip

    import_cn_clip()
    from cn_clip.clip import utils

    source = inspect.getsource(utils.image_transform).replace(" ", "")
    assert "Resize((image_size,image_size),interpolation=InterpolationMode.BICUBIC)" in source
    assert (
        source.index("Resize(")
        < source.index("_convert_to_rgb")
        < source.index("ToTensor()")
        < source.index("Normalize(")
    )
    assert "image.convert('RGB')" in inspect.getsource(utils._convert_to_rgb).replace('"', "'")


def _random(mode: str, rng: np.random.Generator, size=(97, 61)) -> Image.Image:
    w, h = size
    if mode == "1":
        return Image.fromarray(rng.random((h, w)) > 0.5)
    if mode == "P":
        image = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).quantize(64)
        return image
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65535, (h, w), dtype=np.uint16))
    if mode == "I;16B":
        return Image.fromarray(rng.integers(0, 65535, (h, w), dtype=np.uint16)).convert("I;16B")
    if mode == "I":
        return Image.fromarray(rng.integers(0, 65535, (h, w), dtype=np.int32))
    if mode == "F":
        return Image.fromarray(rng.random((h, w), dtype=np.float32) * 300)
    bands = len(Image.new(mode, (1, 1)).getbands())
    data = rng.integers(0, 255, (h, w, bands), dtype=np.uint8)
    if mode in ("RGBA", "LA", "PA"):
        data[: h // 3, :, -1] = 0  # a fully transparent band, coloured underneath
        data[h // 3 : h // 2, :, -1] = 128
    if bands == 1:
        return Image.fromarray(data[:, :, 0], mode)
    return Image.frombytes(mode, (w, h), data.tobytes())


# (mode made, format saved as): everything Pillow writes and reads back for these modes
CASES = [
    ("1", "PNG"),
    ("1", "TIFF"),
    ("L", "PNG"),
    ("L", "JPEG"),
    ("P", "PNG"),
    ("P", "GIF"),
    ("P+transparency", "PNG"),
    ("RGB", "JPEG"),
    ("RGB", "PNG"),
    ("RGB", "WEBP"),
    ("RGBA", "PNG"),
    ("RGBA", "WEBP"),
    ("RGBA", "TIFF"),
    ("LA", "PNG"),
    ("LA", "TIFF"),
    ("PA", "TIFF"),
    ("CMYK", "JPEG"),
    ("CMYK", "TIFF"),
    ("YCbCr", "TIFF"),
    ("LAB", "TIFF"),
    ("I;16", "PNG"),
    ("I;16", "TIFF"),
    ("I;16B", "TIFF"),
    ("I", "TIFF"),
    ("I", "PNG"),
    ("F", "TIFF"),
]


def _encoded(mode: str, fmt: str) -> bytes | None:
    rng = np.random.default_rng(zlib.crc32(f"{mode}/{fmt}".encode()))
    if mode == "P+transparency":
        image = _random("P", rng)
        image.info["transparency"] = 3
    else:
        image = _random(mode, rng)
    buffer = io.BytesIO()
    try:
        image.save(buffer, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return buffer.getvalue()


def _decoded_cases():
    out = []
    for mode, fmt in CASES:
        data = _encoded(mode, fmt)
        if data is None:
            continue
        try:
            image = decode_image(data, 10_000_000)
        except Exception:  # noqa: BLE001 - a combination this Pillow cannot read back
            continue
        out.append((f"{mode}-as-{fmt}->{image.mode}", image))
    return out


DECODED = _decoded_cases()


def test_the_corpus_covers_the_modes_pillow_opens():
    opened = {image.mode for _, image in DECODED}
    assert {"1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "I", "F"} <= opened, opened


@pytest.mark.parametrize("name,image", DECODED, ids=[name for name, _ in DECODED])
@pytest.mark.parametrize("size", [224, 336])
def test_equals_cn_clip_transform(cn_clip_transform, name, image, size):
    ours = preprocess(image, size)
    assert ours.shape == (1, 3, size, size) and ours.dtype == np.float32
    if image.mode in SIXTEEN_BIT_MODES:
        pytest.skip("16-bit images differ on purpose: see test_sixteen_bit_is_scaled_not_clipped")
    reference = cn_clip_transform(size)(image).numpy()[np.newaxis]
    assert np.array_equal(ours, reference), f"max difference {np.abs(ours - reference).max()}"


def test_transparent_areas_are_black_as_in_cn_clip(cn_clip_transform):
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[:, :, :3] = 255  # white underneath, fully transparent
    ours = preprocess(Image.fromarray(rgba, "RGBA"), 224)
    black = preprocess(Image.new("RGB", (64, 64)), 224)
    assert np.array_equal(ours, black)


def test_sixteen_bit_is_scaled_not_clipped(cn_clip_transform):
    """The deliberate difference (docs/clip.md): Pillow clips 16-bit grey at 255, so cn_clip sees a
    white square; we scale 0..65535 to 0..255, which is what the same photo saved as 8 bits gives."""
    rng = np.random.default_rng(16)
    eight = rng.integers(0, 255, (80, 120), dtype=np.uint8)
    sixteen = Image.fromarray(eight.astype(np.uint16) * 257)  # the same picture, 16 bits
    as_eight_bit = cn_clip_transform(224)(Image.fromarray(eight, "L")).numpy()[np.newaxis]
    ours = preprocess(decode_image(_png(sixteen), 10_000_000), 224)
    assert np.abs(ours - as_eight_bit).max() < 0.03  # bicubic rounding at 16 bits before scaling
    cn_clip_way = cn_clip_transform(224)(sixteen).numpy()[np.newaxis]
    assert _cosine(cn_clip_way, as_eight_bit) < 0.9 < _cosine(ours, as_eight_bit)
    big = Image.fromarray(np.full((10, 10), 2_000_000, dtype=np.int32))  # 32-bit data: scaled by its peak
    assert np.allclose(preprocess(big, 32), preprocess(Image.new("L", (10, 10), 255), 32))


def test_ocr_conversion_is_unchanged():
    """to_rgb (OCR, faces) still composites transparency onto a contrasting background."""
    from plugin_service.imaging import to_rgb

    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[2:4, 2:4] = (0, 0, 0, 255)  # dark text on transparent
    assert np.asarray(to_rgb(Image.fromarray(rgba, "RGBA")))[0, 0].tolist() == [255, 255, 255]
    rgba[2:4, 2:4] = (255, 255, 255, 255)  # light text on transparent
    assert np.asarray(to_rgb(Image.fromarray(rgba, "RGBA")))[0, 0].tolist() == [0, 0, 0]
    grey = Image.fromarray(np.array([[0, 1000, 2000]], dtype=np.uint16))
    assert np.asarray(to_rgb(grey))[0, :, 0].tolist() == [0, 127, 255]  # OCR scales by the peak


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (math.sqrt(a @ a) * math.sqrt(b @ b)))
