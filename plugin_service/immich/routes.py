"""HTTP side of the Immich ML protocol: ``GET /``, ``GET /ping``, ``POST /predict``.

Only parsing and status codes live here; the injected ``Predictor`` does the
work (see ``predictor.py``).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from plugin_service.errors import BadRequest, InvalidRequestFormat, PayloadTooLarge
from plugin_service.immich.predictor import Predictor, PredictRequest
from plugin_service.immich.protocol import MAX_ENTRIES_BYTES, parse_entries


@get("/", sync_to_thread=False)
def root() -> dict[str, str]:
    return {"message": "Immich ML"}


@get("/ping", media_type="text/plain", sync_to_thread=False)
def ping() -> str:
    return "pong"


# Injected by the app (see app.py); not a value to validate.
InjectedPredictor = NamedDependency[SkipValidation[Predictor]]


@post("/predict", status_code=200)
async def predict(request: Request, predictor: InjectedPredictor) -> Response:
    return Response(await predictor.predict(await read_predict_form(request)))


# What Immich calls when its ML URL ends in ``/<secret>/`` (the gateway's middleware has already
# compared the prefix with the configured secret); mounted only when a secret is set.
@get("/{secret:str}/ping", media_type="text/plain", sync_to_thread=False, include_in_schema=False)
def secret_ping() -> str:
    return "pong"


@post("/{secret:str}/predict", status_code=200, include_in_schema=False)
async def secret_predict(request: Request, predictor: InjectedPredictor) -> Response:
    return Response(await predictor.predict(await read_predict_form(request)))


async def read_predict_form(request: Request) -> PredictRequest:
    max_text = request.app.state.ctx.settings.max_text_bytes
    try:
        if request.content_type[0] == "application/x-www-form-urlencoded":
            form: Any = await _urlencoded_form(request, max_text)
        else:
            form = await request.form()
    except UnicodeDecodeError as exc:  # Litestar decodes plain form fields as UTF-8
        raise BadRequest(
            f"a form field is not valid UTF-8 (byte {exc.start}); send binary data as a file part"
        ) from exc
    raw_entries = await _field_bytes(form.get("entries"))
    if raw_entries is None:
        raise InvalidRequestFormat("Field required: entries")
    entries = parse_entries(raw_entries)
    image, text = form.get("image"), form.get("text")
    if image is not None:
        return PredictRequest(entries, raw_entries, image=await _field_bytes(image))
    if text is not None:
        return PredictRequest(entries, raw_entries, text=await _text(text, max_text))
    raise BadRequest("Either image or text must be provided")


async def _urlencoded_form(request: Request, max_text: int) -> dict[str, str]:
    """A url-encoded body (no image can come this way) read only up to what a valid request can
    need: percent-encoding triples each byte, so anything longer holds over-long text or entries.
    Litestar's own parser would first decode the whole body, whatever its size."""
    limit = 3 * (max_text + MAX_ENTRIES_BYTES) + 1024
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"url-encoded body of {declared} bytes; text is limited to {max_text} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"url-encoded body over {limit} bytes; text is limited to {max_text} bytes")
    fields = urllib.parse.parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="strict")
    return dict(fields)


async def _field_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, UploadFile):
        return await value.read()
    return str(value).encode("utf-8")  # a plain form field, which Litestar decoded as UTF-8


async def _text(value: Any, limit: int) -> str:
    """The query, refused early when over ``limit`` bytes: a CLIP query only reads its first 52 tokens."""
    if isinstance(value, UploadFile):
        data = await value.read()
        if len(data) > limit:
            raise PayloadTooLarge(f"text is {len(data)} bytes; the limit is {limit} (PLUGIN_SERVICE_MAX_TEXT_BYTES)")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"text is not valid UTF-8 (byte {exc.start})") from exc
    text = str(value)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise PayloadTooLarge(f"text is {size} bytes; the limit is {limit} (PLUGIN_SERVICE_MAX_TEXT_BYTES)")
    return text


route_handlers = [root, ping, predict]
secret_prefixed_route_handlers = [secret_ping, secret_predict]
