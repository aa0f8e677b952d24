"""Writes into Immich's tables the way Immich v3.1.0 does (server/src/repositories/ocr.repository.ts)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import psycopg

from tests.db.text_model import immich_tokenize


def new_user(conn: psycopg.Connection) -> uuid.UUID:
    return conn.execute('INSERT INTO "user" DEFAULT VALUES RETURNING id').fetchone()[0]


def new_asset(conn: psycopg.Connection, owner: uuid.UUID | None = None, **columns: object) -> uuid.UUID:
    """An asset of `owner` (a new user when None); `columns` e.g. visibility='archive', deletedAt=..."""
    values = {"ownerId": owner or new_user(conn), **columns}
    names = ", ".join(f'"{k}"' for k in values)
    marks = ", ".join(["%s"] * len(values))
    return conn.execute(f"INSERT INTO asset ({names}) VALUES ({marks}) RETURNING id", list(values.values())).fetchone()[
        0
    ]


def ocr_upsert(conn: psycopg.Connection, asset_id: uuid.UUID, lines: Sequence[str]) -> None:
    """OcrRepository.upsert: one statement that deletes the asset's lines, inserts the new ones and
    upserts ocr_search (or deletes it when there are no lines). Boxes go top to bottom."""
    if not lines:
        conn.execute(
            'WITH deleted_ocr AS (DELETE FROM asset_ocr WHERE "assetId" = %(a)s), '
            'deleted_search AS (DELETE FROM ocr_search WHERE "assetId" = %(a)s) SELECT 1 AS dummy',
            {"a": asset_id},
        )
        return
    values, params = [], {"a": asset_id, "search": " ".join(immich_tokenize(line) for line in lines)}
    for i, line in enumerate(lines):
        y = i / max(len(lines), 1)
        values.append(f"(%(a)s, 0.1, {y}, 0.9, {y}, 0.9, {y + 0.05}, 0.1, {y + 0.05}, 0.99, 0.95, %(t{i})s)")
        params[f"t{i}"] = line
    conn.execute(
        'WITH deleted_ocr AS (DELETE FROM asset_ocr WHERE "assetId" = %(a)s), '
        'inserted_ocr AS (INSERT INTO asset_ocr ("assetId", x1, y1, x2, y2, x3, y3, x4, y4, "boxScore", "textScore", text) '  # noqa: E501
        f"VALUES {', '.join(values)}), "
        'inserted_search AS (INSERT INTO ocr_search ("assetId", text) VALUES (%(a)s, %(search)s) '
        'ON CONFLICT ("assetId") DO UPDATE SET text = excluded.text) SELECT 1 AS dummy',
        params,
    )


def indexed_text(conn: psycopg.Connection, asset_id: uuid.UUID) -> str | None:
    row = conn.execute('SELECT text FROM zh_search.ocr_text WHERE "assetId" = %s', (asset_id,)).fetchone()
    return row[0] if row else None


def search(conn: psycopg.Connection, query: str, limit: int = 200) -> list[tuple[uuid.UUID, float]]:
    return [
        (r[0], r[1]) for r in conn.execute('SELECT "assetId", rank FROM zh_search.ocr_search(%s, %s)', (query, limit))
    ]
