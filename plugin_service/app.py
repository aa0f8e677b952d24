"""The Litestar application: Immich ML protocol, MT Photos API, gateway and operations endpoints.

The one decision made here is who answers ``/predict``: the gateway's
dispatcher when upstream pools are configured, else the local engines.  That
``Predictor`` is injected into the Immich routes; nothing downstream asks
which one it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException

from plugin_service.config import Settings, load_settings
from plugin_service.context import ServiceContext
from plugin_service.engines.clip.architectures import parse_aliases
from plugin_service.errors import ServiceError
from plugin_service.gateway import build_gateway
from plugin_service.immich import routes as immich_routes
from plugin_service.immich.local import LocalPredictor
from plugin_service.immich.predictor import Predictor, PredictRequest
from plugin_service.immich.protocol import ModelEntry
from plugin_service.mtphotos.routes import router as mtphotos_router
from plugin_service.serving import Executors

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, ctx: ServiceContext | None = None) -> Litestar:
    settings = settings or (ctx.settings if ctx else load_settings())
    ctx = ctx or ServiceContext.from_settings(settings)
    _check_clip_aliases(settings)
    executors = Executors.create(
        settings.effective_request_threads,
        pixel_budget=settings.effective_pixels_in_flight,
        nice=settings.inference_nice,
    )
    local = LocalPredictor(ctx, executors)
    gateway = build_gateway(settings, local, ctx.models)
    predictor: Predictor = gateway.dispatcher or local

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        evictor = asyncio.create_task(_evict_idle_models(ctx))
        try:
            await _preload(local, settings.preload)
            yield
        finally:
            evictor.cancel()
            executors.shutdown()

    handlers = [*immich_routes.route_handlers, mtphotos_router, *gateway.route_handlers]
    if gateway.secret:
        handlers += immich_routes.secret_prefixed_route_handlers
    return Litestar(
        route_handlers=handlers,
        dependencies={"predictor": Provide(lambda: predictor, use_cache=True, sync_to_thread=False)},
        signature_namespace={"Predictor": Predictor},
        state=State({"ctx": ctx, "executors": executors, "metrics": gateway.metrics}),
        lifespan=[lifespan, gateway.lifespan],
        middleware=gateway.middleware,
        exception_handlers={ServiceError: _service_error, HTTPException: _http_error, Exception: _unexpected_error},
        request_max_body_size=settings.max_body_bytes,
        # Logging is configured once by the process (``serve``); Litestar must not reset it.
        logging_config=None,
        debug=False,
    )


def _check_clip_aliases(settings: Settings) -> None:
    """Refuse bad aliases at start-up, and remind the admin that re-indexing is theirs to do."""
    for alias, target in parse_aliases(settings.clip_aliases).items():
        log.warning(
            "CLIP alias: requests for %s are answered by %s. Immich cannot tell: after changing what an alias "
            "points to, run Administration > Jobs > Smart Search > All to re-index.",
            alias,
            target,
        )


def _service_error(request: Request, exc: ServiceError) -> Response:
    if exc.status_code >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc.message)
    return Response({"detail": exc.message}, status_code=exc.status_code, headers=_closing(exc.status_code))


def _http_error(request: Request, exc: HTTPException) -> Response:
    # Litestar's own errors (body too large, malformed multipart) in FastAPI's {"detail": …} shape.
    return Response({"detail": exc.detail}, status_code=exc.status_code, headers=_closing(exc.status_code))


def _closing(status_code: int) -> dict[str, str]:
    # A 413 is sent before the rest of the body was read: the client must not reuse this connection
    # for its next request while it may still be sending the refused body.
    return {"connection": "close"} if status_code == 413 else {}


def _unexpected_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log; the client learns only that it was our fault.
    log.exception("%s %s raised", request.method, request.url.path)
    return Response({"detail": f"Internal error ({type(exc).__name__}); see the plugin service log"}, status_code=500)


async def _evict_idle_models(ctx: ServiceContext) -> None:
    if ctx.models.ttl_s <= 0:
        return
    interval = max(1.0, min(ctx.models.ttl_s / 4, 30.0))
    while True:
        await asyncio.sleep(interval)
        ctx.models.evict_idle()


async def _preload(local: LocalPredictor, preload: str) -> None:
    """Load ``task:type:modelName`` entries at start-up, through a real request, so the first one is not slow."""
    import io

    from PIL import Image

    blank = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(blank, "PNG")
    for item in filter(None, (p.strip() for p in preload.split(","))):
        try:
            task, model_type, name = item.split(":", 2)
        except ValueError:
            raise ValueError(f"preload entry {item!r} is not task:type:modelName") from None
        log.info("preloading %s", item)
        types = {model_type: ModelEntry(name)}
        if task in ("ocr", "facial-recognition"):
            types = {"detection": ModelEntry(name, {"minScore": 0.7}), "recognition": ModelEntry(name)}
        if model_type == "textual":
            request = PredictRequest({task: types}, b"", text="preload")
        else:
            request = PredictRequest({task: types}, b"", image=blank.getvalue())
        await local.predict(request)
