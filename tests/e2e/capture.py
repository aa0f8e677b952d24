"""A recording pass-through between Immich and the plugin service: every ML request Immich makes
is forwarded unchanged and noted (time, path, the `entries` JSON of /predict — task, type and
model name), so the run can prove which model Immich asked for, independently of the service's
own logging. The notes go to `requests.jsonl` as they happen.

`answer` (used by bench/hybrid_quality.py) may reply to a /predict itself instead of forwarding:
it gets the parsed entries and form parts and returns the JSON body, or None to forward."""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

Answer = Callable[[dict[str, Any], dict[str, bytes]], dict[str, Any] | None]
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}


def form_parts(content_type: str, body: bytes) -> dict[str, bytes]:
    """multipart/form-data → {field name: bytes} (Immich sends `entries` and `image` or `text`)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True)
            parts[str(name)] = payload if isinstance(payload, bytes) else b""
    return parts


def models_of(entries: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(task, type, modelName) of every entry, e.g. ('ocr', 'detection', 'PP-OCRv6_small')."""
    return [
        (task, kind, str(entry.get("modelName")))
        for task, kinds in entries.items()
        if isinstance(kinds, dict)
        for kind, entry in kinds.items()
        if isinstance(entry, dict)
    ]


@dataclass
class CapturingProxy:
    upstream: str
    log: Path
    answer: Answer | None = None
    records: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=self.upstream, timeout=600)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def mark(self) -> int:
        """A position in the record, to look only at what came after it."""
        with self._lock:
            return len(self.records)

    def models_since(self, mark: int) -> list[tuple[str, str, str]]:
        with self._lock:
            return [(m[0], m[1], m[2]) for record in self.records[mark:] for m in record.get("models", [])]

    def _note(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.records.append(record)
            with self.log.open("a") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                record: dict[str, Any] = {"t": round(time.time(), 3), "method": self.command, "path": self.path}
                content_type = self.headers.get("content-type", "")
                reply: dict[str, Any] | None = None
                if self.path.startswith("/predict") and content_type.startswith("multipart/"):
                    parts = form_parts(content_type, body)
                    try:
                        entries = json.loads(parts.get("entries", b"{}"))
                    except ValueError:
                        entries = {}
                    record["models"] = models_of(entries)
                    if proxy.answer is not None:
                        reply = proxy.answer(entries, parts)
                if reply is not None:
                    status, payload, headers = 200, json.dumps(reply).encode(), {"content-type": "application/json"}
                    record["answered_by"] = "stand-in"
                else:
                    forwarded = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    try:
                        response = proxy._client.request(self.command, self.path, content=body, headers=forwarded)
                        status, payload = response.status_code, response.content
                        headers = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
                    except httpx.HTTPError as exc:
                        status, payload, headers = 502, str(exc).encode(), {"content-type": "text/plain"}
                record["status"] = status
                proxy._note(record)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _relay

            def log_message(self, *args: object) -> None:
                pass

        return Handler
