"""Where the zh_search layer's cost on an Immich OCR write goes (section write_cost of docs/benchmarks.md).

    python -m bench.write_cost --assets 100000

On a throw-away PostgreSQL 18 set up as bench/search_speed.py sets it up (Immich's tables owned by an
unprivileged role, the layer installed by the superuser, existing OCR text backfilled), Immich's session
with synchronous_commit off, so that the figures are CPU cost (the layer's worst case as a ratio):

* a profile: pg_stat_statements with nested statements, per Immich upsert (OcrRepository.upsert, one
  statement per asset), the statements inside the layer's triggers;
* the same upsert, side by side in interleaved blocks, with the triggers off, as installed, and replaced by
  reduced versions that show each fixed overhead: empty trigger functions (firing and transition tables),
  only the exception block (the isolation guarantee), and one of the two statement triggers empty (Immich's
  one statement fires both the DELETE and the INSERT trigger; the second refresh finds nothing to do).
  The reduced versions are measurements only: the layer needs both triggers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import uuid

import psycopg

from bench._ocr_corpus import generated
from bench._report import machine_line, markdown_table, write_section
from bench.search_speed import DURABLE_SETTINGS, immich_database, load, set_triggers, upsert
from plugin_service.db import migrate

TRIGGER_HEADER = (
    "RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public SET lock_timeout = '1s'"
)
EMPTY_BODY = "BEGIN RETURN NULL; END"
# variants run with PostgreSQL's durable commits, as Immich runs (the others: the CPU cost alone)
DURABLE_ROW = "durable commits: "
# the installed functions' shape without the refresh: the ids from the transition table, the exception block
BLOCK_BODY = """DECLARE ids uuid[];
BEGIN
  BEGIN
    ids := ARRAY(SELECT DISTINCT r."assetId" FROM {table} r);
  EXCEPTION WHEN query_canceled OR OTHERS THEN
    RAISE WARNING 'zh_search bench: %', SQLERRM;
  END;
  RETURN NULL;
