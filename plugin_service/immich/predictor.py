"""The seam between the Immich HTTP route and whatever answers ``/predict``.

The app picks one ``Predictor`` when it is created: ``LocalPredictor`` (this
process's engines) or the gateway's ``Dispatcher`` (upstream pools, with a
``LocalPredictor`` for the tasks routed here), and injects it into the route.
The route only parses the form; a predictor gets the request as it arrived,
image bytes undecoded, so a gateway can forward them untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from plugin_service.immich.protocol import Entries


@dataclass(frozen=True)
class PredictRequest:
    entries: Entries
    raw_entries: bytes  # the ``entries`` field as the client wrote it (forwarded byte for byte)
    image: bytes | None = None  # undecoded
    text: str | None = None


class Predictor(Protocol):
    async def predict(self, request: PredictRequest) -> dict[str, object] | bytes:
        """The response body: a JSON-able dict, or an upstream's bytes to pass through untouched."""
        ...
