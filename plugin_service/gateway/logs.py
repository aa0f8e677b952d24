"""Structured log lines (``event key=value …``) carrying the request id.

The id comes from the client's ``X-Request-Id`` when it sent one, else is
made up; it is forwarded to upstreams and returned in the response, so one
request can be followed across gateway and workers.  The current id lives in
a context variable: each request runs in its own task, so it is per-request
state, not shared state.  Only names, sizes, statuses and timings are logged:
never image bytes, text queries or secrets.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# How many gateways this request already passed (X-Plugin-Service-Hops): breaks routing loops.
hops: contextvars.ContextVar[int] = contextvars.ContextVar("hops", default=0)

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id(offered: str | None) -> str:
    """The client's id when it is a sane token (it ends up in logs), else a fresh one."""
    if offered and _VALID_ID.match(offered):
        return offered
    return uuid.uuid4().hex[:16]


def log_event(logger: logging.Logger, level: int, event: str, **fields: object) -> None:
    if not logger.isEnabledFor(level):
        return
    fields = {"request_id": request_id.get(), **fields}
    text = " ".join(f"{key}={_value(value)}" for key, value in fields.items())
    # ``extra`` lets a JSON formatter emit the same fields as keys.
    logger.log(level, "%s %s", event, text, extra={"event": event, "fields": fields})


def _value(value: object) -> str:
    text = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    if not text or any(c in text for c in ' "=\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class RedactSecret(logging.Filter):
    """Masks the shared secret wherever it would appear (e.g. uvicorn's access log of /<secret>/predict)."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret:
            if record.args:
                record.args = (
                    tuple(a.replace(self.secret, "***") if isinstance(a, str) else a for a in record.args)
                    if isinstance(record.args, tuple)
                    else record.args
                )
            if isinstance(record.msg, str) and self.secret in record.msg:
                record.msg = record.msg.replace(self.secret, "***")
        return True
