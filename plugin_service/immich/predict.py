"""Run a parsed Immich ``/predict`` request on the local engines."""

from __future__ import annotations

import asyncio
import logging

from plugin_service.context import ServiceContext
from plugin_service.errors import ModelError, ServiceError
from plugin_service.immich.protocol import Entries, ImagePayload, Payload, TextPayload
from plugin_service.immich.tasks import HANDLERS
from plugin_service.runtime import ModelLoadError
from plugin_service.serving import Executors

log = logging.getLogger(__name__)


async def predict_local(ctx: ServiceContext, executors: Executors, entries: Entries, payload: Payload) -> dict[str, object]:
    """Answer ``entries`` for ``payload``; tasks of one request run concurrently."""
    unknown = [task for task in entries if task not in HANDLERS]
    if unknown:
        raise ModelError(f"Unknown model combination: no local engine for task(s) {', '.join(unknown)}")
    kind = "text" if isinstance(payload, TextPayload) else "image"
    names = list(entries)
    results = await asyncio.gather(
        *(executors.run(kind, _run_task, ctx, task, entries[task], payload) for task in names), return_exceptions=True
    )
    response: dict[str, object] = {}
    for task, result in zip(names, results):
        if isinstance(result, BaseException):
            raise result
        response[task] = result
    if isinstance(payload, ImagePayload):
        response["imageHeight"] = payload.height
        response["imageWidth"] = payload.width
    return response


def _run_task(ctx: ServiceContext, task: str, types, payload: Payload) -> object:
    try:
        return HANDLERS[task](ctx, types, payload)
    except ServiceError:
        raise
    except ModelLoadError as exc:
        raise ModelError(str(exc)) from exc