END"""


def trigger_function(name: str, body: str) -> str:
    return f"CREATE OR REPLACE FUNCTION zh_search.{name}() {TRIGGER_HEADER} AS $fn$ {body} $fn$"


def installed(admin: psycopg.Connection, name: str) -> str:
    row = admin.execute(f"SELECT pg_get_functiondef('zh_search.{name}()'::regprocedure)").fetchone()
    assert row is not None
    return str(row[0])


def profile(
    admin: psycopg.Connection, immich: psycopg.Connection, ids: list[uuid.UUID], docs: list, count: int
) -> list[tuple[float, float, str]]:
    """(calls per upsert, ms per upsert, statement) of the statements the upserts ran, nested ones included."""
    for k in range(count // 4):  # warm the session's plans
        upsert(immich, ids[k], docs[k][0])
    admin.execute("SELECT pg_stat_statements_reset()")
    for k in range(count // 4, count // 4 + count):
        upsert(immich, ids[k], docs[k][0])
    rows = admin.execute(
        "SELECT calls, total_exec_time, regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements "
        "WHERE query NOT LIKE '%%pg_stat_statements%%' AND query NOT LIKE 'WITH deleted_ocr%%' "
        "AND total_exec_time / %s > 0.002 ORDER BY total_exec_time DESC",
        (count,),
    ).fetchall()
    return [(calls / count, total / count, query) for calls, total, query in rows]


def side_by_side(
    admin: psycopg.Connection,
    immich: psycopg.Connection,
    ids: list[uuid.UUID],
    docs: list,
    rounds: int,
    per_round: int,
) -> dict[str, list[float]]:
    """ms per upsert for each variant, in interleaved blocks; the first round warms up and is dropped."""
    originals = {name: installed(admin, name) for name in ("sync_inserted", "sync_deleted")}
    variants: dict[str, list[str] | None] = {
        "triggers off": None,
        "the layer as installed": list(originals.values()),
        "trigger functions empty (firing, transition tables)": [
            trigger_function("sync_inserted", EMPTY_BODY),
            trigger_function("sync_deleted", EMPTY_BODY),
        ],
        "only the exception blocks (no refresh)": [
            trigger_function("sync_inserted", BLOCK_BODY.format(table="new_rows")),
            trigger_function("sync_deleted", BLOCK_BODY.format(table="old_rows")),
        ],
        "DELETE trigger empty (one refresh, from the INSERT trigger)": [
            originals["sync_inserted"],
            trigger_function("sync_deleted", EMPTY_BODY),
        ],
        "INSERT trigger empty (one refresh, from the DELETE trigger)": [
            trigger_function("sync_inserted", EMPTY_BODY),
            originals["sync_deleted"],
        ],
        DURABLE_ROW + "triggers off": None,
        DURABLE_ROW + "the layer as installed": list(originals.values()),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    k = 0
    for round_no in range(rounds + 1):
        for name, functions in variants.items():
            set_triggers(admin, functions is not None)
            immich.execute(f"SET synchronous_commit = {'on' if name.startswith(DURABLE_ROW) else 'off'}")
            for sql in functions or []:
                admin.execute(sql)
            immich.execute("DISCARD PLANS")
            for _ in range(per_round):
                ms = upsert(immich, ids[k % len(ids)], docs[k][0])
                k += 1
                if round_no:
                    times[name].append(ms)
    set_triggers(admin, True)
    for sql in originals.values():
        admin.execute(sql)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=150)
    parser.add_argument("--profiled", type=int, default=2000, help="upserts under pg_stat_statements")
    parser.add_argument("--section", default="write_cost")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from sqlalchemy import create_engine

    from plugin_service.db import queries
    from tests._postgres import embedded_postgres

    settings = {
        "shared_buffers": "1GB",
        "max_parallel_workers_per_gather": "0",
        "shared_preload_libraries": "pg_stat_statements",
        "pg_stat_statements.track": "all",  # the statements inside the triggers' functions too
        **DURABLE_SETTINGS,
    }
    with embedded_postgres(settings) as pg:
        url, admin, immich = immich_database(pg)
        admin.execute("DROP INDEX clip_index")  # vectors play no part in a write
        ids, _ = load(admin, args.assets, 512, 42)
        admin.execute("VACUUM ANALYZE")
        migrate.upgrade(url)
        engine = create_engine(url)
        with engine.connect() as sa:
            queries.backfill(sa, batch=5000)
        engine.dispose()
        admin.execute("VACUUM ANALYZE")
        admin.execute("CREATE EXTENSION pg_stat_statements")
        immich.execute("SET synchronous_commit = off")
        docs = generated(args.profiled * 2 + (args.rounds + 1) * args.per_round * 8, 99)  # 8 variants
        chars = statistics.mean(sum(len(line) for line in lines) for lines, _ in docs)
        statements = profile(admin, immich, ids, docs, args.profiled)
        # the side-by-side timings without the profiler's own cost on every nested statement
        admin.execute("ALTER SYSTEM SET pg_stat_statements.track = 'none'")
        admin.execute("SELECT pg_reload_conf()")
        times = side_by_side(admin, immich, ids, docs[args.profiled * 2 :], args.rounds, args.per_round)

    def row(name: str, v: list[float]) -> list[object]:
        off = times[DURABLE_ROW + "triggers off" if name.startswith(DURABLE_ROW) else "triggers off"]
        ratio = statistics.median(v) / statistics.median(off)
        return [
            name,
            f"{statistics.mean(v):.3f}",
            f"{statistics.median(v):.3f}",
            f"{statistics.mean(v) / statistics.mean(off):.2f}×",
            f"{ratio:.2f}×",
            f"{statistics.median(v) - statistics.median(off):+.3f}",
        ]

    variant_rows = [row(name, v) for name, v in times.items()]
    statement_rows = [
        [f"{calls:.2f}", f"{ms:.3f}", f"`{query[:140]}{'…' if len(query) > 140 else ''}`"]
        for calls, ms, query in statements
    ]
    text = "\n".join(
        [
            "## Where the layer's cost on an OCR write goes (`bench/write_cost.py`)",
            "",
            f"{machine_line()}; PostgreSQL 18 (embedded-postgres), shared_buffers 1GB; {args.assets:,} assets of 10 "
            f"users with their OCR text backfilled; Immich's upsert (OcrRepository.upsert, one statement per asset) "
            f"of generated OCR text ({chars:.0f} characters per asset), its session with synchronous_commit off (the "
            "CPU cost, the layer's worst case as a ratio) unless the row says durable commits (PostgreSQL's default, "
            "as Immich runs).",
            "",
            f"Statements per upsert ({args.profiled:,} upserts, pg_stat_statements with nested statements; a "
            "statement's time includes the statements it calls):",
            "",
            markdown_table(["calls", "ms", "statement"], statement_rows),
            "",
            f"The upsert side by side ({args.rounds} interleaved rounds of {args.per_round} per variant, the profiler "
            "off; the reduced trigger functions only measure what each part costs):",
            "",
            markdown_table(
                ["variant", "mean ms", "median ms", "mean / off", "median / off", "median − off ms"], variant_rows
            ),
        ]
    )
    print(text)
    if not args.no_write:
        write_section(args.section, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
