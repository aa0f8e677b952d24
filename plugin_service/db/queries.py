"""Calls into the zh_search SQL functions (the same ones the patched Immich calls)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
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


class UserMatch(msgspec.Struct, frozen=True):
    """A row of zh_search.ocr_search_user / ocr_match (contract v2)."""

    asset_id: UUID
    rank: float
    text_score: float


class UserCandidate(msgspec.Struct, frozen=True):
    """A row of zh_search.hybrid_candidates_user (contract v2)."""

    asset_id: UUID
    cosine: float | None
    text_rank: float
    text_score: float


class AssetFilter(msgspec.Struct, frozen=True):
    """What Immich filters on before ranking (contract v2). visibilities None = any."""

    owner_ids: tuple[UUID, ...]
    visibilities: tuple[str, ...] | None = ("archive", "timeline", "hidden")
    with_deleted: bool = False
    taken_after: datetime | None = None
    taken_before: datetime | None = None
    asset_type: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "owners": list(self.owner_ids),
            "vis": None if self.visibilities is None else list(self.visibilities),
            "deleted": self.with_deleted,
            "after": self.taken_after,
            "before": self.taken_before,
            "type": self.asset_type,
        }


_FILTER_ARGS = (
    "owner_ids => CAST(:owners AS uuid[]), visibilities => CAST(:vis AS text[]), with_deleted => :deleted, "
    "taken_after => :after, taken_before => :before, asset_type => :type"
)


class HealthCheck(msgspec.Struct, frozen=True):
    name: str
    ok: bool
    detail: str


class BackfillProgress(msgspec.Struct, frozen=True):
    assets: int
    changed: int
    failed: int = 0


class Failure(msgspec.Struct, frozen=True):
    at: datetime
    operation: str
    sqlstate: str | None
    message: str | None
    asset_ids: list[UUID]


def layer_installed(conn: Connection) -> bool:
    """The detection the patched Immich uses."""
    return bool(conn.execute(text("SELECT to_regprocedure('zh_search.ocr_search(text,integer)') IS NOT NULL")).scalar())


def ocr_search(conn: Connection, query: str, max_results: int = 200) -> list[Match]:
    rows = conn.execute(
        text('SELECT "assetId", rank FROM zh_search.ocr_search(:q, :n)'), {"q": query, "n": max_results}
    )
    return [Match(row[0], float(row[1])) for row in rows]


def contract_version(conn: Connection) -> int | None:
    """2 for contract v2; None when the layer (or its v2) is absent."""
    if conn.execute(text("SELECT to_regprocedure('zh_search.contract_version()')")).scalar() is None:
        return None
    version = conn.execute(text("SELECT zh_search.contract_version()")).scalar()
    return None if version is None else int(version)


def search_owner_ids(conn: Connection, user_id: UUID) -> list[UUID]:
    """The user plus the partners who share their timeline with them (Immich's search owners)."""
    return list(conn.execute(text("SELECT zh_search.search_owner_ids(:u)"), {"u": user_id}).scalar() or [])


def ocr_search_user(
    conn: Connection,
    query: str,
    where: AssetFilter,
    limit: int = 100,
    skip: int = 0,
    after: tuple[float, UUID] | None = None,
) -> list[UserMatch]:
    rows = conn.execute(
        text(
            'SELECT "assetId", rank, text_score FROM zh_search.ocr_search_user(query => :q, '
            f"{_FILTER_ARGS}, max_results => :n, skip => :skip, after_rank => CAST(:ar AS real), "
            "after_id => CAST(:aid AS uuid))"
        ),
        {
            "q": query,
            **where.params(),
            "n": limit,
            "skip": skip,
            "ar": after[0] if after else None,
            "aid": after[1] if after else None,
        },
    )
    return [UserMatch(row[0], float(row[1]), float(row[2])) for row in rows]


def ocr_match(conn: Connection, query: str, owner_ids: Sequence[UUID] | None) -> list[UserMatch]:
    rows = conn.execute(
        text('SELECT "assetId", rank, text_score FROM zh_search.ocr_match(:q, CAST(:o AS uuid[]))'),
        {"q": query, "o": None if owner_ids is None else list(owner_ids)},
    )
    return [UserMatch(row[0], float(row[1]), float(row[2])) for row in rows]


def hybrid_candidates_user(
    conn: Connection, query: str, embedding: Sequence[float] | None, where: AssetFilter, max_results: int = 200
) -> list[UserCandidate]:
    """embedding None: the text candidates alone (cosine NULL)."""
    rows = conn.execute(
        text(
            'SELECT "assetId", cosine, text_rank, text_score FROM zh_search.hybrid_candidates_user(query => :q, '
            f"embedding => CAST(:e AS vector), {_FILTER_ARGS}, max_results => :n)"
        ),
        {"q": query, "e": None if embedding is None else vector_literal(embedding), **where.params(), "n": max_results},
    )
    return [
        UserCandidate(row[0], None if row[1] is None else float(row[1]), float(row[2]), float(row[3])) for row in rows
    ]


def failures(conn: Connection, limit: int = 20) -> list[Failure]:
    if conn.execute(text("SELECT to_regclass('zh_search.sync_failure')")).scalar() is None:
        return []
    rows = conn.execute(
        text(
            "SELECT at, operation, sqlstate, message, asset_ids FROM zh_search.sync_failure ORDER BY id DESC LIMIT :n"
        ),
        {"n": limit},
    )
    return [Failure(row[0], row[1], row[2], row[3], list(row[4])) for row in rows]


def grant(conn: Connection, role: str | None = None) -> str | None:
    """Give Immich's role (default: the owner of public.asset) the rights contract v2 needs."""
    role = role or conn.execute(text("SELECT zh_search.immich_role()")).scalar()
    if role:
        conn.execute(text("SELECT zh_search.grant_to(:r)"), {"r": role})
        conn.commit()
    return role


def vector_literal(embedding: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(v)) for v in embedding) + "]"


