"""Immich v3.1.0 ML wire types: the ``entries`` grammar and the payloads.

Parsing here is strict
about what Immich treats as errors and lenient about what it ignores (unknown
option keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from PIL import Image

from plugin_service.errors import BadRequest, InvalidRequestFormat, ModelError

# task -> allowed types, and which type needs another type's output first.
TASK_TYPES: dict[str, tuple[str, ...]] = {
    "clip": ("visual", "textual"),
    "facial-recognition": ("detection", "recognition"),
    "ocr": ("detection", "recognition"),
}
DEPENDS_ON: dict[tuple[str, str], str] = {
    ("facial-recognition", "recognition"): "detection",
    ("ocr", "recognition"): "detection",
}


class ModelEntry(msgspec.Struct, frozen=True):
    modelName: str
    options: dict[str, Any] = {}


Entries = dict[str, dict[str, ModelEntry]]

_entries_decoder = msgspec.json.Decoder(Entries)


# Immich's entries are a few hundred bytes; names longer than this are junk, not models.
MAX_ENTRIES_BYTES = 64 * 1024
MAX_NAME_CHARS = 256


def parse_entries(raw: str | bytes) -> Entries:
    """Decode and check an ``entries`` form field.

    Unknown tasks pass (a gateway may route them upstream); whoever answers
    decides whether it knows them.
    """
    if len(raw) > MAX_ENTRIES_BYTES:
        raise InvalidRequestFormat(
            f"Invalid request format: entries is {len(raw)} bytes; the limit is {MAX_ENTRIES_BYTES}"
        )
    try:
        entries = _entries_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidRequestFormat(f"Invalid request format: {exc}") from exc
    except RecursionError as exc:
        raise InvalidRequestFormat("Invalid request format: entries is nested too deeply") from exc
    if not entries:
        raise InvalidRequestFormat("Invalid request format: entries is empty")
    for task, types in entries.items():
        if len(task) > MAX_NAME_CHARS:
            raise InvalidRequestFormat(
                f"Invalid request format: a task name is longer than {MAX_NAME_CHARS} characters"
            )
        allowed = TASK_TYPES.get(task)
        if not types:
            raise InvalidRequestFormat(f"Invalid request format: task {task!r} has no model types")
        for model_type, entry in types.items():
            if allowed is not None and model_type not in allowed:
                raise ModelError(f"Unknown model combination: {task}/{model_type} (valid types: {', '.join(allowed)})")
            if not entry.modelName.strip():
                raise InvalidRequestFormat(f"Invalid request format: {task}/{model_type} has an empty modelName")
            if len(entry.modelName) > MAX_NAME_CHARS or len(model_type) > MAX_NAME_CHARS:
                raise InvalidRequestFormat(
                    f"Invalid request format: a model name is longer than {MAX_NAME_CHARS} characters"
                )
            needed = DEPENDS_ON.get((task, model_type))
            if needed and needed not in types:
                raise BadRequest(f"Task {task}/{model_type} depends on output of {task}/{needed}")
    return entries


@dataclass(frozen=True)
class ImagePayload:
    """A decoded image in the file's own mode, as Immich sent it (no EXIF rotation: the preview is
    upright); engines convert it (``imaging.to_rgb`` for OCR and faces, the CLIP engine its own way)."""

    image: Image.Image

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height


@dataclass(frozen=True)
class TextPayload:
    text: str


Payload = ImagePayload | TextPayload
