"""The layer follows Immich's asset_ocr writes by itself: first run, re-run, edits, deletions."""

from __future__ import annotations

import psycopg
import pytest

from plugin_service.db import migrate, queries
from tests.db._immich import indexed_text, new_asset, ocr_upsert, search
from tests.db.conftest import as_immich, libpq


@pytest.fixture
def conn(immich_db):
    """Immich's own unprivileged role writing its tables; the layer installed by the superuser."""
    migrate.upgrade(immich_db)
    with psycopg.connect(as_immich(immich_db), autocommit=True) as c:
        yield c


def test_first_run_and_rerun_replace_the_text(conn):
    a = new_asset(conn)
    ocr_upsert(conn, a, ["增值税电子普通发票", "发票号码:12345678"])
    assert indexed_text(conn, a) == "增值税电子普通发票\n发票号码:12345678"
    assert [m[0] for m in search(conn, "发票号码")] == [a]
    ocr_upsert(conn, a, ["停车场入口"])  # OCR re-run: Immich deletes and inserts in one statement
    assert indexed_text(conn, a) == "停车场入口"
    assert search(conn, "发票") == []
    assert [m[0] for m in search(conn, "停车")] == [a]


def test_lines_are_read_top_to_bottom_and_words_split_across_lines_are_found(conn):
    a = new_asset(conn)
    ocr_upsert(conn, a, ["本店支持微信支付 营业执", "照已公示 北京咖", "啡文化有限公司"])
    assert [m[0] for m in search(conn, "营业执照")] == [a]
    assert [m[0] for m in search(conn, "咖啡")] == [a]


def test_no_lines_removes_the_row(conn):
    a = new_asset(conn)
    ocr_upsert(conn, a, ["发票"])
    ocr_upsert(conn, a, [])
    assert indexed_text(conn, a) is None


def test_hidden_lines_after_an_edit_are_not_searchable(conn):
    a = new_asset(conn)
    ocr_upsert(conn, a, ["发票", "北京"])
    conn.execute("""UPDATE asset_ocr SET "isVisible" = false WHERE "assetId" = %s AND text = '北京'""", (a,))
    assert indexed_text(conn, a) == "发票"
    assert search(conn, "北京") == []
    conn.execute("""UPDATE asset_ocr SET "isVisible" = false WHERE "assetId" = %s""", (a,))
    assert indexed_text(conn, a) is None
    conn.execute("""UPDATE asset_ocr SET "isVisible" = true WHERE "assetId" = %s""", (a,))
    assert indexed_text(conn, a) == "发票\n北京"


def test_asset_deletion_cascades(conn):
    a, b = new_asset(conn), new_asset(conn)
    ocr_upsert(conn, a, ["发票"])
    ocr_upsert(conn, b, ["发票"])
    conn.execute("DELETE FROM asset WHERE id = %s", (a,))
    assert [m[0] for m in search(conn, "发票")] == [b]
    # Immich's own delete audit trigger still fires for direct deletes
    conn.execute('DELETE FROM asset_ocr WHERE "assetId" = %s', (b,))
    assert conn.execute('SELECT count(*) FROM asset_ocr_audit WHERE "assetId" = %s', (b,)).fetchone()[0] == 1
    assert search(conn, "发票") == []


def test_truncate_for_an_ocr_run_on_all_assets(conn):
    a = new_asset(conn)
    ocr_upsert(conn, a, ["发票"])
    conn.execute("TRUNCATE asset_ocr")  # QueueName.Ocr with force: true
    conn.execute("TRUNCATE ocr_search")
    assert conn.execute("SELECT count(*) FROM zh_search.ocr_text").fetchone()[0] == 0


def test_rolled_back_writes_leave_no_trace(conn):
    a = new_asset(conn)
    with pytest.raises(psycopg.errors.DivisionByZero), conn.transaction():
        ocr_upsert(conn, a, ["发票"])
        conn.execute("SELECT 1/0")
    assert indexed_text(conn, a) is None


def test_backfill_indexes_what_existed_before_and_is_idempotent(immich_db):
    from sqlalchemy import create_engine

    with psycopg.connect(as_immich(immich_db), autocommit=True) as c:
        assets = [new_asset(c) for _ in range(25)]
        for i, a in enumerate(assets):
            ocr_upsert(c, a, [f"发票 第{i}号", "北京"] if i % 2 else ["咖啡"])
        hidden = assets[0]
        c.execute("""UPDATE asset_ocr SET "isVisible" = false WHERE "assetId" = %s""", (hidden,))
    migrate.upgrade(immich_db)
    engine = create_engine(immich_db)
    with engine.connect() as conn:
        seen = []
        done = queries.backfill(conn, batch=7, progress=seen.append)
        assert done.assets == 25 and done.changed == 24  # the hidden-only asset has nothing to index
        assert len(seen) == 5 and done.failed == 0  # 4 batches of up to 7, then the final clean-up step
        assert len(queries.ocr_search(conn, "发票")) == 12
        assert len(queries.ocr_search(conn, "咖啡")) == 12
        assert queries.backfill(conn, batch=100).changed == 0
    engine.dispose()


def test_a_broken_layer_never_fails_immichs_write(conn, immich_db):
    a = new_asset(conn)
    admin = psycopg.connect(libpq(immich_db), autocommit=True)
    admin.execute("ALTER TABLE zh_search.ocr_text RENAME TO ocr_text_moved")
    try:
        notices = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        ocr_upsert(conn, a, ["发票"])  # succeeds although indexing fails
        conn.execute("TRUNCATE asset_ocr")
        assert conn.execute('SELECT count(*) FROM ocr_search WHERE "assetId" = %s', (a,)).fetchone()[0] == 1
        assert any("zh_search: insert of 1 asset(s) failed" in n for n in notices), notices
    finally:
        admin.execute("ALTER TABLE zh_search.ocr_text_moved RENAME TO ocr_text")
        admin.close()
