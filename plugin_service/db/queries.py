"""Calls into the zh_search SQL functions (the same ones the patched Immich calls)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import text
from sqlalchemy.engine import Connection


class Match(msgspec.Struct, frozen=True):
    asset_id: UUID
    rank: float


class Candidate(msgspec.Struct, frozen=True):
    asset_id: UUID
    cosine: float | None
    text_rank: float


class HealthCheck(msgspec.Struct, frozen=True):
    name: str
    ok: bool
    detail: str


class BackfillProgress(msgspec.Struct, frozen=True):
    assets: int
    changed: int


def layer_installed(conn: Connection) -> bool:
    """The detection the patched Immich uses."""
    return bool(conn.execute(text("SELECT to_regprocedure('zh_search.ocr_search(text,integer)') IS NOT NULL")).scalar())


def ocr_search(conn: Connection, query: str, max_results: int = 200) -> list[Match]:
    rows = conn.execute(text('SELECT "assetId", rank FROM zh_search.ocr_search(:q, :n)'), {"q": query, "n": max_results})
    return [Match(row[0], float(row[1])) for row in rows]


def vector_literal(embedding: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(v)) for v in embedding) + "]"


def hybrid_candidates(conn: Connection, query: str, embedding: Sequence[float], max_results: int = 200) -> list[Candidate]:
    rows = conn.execute(
        text('SELECT "assetId", cosine, text_rank FROM zh_search.hybrid_candidates(:q, CAST(:e AS vector), :n)'),
        {"q": query, "e": vector_literal(embedding), "n": max_results})
    return [Candidate(row[0], None if row[1] is None else float(row[1]), float(row[2])) for row in rows]


def health(conn: Connection) -> list[HealthCheck]:
    if not layer_installed(conn):
        return [HealthCheck("layer", False, "zh_search is not installed (plugin-service db upgrade)")]
    return [HealthCheck(*row) for row in conn.execute(text("SELECT check_name, ok, detail FROM zh_search.health()"))]


def backfill(conn: Connection, batch: int = 2000,
             progress: Callable[[BackfillProgress], Any] | None = None) -> BackfillProgress:
    """Index every asset that has OCR lines (idempotent); commits per batch."""
    statement = text("SELECT last_id, assets, changed FROM zh_search.backfill_batch(CAST(:after AS uuid), :batch)")
    after: UUID | None = None
    assets = changed = 0
    while True:
        last_id, n, c = conn.execute(statement, {"after": after, "batch": batch}).one()
        conn.commit()
        assets += n
        changed += c
        if progress:
            progress(BackfillProgress(assets, changed))
        if last_id is None:
            return BackfillProgress(assets, changed)
        after = last_id
