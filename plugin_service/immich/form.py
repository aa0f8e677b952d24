"""The ``/predict`` form, read with a limit per field.

Litestar's own form parsing keeps every field whole before a handler sees it (a 12 MB query costs its
bytes plus their decoded string before any cap applies). Here the body is streamed through the
``multipart`` push parser (the library Litestar itself uses) and each field stops at its limit:
``entries`` at the protocol's 64 KiB, ``text`` at ``PLUGIN_SERVICE_MAX_TEXT_BYTES``; ``image`` is held
as bytes (the request body limit bounds it); fields Immich never sends are skipped unread. A
url-encoded body carries no image, so it is refused when longer than valid text and entries can be.
"""

from __future__ import annotations

import urllib.parse

from litestar import Request
from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser

from plugin_service.errors import BadRequest, InvalidRequestFormat, PayloadTooLarge, ServiceError
from plugin_service.immich.protocol import MAX_ENTRIES_BYTES

FIELDS = ("entries", "image", "text")
MAX_PARTS = 64  # Immich sends two


async def read_fields(request: Request, max_text: int) -> dict[str, bytes]:
    """``entries``, ``image`` and ``text`` as sent (first occurrence of each); other content types: none."""
    content_type, options = request.content_type
    if content_type == "multipart/form-data":
        return await _multipart(request, options.get("boundary"), max_text)
    if content_type == "application/x-www-form-urlencoded":
        return await _urlencoded(request, max_text)
    return {}


async def _multipart(request: Request, boundary: str | None, max_text: int) -> dict[str, bytes]:
    if not boundary:
        raise BadRequest("multipart boundary missing in Content-Type")
    limits = {"entries": MAX_ENTRIES_BYTES, "text": max_text}
    fields: dict[str, bytes] = {}
    segment: MultipartSegment | None = None
    data = bytearray()
    try:
        with PushMultipartParser(boundary.encode("latin-1"), max_segment_count=MAX_PARTS) as parser:
            async for chunk in request.stream():
                for part in parser.parse(chunk):
                    if isinstance(part, MultipartSegment):
                        segment, data = part, bytearray()
                    elif part:
                        if segment is None or segment.name not in FIELDS or segment.name in fields:
                            continue  # not a field of the protocol, or a repeat: not kept
                        data += part
                        limit = limits.get(segment.name)
                        if limit is not None and len(data) > limit:
                            raise _too_long(segment.name, limit)
                    elif segment is not None:
                        if segment.name in FIELDS and segment.name not in fields:
                            fields[segment.name] = bytes(data)
                        segment, data = None, bytearray()
                if parser.closed:
                    break
            if not parser.closed:
                raise BadRequest("Invalid multipart/form-data: the body ended before the closing boundary")
    except ParserLimitReached as exc:
        raise PayloadTooLarge(f"Invalid multipart/form-data: more than {MAX_PARTS} parts") from exc
    except ParserError as exc:
        raise BadRequest(f"Invalid multipart/form-data: {exc}") from exc
    return fields


async def _urlencoded(request: Request, max_text: int) -> dict[str, bytes]:
    # Percent-encoding triples each byte: anything longer than this holds over-long text or entries.
    limit = 3 * (max_text + MAX_ENTRIES_BYTES) + 1024
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"url-encoded body of {declared} bytes; text is limited to {max_text} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"url-encoded body over {limit} bytes; text is limited to {max_text} bytes")
    fields: dict[str, bytes] = {}
    for name, value in urllib.parse.parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1"):
        if name in FIELDS and name not in fields:
            fields[name] = value.encode("latin-1")  # the percent-decoded bytes, UTF-8 checked by the caller
    return fields


def _too_long(name: str, limit: int) -> ServiceError:
    if name == "text":
        return PayloadTooLarge(f"text is longer than {limit} bytes (PLUGIN_SERVICE_MAX_TEXT_BYTES)")
    return InvalidRequestFormat(f"Invalid request format: {name} is longer than {limit} bytes")  # as parse_entries
