"""uvicorn with limits a server on a shared network needs.

uvicorn bounds connections (``limit_concurrency``: more get 503) and idle
keep-alive, but not a client that sends its request slowly: a hundred sockets
trickling one header byte a second would stay open for ever.  ``SlowClientH11``
adds two deadlines: the request line and headers must arrive within
``header_timeout_s`` of the connection (or of the previous response), and while
a body is being read each chunk must follow the previous one within
``body_idle_timeout_s``.  A client past either is disconnected.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from plugin_service.config import Settings

log = logging.getLogger(__name__)


class SlowClientH11(H11Protocol):
    header_timeout_s = 10.0
    body_idle_timeout_s = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for = ""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _watch(self) -> None:
        state = self.conn.their_state
        if state is h11.IDLE and self.timeout_keep_alive_task is None:
            # Part of a request line or headers has arrived (or nothing yet on a new connection):
            # one deadline for all of them, not renewed by each byte.
            if self._waiting_for != "headers":
                self._arm("headers", self.header_timeout_s)
        elif state is h11.SEND_BODY:
            self._arm("body", self.body_idle_timeout_s)  # renewed by each chunk
        else:
            self._cancel()  # idle keep-alive (uvicorn's own timer) or the app is answering

    def _arm(self, what: str, seconds: float) -> None:
        self._cancel()
        self._waiting_for = what
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._waiting_for = ""

    def _too_slow(self) -> None:
        log.info("closing a connection from %s: request %s too slow", self.client, self._waiting_for)
        self._deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()


def run(app: Any, settings: Settings) -> None:
    SlowClientH11.header_timeout_s = settings.request_header_timeout_s
    SlowClientH11.body_idle_timeout_s = settings.request_body_idle_timeout_s
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        http=SlowClientH11,
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=5,
    )
