"""Immich task handlers: one module per task, each a thin translation from
Immich's entries/options to an engine call and back to Immich's JSON shape.

A handler is ``run(ctx, types, payload) -> JSON value`` and runs in a worker
thread (it may block).  Its return value becomes ``response[task]``.
Embeddings are serialised with ``plugin_service.immich.embedding.embedding_string``.
"""

from __future__ import annotations

from collections.abc import Callable

from plugin_service.context import ServiceContext
from plugin_service.immich.protocol import ModelEntry, Payload
from plugin_service.immich.tasks import clip, faces, ocr

TaskHandler = Callable[[ServiceContext, dict[str, ModelEntry], Payload], object]

HANDLERS: dict[str, TaskHandler] = {
    "ocr": ocr.run,
    "clip": clip.run,
    "facial-recognition": faces.run,
}
