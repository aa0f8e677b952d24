"""HTTP side of the MT Photos AI API: ``api-key`` check, multipart parsing, the reference's error form.

Endpoints (all POST, as in mt-photos-ai and mt-photos-insightface-unofficial):
``/check``, ``/restart``, ``/restart_v2``, ``/ocr``, ``/clip/img``,
``/clip/txt``, ``/represent``.  Every one needs the ``api-key`` header equal
to ``PLUGIN_SERVICE_MT_PHOTOS_API_KEY`` (compared in constant time); with no
key configured the API is off and says so.  A wrong or missing key is HTTP 401
``{"detail": "Invalid API key"}``, as the references answer.  Failures while
processing an upload are HTTP 200 ``{"result": [], "msg": …}``, as the
references answer (MT Photos shows ``msg`` to the user).

The routes need the ``ServiceContext`` at ``app.state.ctx`` and the
``Executors`` at ``app.state.executors`` (the pools and pixel budget the
Immich API uses too).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, Response, Router, post
from litestar.connection import ASGIConnection
from litestar.datastructures import UploadFile
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from plugin_service.context import ServiceContext
from plugin_service.errors import ServiceError
from plugin_service.mtphotos import service
from plugin_service.mtphotos.service import Refused
from plugin_service.serving import Executors

log = logging.getLogger(__name__)

INVALID_KEY = "Invalid API key"
DISABLED = (
    "MT Photos API is disabled: set PLUGIN_SERVICE_MT_PHOTOS_API_KEY on the server and the same api-key in MT Photos"
)
HELP = "https://mtmt.tech/docs/advanced/ocr_api"


class ClipText(msgspec.Struct):
    text: str


async def require_api_key(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    expected = _ctx(connection).settings.mt_photos_api_key
    if not expected:
        raise NotAuthorizedException(DISABLED)
    given = connection.headers.get("api-key", "")
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8")):
        raise NotAuthorizedException(INVALID_KEY)


def _unauthorised(_: Request, exc: NotAuthorizedException) -> Response:
    return Response({"detail": exc.detail}, status_code=401)


def _ctx(connection: ASGIConnection) -> ServiceContext:
    return connection.app.state["ctx"]


def _executors(connection: ASGIConnection) -> Executors:
    return connection.app.state["executors"]


async def _run(request: Request, kind: str, fn: Callable[..., Any], *args: Any) -> Any:
    return await _executors(request).run(kind, fn, *args)


async def _answer(request: Request, kind: str, fn, *args, wrap: bool = True) -> dict:
    """``{"result": …}`` (or ``fn``'s own object when ``wrap`` is false), else the reference's
    ``{"result": [], "msg": …}`` when the work fails."""
    try:
        value = await _run(request, kind, fn, *args)
        return {"result": value} if wrap else value
    except Refused as exc:
        return {"result": [], "msg": exc.message}
    except Exception as exc:  # noqa: BLE001 - the reference reports every failure in this form
        log.exception("MT Photos %s failed", request.url.path)
        return {"result": [], "msg": f"internal error ({type(exc).__name__}); see the plugin service log"}


async def _upload(request: Request) -> tuple[bytes, str | None]:
    form = await request.form()
    file = form.get("file")
    if isinstance(file, UploadFile):
        return await file.read(), file.filename
    if file is None:
        raise Refused("Field required: file (multipart upload)")
    return str(file).encode("latin-1", "replace"), None


async def _with_image(request: Request, kind: str, fn: Callable[..., Any], wrap: bool = True) -> dict:
    """Decode the upload off the event loop, inside the executors' pixel budget (as /predict does)."""
    ctx = _ctx(request)
    try:
        data, filename = await _upload(request)
        async with _executors(request).admitted_image(data, ctx.settings.max_image_pixels) as image:
            return await _answer(request, kind, fn, ctx, service.check_size(ctx, image), wrap=wrap)
    except Refused as exc:
        return {"result": [], "msg": exc.message}
    except ServiceError as exc:
        return {"result": [], "msg": service.refused_upload(exc, filename).message}


@post("/check", status_code=200)
async def check(request: Request) -> dict:
    settings = _ctx(request).settings
    return {
        "result": "pass",
        "title": "mt-photos-ai服务 (immich-zh-plugin-service)",
        "help": HELP,
        "detector_backend": "insightface",
        "recognition_model": settings.mt_photos_face_model,
    }


@post("/restart", status_code=200)
async def restart() -> dict:
    # mt-photos-ai no longer restarts here either (memory stays flat); kept for old clients.
    return {"result": "pass"}


@post("/restart_v2", status_code=200)
async def restart_v2(request: Request) -> dict:
    # The reference re-executes its process to give memory back; unloading every model does
    # that without dropping other clients' requests (the next request loads what it needs).
    released = _ctx(request).models.clear()
    log.info("MT Photos /restart_v2: unloaded %s", released or "nothing")
    return {"result": "pass"}


@post("/ocr", status_code=200)
async def ocr(request: Request) -> dict:
    return await _with_image(request, "image", service.ocr)


@post("/clip/img", status_code=200)
async def clip_img(request: Request) -> dict:
    return await _with_image(request, "image", service.clip_image)


@post("/clip/txt", status_code=200)
async def clip_txt(request: Request) -> Response:
    # The same text cap as /predict, checked on the body before decoding it: a JSON string escape
    # takes at most 6 bytes per UTF-8 byte of text.
    limit = _ctx(request).settings.max_text_bytes
    raw = await request.body()
    if len(raw) > 6 * limit + 1024:
        return Response(
            {"detail": f"text is limited to {limit} bytes (PLUGIN_SERVICE_MAX_TEXT_BYTES)"}, status_code=413
        )
    try:
        body = msgspec.json.decode(raw, type=ClipText)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return Response({"detail": f'Invalid request body: {exc}; expected {{"text": "..."}}'}, status_code=422)
    if len(body.text.encode("utf-8", "surrogatepass")) > limit:
        return Response(
            {"detail": f"text is limited to {limit} bytes (PLUGIN_SERVICE_MAX_TEXT_BYTES)"}, status_code=413
        )
    return Response(await _answer(request, "text", service.clip_text, _ctx(request), body.text))


@post("/represent", status_code=200)
async def represent(request: Request) -> dict:
    # The face API's answer carries detector_backend and recognition_model beside "result".
    return await _with_image(request, "image", service.represent, wrap=False)


router = Router(
    path="/",
    route_handlers=[check, restart, restart_v2, ocr, clip_img, clip_txt, represent],
    guards=[require_api_key],
    exception_handlers={NotAuthorizedException: _unauthorised},
)
