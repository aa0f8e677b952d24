"""A recording stand-in that answers like Immich ML, for gateway tests and the benchmark.

Run as ``python -m tests.gateway.standin --port 0 --name a``; it prints
``READY <port>`` when listening.  Standard library only (plus Pillow for the
image size), so it starts in a fraction of a second and can be killed and
restarted on the same port.  Answers are a pure function of the request, so a
test can tell a right answer from a wrong one: see ``expected_answer``.

Control: ``POST /_control`` with ``{"mode": "ok"|"error500"|"garbage"|"slow"|"status", "delay_s": …,
"status": …}``; ``GET /_requests`` returns what was received; ``POST /_reset`` forgets it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def digest(image: bytes | None, text: str | None) -> str:
    return hashlib.sha256(image if image is not None else (text or "").encode()).hexdigest()


def image_size(image: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(image)) as im:
        return im.height, im.width


def embedding(seed: str, n: int = 8) -> str:
    return "[" + ",".join(f"{int(seed[i * 2 : i * 2 + 2], 16) / 255:.6f}" for i in range(n)) + "]"


def task_answer(task: str, types: dict, seed: str, name: str):
    """What this stand-in answers for one task; ``name`` tells which instance answered."""
    model = next(iter(types.values()))["modelName"]
    if task == "clip":
        return embedding(seed)
    if task == "facial-recognition":
        return [
            {
                "boundingBox": {"x1": 1.0, "y1": 2.0, "x2": 30.0, "y2": 40.0},
                "embedding": embedding(seed[8:]),
                "score": 0.9,
            }
        ]
    if task == "ocr":
        return {
            "box": [0.1, 0.1, 0.5, 0.1, 0.5, 0.2, 0.1, 0.2],
            "boxScore": [0.95],
            "text": [f"{name} {model} {seed[:12]}"],
            "textScore": [0.9],
        }
    return {"echo": seed[:16], "upstream": name, "model": model}


def expected_answer(entries: dict, image: bytes | None, text: str | None, name: str) -> dict:
    seed = digest(image, text)
    answer = {task: task_answer(task, types, seed, name) for task, types in entries.items()}
    if image is not None:
        answer["imageHeight"], answer["imageWidth"] = image_size(image)
    return answer


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    boundary = re.search(r'boundary="?([^";]+)"?', content_type).group(1).encode()
    fields = {}
    for part in body.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head).group(1).decode()
        fields[name] = data[:-2] if data.endswith(b"\r\n") else data
    return fields


class State:
    def __init__(self, name: str):
        self.name = name
        self.mode = {"mode": "ok"}
        self.requests: list[dict] = []
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: without this, 40 ms delayed-ACK stalls
    state: State

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def do_GET(self):
        if self.path.endswith("/ping"):
            if self.state.mode.get("ping") == "fail":
                return self._send(503, b"down", "text/plain")
            return self._send(200, b"pong", "text/plain")
        if self.path == "/_requests":
            with self.state.lock:
                return self._send(200, json.dumps(self.state.requests).encode())
        return self._send(200, b'{"message":"Immich ML"}')

    def do_POST(self):
        body = self._body()
        if self.path == "/_control":
            self.state.mode = json.loads(body)
            return self._send(200, b"{}")
        if self.path == "/_reset":
            with self.state.lock:
                self.state.requests.clear()
            return self._send(200, b"{}")
        fields = parse_multipart(self.headers["content-type"], body)
        image = fields.get("image")
        text = fields["text"].decode() if "text" in fields else None
        raw_entries = fields["entries"].decode()
        with self.state.lock:
            self.state.requests.append(
                {
                    "path": self.path,
                    "entries": raw_entries,
                    "image_sha256": hashlib.sha256(image).hexdigest() if image is not None else None,
                    "text": text,
                    "request_id": self.headers.get("x-request-id"),
                    "authorization": self.headers.get("authorization"),
                }
            )
        mode = self.state.mode
        if mode.get("delay_s"):
            time.sleep(mode["delay_s"])
        if mode["mode"] == "error500":
            return self._send(500, b"Internal Server Error", "text/plain")
        if mode["mode"] == "status":
            return self._send(mode["status"], json.dumps({"detail": mode.get("detail", "refused")}).encode())
        if mode["mode"] == "garbage":
            return self._send(200, b"<html>not json</html>", "text/html")
        entries = json.loads(raw_entries)
        answer = expected_answer(entries, image, text, self.state.name)
        self._send(200, json.dumps(answer, separators=(",", ":")).encode())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="standin")
    args = parser.parse_args(argv)
    handler = type("BoundHandler", (Handler,), {"state": State(args.name)})
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128  # the default backlog of 5 resets connections under load
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main(sys.argv[1:])
