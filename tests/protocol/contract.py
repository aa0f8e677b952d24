"""Rebuild the exact multipart bodies Immich v3.1.0 sent (shared/immich-contract)
and check responses against the ML wire contract (immich-ml-protocol.md §1.4, §6)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from tests._paths import CONTRACT


@dataclass(frozen=True)
class Capture:
    name: str
    task: str
    headers: dict[str, str]
    body: bytes
    entries: dict
    image_size: tuple[int, int] | None  # (width, height)


def load_captures() -> list[Capture]:
    captures = []
    for path in sorted(CONTRACT.glob("[0-9][0-9][0-9]-*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        captures.append(
            Capture(
                name=path.stem,
                task=next(iter(record["entries"])),
                headers={
                    k: v
                    for k, v in record["headers"].items()
                    if k.lower() not in ("host", "content-length", "connection")
                },
                body=rebuild_body(record, path.parent),
                entries=record["entries"],
                image_size=tuple(record["image_size_wh"]) if record.get("image_size_wh") else None,
            )
        )
    return captures


def rebuild_body(record: dict, folder: Path) -> bytes:
    """The body as undici's FormData serialised it, from the recorded parts."""
    boundary = re.search(r"boundary=(\S+)", record["headers"]["content-type"]).group(1)
    chunks = []
    for part in record["parts"]:
        if part["name"] == "entries":
            data = record["entries_raw"].encode()
        elif part["name"] == "text":
            data = record["text"].encode()
        else:
            data = (folder / record["image_file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == part["sha256"], f"{part['name']} bytes differ from the capture"
        head = f"--{boundary}\r\nContent-Disposition: {part['content_disposition']}\r\n"
        if part["content_type"]:
            head += f"Content-Type: {part['content_type']}\r\n"
        chunks.append(head.encode() + b"\r\n" + data + b"\r\n")
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    assert len(body) == record["body_length"], "rebuilt body is not byte-identical in length to the capture"
    return body


EMBEDDING = re.compile(r"^\[-?\d[\d.eE+-]*(,-?\d[\d.eE+-]*)*\]$")


def check_embedding_string(value, dim: int | None = None) -> list[float]:
    assert isinstance(value, str), "embeddings travel as a JSON string holding an array"
    assert EMBEDDING.match(value), f"not a compact pgvector literal: {value[:60]}…"
    floats = json.loads(value)
    if dim is not None:
        assert len(floats) == dim
    return floats


def check_ocr(body: dict, width: int, height: int) -> None:
    assert set(body) == {"ocr", "imageHeight", "imageWidth"}
    assert (body["imageWidth"], body["imageHeight"]) == (width, height)
    ocr = body["ocr"]
    assert set(ocr) == {"box", "boxScore", "text", "textScore"}
    n = len(ocr["text"])
    assert len(ocr["box"]) == 8 * n and len(ocr["boxScore"]) == n and len(ocr["textScore"]) == n
    assert all(isinstance(t, str) and t for t in ocr["text"])
    assert all(isinstance(v, float) and -0.05 <= v <= 1.05 for v in ocr["box"])
    assert all(0.0 <= s <= 1.0 for s in ocr["boxScore"] + ocr["textScore"])


def check_faces(body: dict, width: int, height: int) -> None:
    assert set(body) == {"facial-recognition", "imageHeight", "imageWidth"}
    assert (body["imageWidth"], body["imageHeight"]) == (width, height)
    for face in body["facial-recognition"]:
        assert set(face) == {"boundingBox", "embedding", "score"}
        assert set(face["boundingBox"]) == {"x1", "y1", "x2", "y2"}
        assert all(float(v).is_integer() for v in face["boundingBox"].values()), "face boxes are integral pixels"
        check_embedding_string(face["embedding"], 512)


def check_clip(body: dict, image_size: tuple[int, int] | None, dim: int | None = None) -> None:
    expected = {"clip"} | ({"imageHeight", "imageWidth"} if image_size else set())
    assert set(body) == expected
    if image_size:
        assert (body["imageWidth"], body["imageHeight"]) == image_size
    floats = check_embedding_string(body["clip"], dim)
    norm = sum(v * v for v in floats) ** 0.5
    assert abs(norm - 1.0) < 1e-3, "embeddings are L2-normalised"
