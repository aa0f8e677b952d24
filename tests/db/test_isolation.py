"""Isolation as a guarantee: whatever state the layer is in, Immich's own writes (as its unprivileged
role) succeed, the failure is recorded with the asset ids, `db status` says so, and backfill repairs."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from click.testing import CliRunner

from plugin_service.cli import main
from plugin_service.db import migrate
from tests.db._immich import indexed_text, new_asset, new_user, ocr_upsert, search
from tests.db.conftest import as_immich, libpq


def failures(admin: psycopg.Connection) -> list[tuple[str, str, list]]:
    return [
        (r[0], r[1], r[2])
        for r in admin.execute("SELECT operation, sqlstate, asset_ids FROM zh_search.sync_failure ORDER BY id")
    ]


def status(url: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["db", "status", "--database-url", url])
    return result.exit_code, result.output


def backfill(url: str) -> str:
    result = CliRunner().invoke(main, ["db", "backfill", "--database-url", url])
    assert result.exit_code == 0, result.output
    return result.output


def every_write(immich: psycopg.Connection) -> list:
    """Insert, re-run (delete+insert), isVisible toggle, delete, asset cascade, TRUNCATE: all must succeed."""
    user = new_user(immich)
    a, b, c = (new_asset(immich, user) for _ in range(3))
    ocr_upsert(immich, a, ["发票号码 12345678"])
    ocr_upsert(immich, b, ["停车场"])
    ocr_upsert(immich, c, ["北京咖啡"])
    ocr_upsert(immich, a, ["增值税电子普通发票"])
    immich.execute("""UPDATE asset_ocr SET "isVisible" = false WHERE "assetId" = %s""", (b,))
    immich.execute("""UPDATE asset_ocr SET "isVisible" = true WHERE "assetId" = %s""", (b,))
    immich.execute("DELETE FROM asset WHERE id = %s", (c,))
    return [a, b]


def test_immichs_role_needs_no_rights_on_the_layer(dbs):
    url, immich, admin = dbs
    admin.execute("REVOKE ALL ON SCHEMA zh_search FROM immich, PUBLIC")
    admin.execute("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA zh_search FROM immich, PUBLIC")
    a, b = every_write(immich)
    assert indexed_text(admin, a) == "增值税电子普通发票" and indexed_text(admin, b) == "停车场"
    assert failures(admin) == []
    immich.execute("TRUNCATE asset_ocr, ocr_search")
    assert admin.execute("SELECT count(*) FROM zh_search.ocr_text").fetchone()[0] == 0
    # only the search side needs the grant, and health says so; `db upgrade` restores it
    code, output = status(url)
    assert code == 1 and "[FAIL] immich role" in output
    result = CliRunner().invoke(main, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "granted the search functions to role immich" in result.output


@pytest.mark.parametrize(
    "breakage",
    [
        "DROP FUNCTION zh_search.refresh(uuid[])",
        "ALTER TABLE zh_search.ocr_text ADD CONSTRAINT broken CHECK (length(text) < 0)",
        "CREATE OR REPLACE FUNCTION zh_search.max_indexed_chars() RETURNS integer LANGUAGE sql RETURN 1 / 0",
    ],
)
def test_a_bug_in_the_layer_is_recorded_and_repaired(dbs, breakage):
    url, immich, admin = dbs
    admin.execute(breakage)
    a, b = every_write(immich)  # nothing raises
    recorded = failures(admin)
    assert recorded and {op for op, _, _ in recorded} >= {"insert", "update", "delete"}
    assert a in {x for _, _, ids in recorded for x in ids}
    code, output = status(url)
    assert code == 1 and "[FAIL] sync failures" in output and str(a) in output
    # repair the layer (re-running the migration), then backfill re-derives and clears the failures
    migrate.downgrade(url, "0002")
    admin.execute("ALTER TABLE zh_search.ocr_text DROP CONSTRAINT IF EXISTS broken")
    migrate.upgrade(url)
    backfill(url)
    assert indexed_text(admin, a) == "增值税电子普通发票" and indexed_text(admin, b) == "停车场"
    assert failures(admin) == []
    assert status(url)[0] == 0


def test_even_the_failure_table_gone_only_warns(dbs):
    _, immich, admin = dbs
    admin.execute("DROP FUNCTION zh_search.refresh(uuid[])")
    admin.execute("DROP TABLE zh_search.sync_failure")
    notices: list[str] = []
    immich.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    every_write(immich)
    immich.execute("TRUNCATE asset_ocr")
    assert any("could not record the failure either" in n for n in notices), notices


class LockHolder:
    """Another session holds `statement`'s lock (e.g. a migration, a long search) until released."""

    def __init__(self, url: str, statement: str, seconds: float = 10) -> None:
        self.ready, self.done = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url, statement, seconds))
        self.thread.start()
        self.ready.wait(10)

    def _run(self, url: str, statement: str, seconds: float) -> None:
        with psycopg.connect(libpq(url)) as other:
            other.execute(statement)
            self.ready.set()
            self.done.wait(seconds)
            other.rollback()

    def join(self) -> None:
        self.done.set()
        self.thread.join()


def hold_lock(url: str, statement: str, seconds: float) -> LockHolder:
    return LockHolder(url, statement, seconds)


