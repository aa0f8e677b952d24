"""One ASGI middleware for every route: allow-list and secret, request id, HTTP metrics."""

from __future__ import annotations

import json
import logging

from plugin_service.gateway.logs import hops, log_event, new_request_id, request_id
from plugin_service.gateway.metrics import Metrics
from plugin_service.gateway.security import Guard

log = logging.getLogger(__name__)


def make_middleware(guard: Guard, metrics: Metrics):
    def factory(app):
        async def middleware(scope, receive, send):
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            headers = dict(scope.get("headers") or ())
            rid = new_request_id(headers.get(b"x-request-id", b"").decode("latin-1"))
            token = request_id.set(rid)
            hop_token = hops.set(_int(headers.get(b"x-plugin-service-hops", b"0")))
            # The template, not the path: a /<secret>/ prefix must never become a label.
            path = scope.get("path_template") or "unmatched"
            status = 500

            async def send_with_id(message):
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", rid.encode())]}
                await send(message)

            metrics.http_in_flight.inc()
            try:
                client = (scope.get("client") or (None,))[0]
                if not guard.client_allowed(client):
                    log_event(log, logging.WARNING, "client_refused", client=client, path=path)
                    await _deny(send_with_id, 403, "client address is not in the allow-list")
                elif not guard.authorised(scope["path"], headers):
                    log_event(log, logging.WARNING, "unauthorised", client=client, path=path)
                    await _deny(
                        send_with_id,
                        401,
                        "missing or wrong shared secret",
                        [(b"www-authenticate", b'Bearer realm="plugin-service"')],
                    )
                else:
                    await app(scope, receive, send_with_id)
            finally:
                metrics.http_in_flight.dec()
                metrics.http_requests.labels(path, str(status)).inc()
                request_id.reset(token)
                hops.reset(hop_token)

        return middleware

    return factory


async def _deny(send, status: int, detail: str, extra_headers=()) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _int(value: bytes) -> int:
    try:
        return max(0, int(value))
    except ValueError:
        return 0
