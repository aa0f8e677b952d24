"""The Litestar application: Immich ML protocol, MT Photos API, operations endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException

from plugin_service.config import Settings, load_settings
from plugin_service.context import ServiceContext
from plugin_service.errors import ServiceError
from plugin_service.gateway import build_gateway
from plugin_service.immich.routes import route_handlers as immich_routes
from plugin_service.serving import Executors

log = logging.getLogger(__name__)

# Optional route groups: "module:attribute" of a Litestar Router or handler list.
OPTIONAL_ROUTERS = ("plugin_service.mtphotos.routes:router",)


def create_app(settings: Settings | None = None, ctx: ServiceContext | None = None) -> Litestar:
    settings = settings or (ctx.settings if ctx else load_settings())
    ctx = ctx or ServiceContext.from_settings(settings)
    _check_clip_aliases(settings)
    executors = Executors.create(settings.effective_request_threads)
    # Gateway: upstream routing (dispatcher is None without upstreams), security, request ids, /metrics.
    gateway = build_gateway(settings, ctx, executors)
    state = State({"ctx": ctx, "executors": executors, "settings": settings, "dispatcher": gateway.dispatcher, "metrics": gateway.metrics})

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar):
        evictor = asyncio.create_task(_evict_idle_models(ctx))
        try:
            await _preload(ctx, executors, settings.preload)
            yield
        finally:
            evictor.cancel()
            executors.shutdown()

    return Litestar(
        route_handlers=[*immich_routes, *_optional_routers(), *gateway.route_handlers],
        state=state,
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
    from plugin_service.engines.clip.architectures import parse_aliases

    for alias, target in parse_aliases(settings.clip_aliases).items():
        log.warning(
            "CLIP alias: requests for %s are answered by %s. Immich cannot tell: after changing what an alias "
            "points to, run Administration > Jobs > Smart Search > All to re-index.",
            alias,
            target,
        )


def _optional_routers() -> list:
    routers = []
    for target in OPTIONAL_ROUTERS:
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that part of the product is not installed
            raise
        routers.append(getattr(module, attribute))
    return routers


def _service_error(request: Request, exc: ServiceError) -> Response:
    if exc.status_code >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc.message)
    return Response({"detail": exc.message}, status_code=exc.status_code)


def _http_error(request: Request, exc: HTTPException) -> Response:
    # Litestar's own errors (body too large, malformed multipart) in FastAPI's {"detail": …} shape.
    return Response({"detail": exc.detail}, status_code=exc.status_code)


def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("%s %s raised", request.method, request.url.path)
    return Response({"detail": f"Internal error: {type(exc).__name__}: {exc}"}, status_code=500)


async def _evict_idle_models(ctx: ServiceContext) -> None:
    if ctx.models.ttl_s <= 0:
        return
    interval = max(1.0, min(ctx.models.ttl_s / 4, 30.0))
    while True:
        await asyncio.sleep(interval)
        ctx.models.evict_idle()


async def _preload(ctx: ServiceContext, executors: Executors, preload: str) -> None:
    """Load ``task:type:modelName`` entries at start-up so the first request is not slow."""
    from plugin_service.immich.protocol import ImagePayload, ModelEntry, TextPayload
    from plugin_service.immich.tasks import HANDLERS

    for item in filter(None, (p.strip() for p in preload.split(","))):
        try:
            task, model_type, name = item.split(":", 2)
        except ValueError:
            raise ValueError(f"preload entry {item!r} is not task:type:modelName") from None
        handler = HANDLERS.get(task)
        if handler is None:
            raise ValueError(f"preload entry {item!r}: unknown task {task!r}")
        log.info("preloading %s", item)
        types = {model_type: ModelEntry(name)}
        if task in ("ocr", "facial-recognition"):
            types = {"detection": ModelEntry(name, {"minScore": 0.7}), "recognition": ModelEntry(name)}
        from PIL import Image

        payload = TextPayload("preload") if model_type == "textual" else ImagePayload(Image.new("RGB", (64, 64), "white"))
        await executors.run("text" if model_type == "textual" else "image", handler, ctx, types, payload)