def hybrid_candidates(
    conn: Connection, query: str, embedding: Sequence[float], max_results: int = 200
) -> list[Candidate]:
    rows = conn.execute(
        text('SELECT "assetId", cosine, text_rank FROM zh_search.hybrid_candidates(:q, CAST(:e AS vector), :n)'),
        {"q": query, "e": vector_literal(embedding), "n": max_results},
    )
    return [Candidate(row[0], None if row[1] is None else float(row[1]), float(row[2])) for row in rows]


def health(conn: Connection) -> list[HealthCheck]:
    if not layer_installed(conn):
        return [HealthCheck("layer", False, "zh_search is not installed (plugin-service db upgrade)")]
    return [HealthCheck(*row) for row in conn.execute(text("SELECT check_name, ok, detail FROM zh_search.health()"))]


def backfill(
    conn: Connection,
    batch: int = 2000,
    progress: Callable[[BackfillProgress], Any] | None = None,
    restart: bool = False,
) -> BackfillProgress:
    """Index every asset that has OCR lines (idempotent), one committed batch at a time.

    Resumable: the cursor lives in zh_search.backfill_state, so an interrupted run continues where it
    stopped (restart=True begins again). A bad row is recorded in zh_search.sync_failure and skipped;
    a complete pass clears the failures recorded before it started."""
    if restart:
        conn.execute(text("DELETE FROM zh_search.backfill_state"))
        conn.commit()
    statement = text("SELECT done, assets, changed, failed FROM zh_search.backfill_step(:batch)")
    assets = changed = failed = 0
    while True:
        done, n, c, f = conn.execute(statement, {"batch": batch}).one()
        conn.commit()
        assets, changed, failed = assets + n, changed + c, failed + f
        if progress:
            progress(BackfillProgress(assets, changed, failed))
        if done:
            return BackfillProgress(assets, changed, failed)
