"""HTTP side of the Immich ML protocol: ``GET /``, ``GET /ping``, ``POST /predict``.

Only parsing and status codes live here; work is done by ``predict_local``
(or by the gateway's dispatcher when one is installed in ``app.state``).
"""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile

from plugin_service.errors import BadRequest, InvalidRequestFormat
from plugin_service.immich.predict import predict_local
from plugin_service.immich.protocol import ImagePayload, TextPayload, parse_entries
from plugin_service.imaging import decode_image


@get("/", sync_to_thread=False)
def root() -> dict[str, str]:
    return {"message": "Immich ML"}


@get("/ping", media_type="text/plain", sync_to_thread=False)
def ping() -> str:
    return "pong"


@post("/predict", status_code=200)
async def predict(request: Request) -> Response:
    return await handle_predict(request)


async def handle_predict(request: Request) -> Response:
    """The body of ``POST /predict`` (also mounted under a secret path prefix by the gateway)."""
    form = await request.form()
    raw_entries = form.get("entries")
    if raw_entries is None:
        raise InvalidRequestFormat("Field required: entries")
    if isinstance(raw_entries, UploadFile):
        raw_entries = await raw_entries.read()
    dispatcher = getattr(request.app.state, "dispatcher", None)
    entries = parse_entries(raw_entries, known_tasks=None if dispatcher else tuple(_local_tasks()))
    image, text = form.get("image"), form.get("text")
    if image is not None:
        data = await image.read() if isinstance(image, UploadFile) else str(image).encode("latin-1", "replace")
        if dispatcher is not None and dispatcher.wants_raw_image(entries):
            return Response(await dispatcher.dispatch(entries, raw_image=data, text=None, raw_entries=raw_entries))
        settings = request.app.state.ctx.settings
        payload = ImagePayload(decode_image(data, settings.max_image_pixels))
    elif text is not None:
        payload = TextPayload(await text.read() if isinstance(text, UploadFile) else str(text))
        if isinstance(payload.text, bytes):
            payload = TextPayload(payload.text.decode("utf-8", "replace"))
    else:
        raise BadRequest("Either image or text must be provided")
    if dispatcher is not None:
        return Response(await dispatcher.dispatch(entries, payload=payload, raw_entries=raw_entries))
    return Response(await predict_local(request.app.state.ctx, request.app.state.executors, entries, payload))


def _local_tasks():
    from plugin_service.immich.tasks import HANDLERS

    return HANDLERS.keys()


route_handlers = [root, ping, predict]
