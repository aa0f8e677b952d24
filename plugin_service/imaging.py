"""Turning uploaded bytes into images, safely.

``decode_image`` gives the decoded image in the mode the file has (1, L, P, LA, RGBA, CMYK,
I;16, F...): each engine converts it its own way.  CLIP follows cn_clip's transform (resize in
the image's own mode, then RGB; ``engines/clip/encoder.py``); OCR and faces use ``to_rgb``,
which composites transparent areas onto white, or onto black when the opaque content is light
(white text on a transparent background must stay readable), and scales 16-bit images to 8 bits.

Immich sends its preview (JPEG or WebP, already upright), so no EXIF rotation is applied: boxes
must be in the coordinate space of the bytes received.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from plugin_service.errors import BadRequest, PayloadTooLarge

try:  # HEIC/AVIF from phones, when the optional plugin is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - optional
    pass

# One pixel limit: PLUGIN_SERVICE_MAX_IMAGE_PIXELS, checked by decode_image from the header before any
# pixel is decoded.  Pillow's own guard (a warning above 89 MP, an error above 179 MP) would otherwise
# refuse images the setting allows; every image the service decodes goes through decode_image.
Image.MAX_IMAGE_PIXELS = None

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def decode_image(data: bytes, max_pixels: int = 100_000_000, *, exif_transpose: bool = False) -> Image.Image:
    """Decode ``data`` into a loaded ``PIL.Image`` in the file's own mode (first frame).

    Raises ``BadRequest`` for empty or undecodable bytes and zero-sized images,
    ``PayloadTooLarge`` for images over ``max_pixels`` (refused before their pixels are decoded).
    """
    if not data:
        raise BadRequest("Image is empty")
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        _check_size(image, max_pixels)
        image.load()
        _check_size(image, max_pixels)  # a few formats (ICO, JPEG drafts) settle their size on load
    except PayloadTooLarge:
        raise
    except Image.DecompressionBombError as exc:  # only if someone re-enabled Pillow's guard
        raise PayloadTooLarge(f"Image refused as a decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise BadRequest("Image could not be decoded: unknown or corrupt image format") from exc
    except MemoryError as exc:
        raise PayloadTooLarge("Image could not be decoded: not enough memory for it") from exc
    except Exception as exc:  # noqa: BLE001 - Pillow's decoders raise many kinds of error on corrupt input
        raise BadRequest(f"Image could not be decoded: corrupt or truncated {image_format(data)} data") from exc
    if image.width == 0 or image.height == 0:
        raise BadRequest("Image has zero width or height")
    if exif_transpose:
        image = ImageOps.exif_transpose(image)
    return image


def _check_size(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise PayloadTooLarge(f"Image of {width}x{height} pixels exceeds the limit of {max_pixels} pixels")


def image_format(data: bytes) -> str:
    """A name for the format, from the first bytes (for messages; never raises)."""
    for magic, name in (
        (b"\x89PNG", "PNG"),
        (b"\xff\xd8", "JPEG"),
        (b"GIF8", "GIF"),
        (b"RIFF", "WebP"),
        (b"II*\x00", "TIFF"),
        (b"MM\x00*", "TIFF"),
        (b"BM", "BMP"),
    ):
        if data.startswith(magic):
            return name
    return "image"


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB for OCR and faces (see the module docstring)."""
    if image.mode == "RGB":
        return image
    return Image.fromarray(to_array(image), "RGB")


def to_array(image: Image.Image) -> np.ndarray:
    """H×W×3 uint8 RGB array for OCR and faces (see the module docstring).

    Converted a band of rows at a time into the one output array: converting a whole 88 Mpx image
    with Pillow, then handing it to numpy, held three full-size RGB copies at once (+820 MiB)."""
    if image.mode == "RGB":
        return np.asarray(image, dtype=np.uint8)
    convert = _band_converter(image)
    out = np.empty((image.height, image.width, 3), dtype=np.uint8)
    for top in range(0, image.height, _BAND_ROWS):
        band = image.crop((0, top, image.width, min(image.height, top + _BAND_ROWS)))
        out[top : top + band.height] = np.asarray(convert(band), dtype=np.uint8)
    return out


_BAND_ROWS = 256


def _band_converter(image: Image.Image):
    """A function turning a band of ``image`` into RGB the same way the whole image would be."""
    if image.mode in SIXTEEN_BIT_MODES:
        # 16/32-bit greyscale: scaled by the image's peak (instead of Pillow's clipping to white).
        peak = float(image.getextrema()[1])  # type: ignore[arg-type]  # one band: (low, high)
        scale = 255.0 / peak if peak > 0 else 0.0

        def scaled(band: Image.Image) -> Image.Image:
            values = np.asarray(band, dtype=np.float32) * scale
            return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L").convert("RGB")

        return scaled
    transparent = image.mode in ("RGBA", "LA", "PA", "RGBa") or (image.mode == "P" and "transparency" in image.info)
    if transparent:
        # One background for the whole image, judged on the whole image.
        colour = _contrasting_background(image)

        def composited(band: Image.Image) -> Image.Image:
            rgba = band.convert("RGBA")
            return Image.alpha_composite(Image.new("RGBA", rgba.size, colour), rgba).convert("RGB")

        return composited
    return lambda band: band.convert("RGB")


def _contrasting_background(image: Image.Image) -> tuple[int, int, int, int]:
    # Judged on a sample of at most 512x512 pixels: enough to tell light content from dark.
    if image.width * image.height > 512 * 512:
        image = image.resize((min(image.width, 512), min(image.height, 512)), Image.Resampling.NEAREST)
    pixels = np.asarray(image.convert("RGBA"))
    opaque = pixels[pixels[:, :, 3] > 127][:, :3]
    if len(opaque) and opaque.mean() > 160:
        return (0, 0, 0, 255)
    return (255, 255, 255, 255)