@pytest.mark.parametrize(
    "immich_setting, expected_state",
    [
        ("SET statement_timeout = '300ms'", "57014"),  # QueryCanceled: WHEN OTHERS does not catch it
        ("SET statement_timeout = 0", "55P03"),  # the trigger's own lock_timeout (1 s)
    ],
)
def test_timeouts_inside_the_trigger_never_fail_immichs_write(dbs, immich_setting, expected_state):
    url, immich, admin = dbs
    user = new_user(immich)
    a = new_asset(immich, user)
    immich.execute(immich_setting)
    holder = hold_lock(url, "LOCK TABLE zh_search.ocr_text IN ACCESS EXCLUSIVE MODE", 3)
    started = time.monotonic()
    ocr_upsert(immich, a, ["发票号码"])  # succeeds
    waited = time.monotonic() - started
    holder.join()
    immich.execute("SET statement_timeout = 0")
    assert waited < 2.5  # bounded by the timeout, not by the lock's 3 s
    assert immich.execute('SELECT count(*) FROM asset_ocr WHERE "assetId" = %s', (a,)).fetchone()[0] == 1
    recorded = failures(admin)  # Immich's upsert is one statement firing the delete and the insert trigger
    assert recorded[0][1] == expected_state and all(ids == [a] for _, _, ids in recorded)
    assert {op for op, _, _ in recorded} <= {"insert", "delete"} and "insert" in {op for op, _, _ in recorded}
    assert indexed_text(admin, a) is None
    backfill(url)
    assert [m for m, _ in search(admin, "发票")] == [a] and failures(admin) == []


def test_truncate_while_a_search_holds_the_index(dbs):
    url, immich, admin = dbs
    a = new_asset(immich)
    ocr_upsert(immich, a, ["发票"])
    holder = hold_lock(url, "SELECT count(*) FROM zh_search.ocr_text", 2.5)  # ACCESS SHARE until rollback
    immich.execute("TRUNCATE asset_ocr, ocr_search")  # the trigger falls back from TRUNCATE to DELETE
    holder.join()
    assert admin.execute("SELECT count(*) FROM zh_search.ocr_text").fetchone()[0] == 0
    assert failures(admin) == []


def test_oversized_and_odd_text_is_capped_not_failed(dbs):
    url, immich, admin = dbs
    big, odd = new_asset(immich), new_asset(immich)
    lines = ["开头的发票号码"] + ["票据内容" * 50] * 600 + ["结尾的停车场"]  # ~120k characters
    ocr_upsert(immich, big, lines)
    ocr_upsert(immich, odd, ["a" * 5000, "'\\:*&|!<->", "\u200b\ufeff零宽", "𠀀" * 3000])
    assert failures(admin) == []
    assert len(indexed_text(admin, big)) == 20000
    assert [m for m, _ in search(admin, "发票号码")] == [big]
    assert search(admin, "停车场") == []  # beyond the documented cap
    assert [m for m, _ in search(admin, "零宽")] == [odd]


def test_backfill_skips_and_records_a_bad_row_and_resumes(dbs):
    url, immich, admin = dbs
    user = new_user(immich)
    admin.execute("DROP TRIGGER zh_search_sync_insert ON asset_ocr")  # text arrives while the layer is away
    assets = [new_asset(immich, user) for _ in range(12)]
    for i, a in enumerate(assets):
        ocr_upsert(immich, a, ["坏" if i == 5 else f"发票 {i}"])
    admin.execute("ALTER TABLE zh_search.ocr_text ADD CONSTRAINT no_bad CHECK (text <> '坏')")
    result = CliRunner().invoke(main, ["db", "backfill", "--batch-size", "4", "--database-url", url])
    assert result.exit_code == 0 and "1 skipped" in result.output, result.output
    assert len(search(admin, "发票")) == 11
    assert [ids for op, _, ids in failures(admin)] == [[assets[5]]]
    # an interrupted run resumes after the last committed batch
    admin.execute("ALTER TABLE zh_search.ocr_text DROP CONSTRAINT no_bad")
    admin.execute("TRUNCATE zh_search.ocr_text")
    ordered = sorted(assets)
    admin.execute("INSERT INTO zh_search.backfill_state (last_id) VALUES (%s)", (ordered[7],))
    backfill(url)
    assert admin.execute("SELECT count(*) FROM zh_search.ocr_text").fetchone()[0] == 4  # the 4 after the cursor
    backfill(url)
    assert admin.execute("SELECT count(*) FROM zh_search.ocr_text").fetchone()[0] == 12
    assert failures(admin) == []  # a complete pass clears what it re-derived


def test_migrations_give_up_on_locks_instead_of_queueing(dbs):
    url, immich, admin = dbs
    a = new_asset(immich)
    # an Immich transaction is open on asset_ocr: the downgrade must not queue (it would block Immich)
    with psycopg.connect(as_immich(url)) as busy:
        ocr_upsert(busy, a, ["发票"])
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="gave up after lock_timeout=300ms"):
            migrate.downgrade(url, "base", lock_timeout="300ms")
        assert time.monotonic() - started < 5
        busy.rollback()
    # each revision is one transaction: 0006 -> 0005 -> 0004 touch only zh_search (no lock on Immich's tables) and
    # may have gone through; 0004 -> 0003 needs asset_ocr, gave up and changed nothing. The layer still works.
    assert migrate.revisions(url).current in (("0007",), ("0006",), ("0005",), ("0004",))
    ocr_upsert(immich, a, ["营业执照"])
    assert admin.execute('SELECT norm FROM zh_search.ocr_text WHERE "assetId" = %s', (a,)).fetchone() == ("营业执照",)
    result = CliRunner().invoke(main, ["db", "downgrade", "--lock-timeout", "2s", "--database-url", url])
    assert result.exit_code == 0, result.output
