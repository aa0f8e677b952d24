"""Turning uploaded bytes into an RGB image, safely.

Immich sends its preview (JPEG or WebP, already upright), so no EXIF rotation
is applied: boxes must be in the coordinate space of the bytes received.
Other clients (MT Photos, the CLI) may send anything Pillow reads: CMYK,
16-bit, palette, alpha and greyscale images are all converted to 8-bit RGB,
with transparent areas composited onto white, or onto black when the opaque
content is light (white text on a transparent background must stay readable).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from plugin_service.errors import BadRequest, PayloadTooLarge

try:  # HEIC/AVIF from phones, when the optional plugin is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - optional
    pass


def decode_image(data: bytes, max_pixels: int = 100_000_000, *, exif_transpose: bool = False) -> Image.Image:
    """Decode ``data`` into an RGB ``PIL.Image``.

    Raises ``BadRequest`` for empty or undecodable bytes and zero-sized images,
    ``PayloadTooLarge`` for images over ``max_pixels`` (decompression bombs are
    refused before their pixels are decoded).
    """
    if not data:
        raise BadRequest("Image is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise PayloadTooLarge(f"Image of {width}x{height} pixels exceeds the limit of {max_pixels} pixels")
            image.load()
    except PayloadTooLarge:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PayloadTooLarge(f"Image refused as a decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise BadRequest("Image could not be decoded: unknown or corrupt image format") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadRequest(f"Image could not be decoded: {exc}") from exc
    if image.width == 0 or image.height == 0:
        raise BadRequest("Image has zero width or height")
    if exif_transpose:
        image = ImageOps.exif_transpose(image)
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of clipping to white.
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() or 1.0
        return Image.fromarray((array * (255.0 / peak)).astype(np.uint8), "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _contrasting_background(rgba))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def to_array(image: Image.Image) -> np.ndarray:
    """H×W×3 uint8 RGB array."""
    return np.asarray(to_rgb(image), dtype=np.uint8)


def _contrasting_background(rgba: Image.Image) -> tuple[int, int, int, int]:
    pixels = np.asarray(rgba)
    opaque = pixels[pixels[:, :, 3] > 127][:, :3]
    if len(opaque) and opaque.mean() > 160:
        return (0, 0, 0, 255)
    return (255, 255, 255, 255)
