"""Answer ``/predict`` with this process's engines."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from plugin_service.context import ServiceContext
from plugin_service.errors import BadRequest, ModelError, ModelLoadError
from plugin_service.immich.predictor import PredictRequest
from plugin_service.immich.protocol import ImagePayload, ModelEntry, Payload, TextPayload
from plugin_service.immich.tasks import HANDLERS
from plugin_service.serving import Executors


class LocalPredictor:
    def __init__(self, ctx: ServiceContext, executors: Executors):
        self.ctx = ctx
        self.executors = executors

    async def predict(self, request: PredictRequest) -> dict[str, object]:
        """Tasks of one request run concurrently; an image is decoded off the event loop, once the
        executors' pixel budget has room for it, and held in memory only while its tasks run."""
        unknown = [task for task in request.entries if task not in HANDLERS]
        if unknown:
            raise ModelError(f"Unknown model combination: no local engine for task(s) {', '.join(unknown)}")
        if request.image is not None:
            async with self.executors.admitted_image(request.image, self.ctx.settings.max_image_pixels) as image:
                payload = ImagePayload(image)
                response = await self._run_tasks(request, payload)
                response["imageHeight"], response["imageWidth"] = payload.height, payload.width
                return response
        if request.text is None:
            raise BadRequest("Either image or text must be provided")
        return await self._run_tasks(request, TextPayload(request.text))

    async def _run_tasks(self, request: PredictRequest, payload: Payload) -> dict[str, object]:
        kind = "text" if isinstance(payload, TextPayload) else "image"
        names = list(request.entries)
        results = await asyncio.gather(
            *(self.executors.run(kind, _run_task, HANDLERS[t], self.ctx, request.entries[t], payload) for t in names),
            return_exceptions=True,
        )
        response: dict[str, object] = {}
        for task, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            response[task] = result
        return response


def _run_task(
    handler: Callable[[ServiceContext, dict[str, ModelEntry], Payload], object],
    ctx: ServiceContext,
    types: dict[str, ModelEntry],
    payload: Payload,
) -> object:
    try:
        return handler(ctx, types, payload)
    except ModelLoadError as exc:  # the one place a load failure becomes Immich's message
        raise ModelError(exc.immich_message) from exc
