"""Immich v3.1.0 ML wire types: the ``entries`` grammar and the payloads.

See shared/research/immich-ml-protocol.md §1.3–1.5.  Parsing here is strict
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


def parse_entries(raw: str | bytes, *, known_tasks: tuple[str, ...] | None = None) -> Entries:
    """Decode and check an ``entries`` form field.

    ``known_tasks`` limits the tasks accepted (a gateway passes ``None`` to let
    unknown tasks through to an upstream).
    """
    try:
        entries = _entries_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidRequestFormat(f"Invalid request format: {exc}") from exc
    if not entries:
        raise InvalidRequestFormat("Invalid request format: entries is empty")
    for task, types in entries.items():
        if known_tasks is not None and task not in known_tasks:
            raise ModelError(f"Unknown model combination: task {task!r} is not one of {', '.join(known_tasks)}")
        allowed = TASK_TYPES.get(task)
        if not types:
            raise InvalidRequestFormat(f"Invalid request format: task {task!r} has no model types")
        for model_type, entry in types.items():
            if allowed is not None and model_type not in allowed:
                raise ModelError(f"Unknown model combination: {task}/{model_type} (valid types: {', '.join(allowed)})")
            if not entry.modelName.strip():
                raise InvalidRequestFormat(f"Invalid request format: {task}/{model_type} has an empty modelName")
            needed = DEPENDS_ON.get((task, model_type))
            if needed and needed not in types:
                raise BadRequest(f"Task {task}/{model_type} depends on output of {task}/{needed}")
    return entries


@dataclass(frozen=True)
class ImagePayload:
    """A decoded RGB image as Immich sent it (no EXIF rotation: the preview is upright)."""

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
