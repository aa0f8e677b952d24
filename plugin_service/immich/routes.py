"""HTTP side of the Immich ML protocol: ``GET /``, ``GET /ping``, ``POST /predict``.

Only parsing and status codes live here; the injected ``Predictor`` does the
work (see ``predictor.py``).
"""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from plugin_service.errors import BadRequest, InvalidRequestFormat
from plugin_service.immich.form import read_fields
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
    max_text = request.app.state.ctx.settings.max_text_bytes
    fields = await read_fields(request, max_text)
    raw_entries = fields.get("entries")
    if raw_entries is None:
        raise InvalidRequestFormat("Field required: entries")
    entries = parse_entries(raw_entries)
    if "image" in fields:
        return PredictRequest(entries, raw_entries, image=fields["image"])
    if "text" in fields:
        try:
            text = fields["text"].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"text is not valid UTF-8 (byte {exc.start})") from exc
        return PredictRequest(entries, raw_entries, text=text)
    raise BadRequest("Either image or text must be provided")


route_handlers = [root, ping, predict]
secret_prefixed_route_handlers = [secret_ping, secret_predict]
