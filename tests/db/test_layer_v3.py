"""Layer v3 (revision 0004): the index partitioned by owner, texts written once, the cheaper rank, and the
top-N walk of ocr_search_user that must fall back to every match when Immich's filters drop many."""

from __future__ import annotations

import re

import psycopg

from plugin_service.db import migrate
from tests.db._immich import indexed_text, new_asset, new_user, ocr_upsert


def owned_with_text(immich: psycopg.Connection, owner, count: int, text: str, **columns: object) -> list:
    names = ", ".join(f'"{k}"' for k in columns)
    values = ", ".join(["%s"] * len(columns))
    rows = immich.execute(
        f"""WITH new AS (INSERT INTO asset ("ownerId"{", " + names if columns else ""})
                         SELECT %s{", " + values if columns else ""} FROM generate_series(1, %s) RETURNING id)
            INSERT INTO asset_ocr ("assetId", x1, y1, x2, y2, x3, y3, x4, y4, "boxScore", "textScore", text)
            SELECT id, 0, 0, 1, 0, 1, 1, 0, 1, 0.9, 0.9, %s FROM new RETURNING "assetId" """,
        (owner, *columns.values(), count, text),
    ).fetchall()
    return [r[0] for r in rows]


def user_search(immich: psycopg.Connection, query: str, owners: list, **options: object) -> list[tuple]:
    named = "".join(f", {k} => %({k})s" for k in options)
    return immich.execute(
        f"SELECT * FROM zh_search.ocr_search_user(%(q)s, %(o)s::uuid[]{named})", {"q": query, "o": owners, **options}
    ).fetchall()


def test_a_users_search_reads_only_their_partition(dbs):
    _, immich, admin = dbs
    assert admin.execute("SELECT relkind FROM pg_class WHERE oid = 'zh_search.ocr_text'::regclass").fetchone() == ("p",)
    partitions = admin.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'zh_search.ocr_text'::regclass")
    assert partitions.fetchone()[0] == admin.execute("SELECT zh_search.partitions()").fetchone()[0]
    user = new_user(immich)
    ocr_upsert(immich, new_asset(immich, user), ["发票号码"])
    plan = "\n".join(
        r[0]
        for r in admin.execute(
            """EXPLAIN SELECT o."assetId" FROM zh_search.ocr_text o
               WHERE o.tsv @@ zh_search.query_tsquery('发票') AND o."ownerId" = ANY(%s::uuid[])""",
            ([user],),
        )
    )
    assert len(set(re.findall(r" on (ocr_text_p\d+) ", plan))) == 1, plan


def test_rows_are_written_once_and_follow_every_change(dbs):
    _, immich, admin = dbs
    user = new_user(immich)
    asset = new_asset(immich, user)
    ocr_upsert(immich, asset, ["營業執照"])
    row = admin.execute('SELECT norm, tsv::text FROM zh_search.ocr_text WHERE "assetId" = %s', (asset,)).fetchone()
    expected = admin.execute("SELECT zh_search.normalize('營業執照'), zh_search.doc_tsvector('營業執照')::text")
    assert row == expected.fetchone()
    assert row[0] == "营业执照"
    ocr_upsert(immich, asset, ["停车场"])
    assert indexed_text(admin, asset) == "停车场"
    immich.execute('UPDATE asset_ocr SET "isVisible" = false WHERE "assetId" = %s', (asset,))
    assert indexed_text(admin, asset) is None
    immich.execute('UPDATE asset_ocr SET "isVisible" = true WHERE "assetId" = %s', (asset,))
    assert indexed_text(admin, asset) == "停车场"
    immich.execute("DELETE FROM asset WHERE id = %s", (asset,))  # cascade: the owner is gone with the asset
    assert admin.execute('SELECT count(*) FROM zh_search.ocr_text WHERE "assetId" = %s', (asset,)).fetchone()[0] == 0
    assert admin.execute("SELECT count(*) FROM zh_search.sync_failure").fetchone()[0] == 0


def test_repeated_words_still_rank_higher(dbs):
    _, immich, _ = dbs
    user = new_user(immich)
    once, twice = new_asset(immich, user), new_asset(immich, user)
    ocr_upsert(immich, once, ["增值税电子普通发票"])
    ocr_upsert(immich, twice, ["增值税电子普通发票", "电子普通发票"])
    rows = user_search(immich, "电子普通发票", [user])
    assert [r[0] for r in rows] == [twice, once] and rows[0][1] > rows[1][1]


def test_a_page_stays_exact_when_the_filters_drop_more_than_the_margin(dbs):
    """300 trashed photos outrank everything (repeated word), then 150 visible ones: the top-N walk sees only
    trashed rows in its first window and must go on to the full walk, returning the same rows as paging by
    hand through every match."""
    _, immich, _ = dbs
    user = new_user(immich)
    trashed = owned_with_text(immich, user, 300, "发票 发票 发票", deletedAt="2025-01-01")
    visible = owned_with_text(immich, user, 150, "发票")
    page = user_search(immich, "发票", [user], max_results=101)
    assert len(page) == 101 and {r[0] for r in page} <= set(visible)
    assert [r[0] for r in page] == sorted(visible, key=str)[:101]  # one rank: ties by asset id
    rest = user_search(immich, "发票", [user], max_results=101, skip=101)
    assert [r[0] for r in rest] == sorted(visible, key=str)[101:]
    with_trash = user_search(immich, "发票", [user], max_results=400, with_deleted=True)
    assert len(with_trash) == 400 and {r[0] for r in with_trash[:300]} == set(trashed)


def test_downgrade_to_0003_keeps_the_rows_and_upgrade_returns(dbs):
    url, immich, admin = dbs
    user = new_user(immich)
    assets = [new_asset(immich, user) for _ in range(3)]
    for asset, text in zip(assets, ["發票", "北京咖啡", "停车场"], strict=True):
        ocr_upsert(immich, asset, [text])
    before = user_search(immich, "发票", [user])
    migrate.downgrade(url, "0003")
    assert admin.execute("SELECT relkind FROM pg_class WHERE oid = 'zh_search.ocr_text'::regclass").fetchone() == ("r",)
    assert admin.execute("SELECT count(*) FROM zh_search.ocr_text").fetchone()[0] == 3
    assert [r[0] for r in user_search(immich, "发票", [user])] == [r[0] for r in before]
    ocr_upsert(immich, assets[2], ["发票 停车场"])  # the v2 triggers write again
    migrate.upgrade(url)
    assert sorted(r[0] for r in user_search(immich, "发票", [user])) == sorted([assets[0], assets[2]])
    assert all(ok for _, ok, _ in immich.execute("SELECT * FROM zh_search.health()"))


def test_backfill_drops_a_row_left_under_a_former_owner(dbs):
    url, immich, admin = dbs
    first, second = new_user(immich), new_user(immich)
    asset = new_asset(immich, first)
    ocr_upsert(immich, asset, ["发票"])
    admin.execute('UPDATE asset SET "ownerId" = %s WHERE id = %s', (second, asset))  # Immich never does this
    admin.execute("SELECT * FROM zh_search.backfill_step(1000)")
    admin.execute("SELECT * FROM zh_search.backfill_step(1000)")
    owners = admin.execute('SELECT "ownerId" FROM zh_search.ocr_text WHERE "assetId" = %s', (asset,)).fetchall()
    assert owners == [(second,)]
    assert user_search(immich, "发票", [first]) == []
