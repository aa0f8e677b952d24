"""HTTP side of the Immich ML protocol: ``GET /``, ``GET /ping``, ``POST /predict``.

Only parsing and status codes live here; the injected ``Predictor`` does the
work (see ``predictor.py``).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from plugin_service.errors import BadRequest, InvalidRequestFormat, PayloadTooLarge
from plugin_service.immich.predictor import Predictor, PredictRequest
from plugin_service.immich.protocol import parse_entries


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
    try:
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
        return PredictRequest(
            entries, raw_entries, text=await _text(text, request.app.state.ctx.settings.max_text_bytes)
        )
    raise BadRequest("Either image or text must be provided")


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
