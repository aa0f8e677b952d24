"""Contract v2: the N best matches are the N best the user may see (owners, partners, visibility,
trash, dates, type), with a total order for paging, and hybrid candidates from the user's own photos."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from uuid import UUID

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine

from plugin_service.cli import main
from plugin_service.db import queries
from plugin_service.db.queries import AssetFilter
from tests.db._immich import new_asset, new_user, ocr_upsert
from tests.db.conftest import as_immich, libpq

MANY = 2000


def _unit(seed: int, near: list[float] | None = None, weight: float = 0.0) -> list[float]:
    values = [math.sin(seed * 7.1 + i * 0.37) for i in range(512)]
    if near is not None:
        values = [v + weight * n for v, n in zip(values, near, strict=True)]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


QUERY_VECTOR = _unit(1)


@pytest.fixture(scope="module")
def library(layer_db):
    """A household: A owns MANY photos with 发票 (very close to the query vector too), B owns one
    (further away), C is B's partner sharing their timeline, D a partner who does not."""
    with psycopg.connect(as_immich(layer_db), autocommit=True) as immich:
        a, b, c, d = (new_user(immich) for _ in range(4))
        immich.execute(
            'INSERT INTO partner ("sharedById", "sharedWithId", "inTimeline") VALUES (%s, %s, true), (%s, %s, false)',
            (c, b, d, b),
        )
        immich.execute(
            """WITH new AS (INSERT INTO asset ("ownerId") SELECT %s FROM generate_series(1, %s) RETURNING id)
               INSERT INTO asset_ocr ("assetId", x1, y1, x2, y2, x3, y3, x4, y4, "boxScore", "textScore", text)
               SELECT id, 0, 0, 1, 0, 1, 1, 0, 1, 0.9, 0.9, '增值税电子普通发票 发票号码' FROM new""",
            (a, MANY),
        )
        a_assets = [r[0] for r in immich.execute('SELECT id FROM asset WHERE "ownerId" = %s', (a,))]
        with immich.cursor() as cur, cur.copy('COPY smart_search ("assetId", embedding) FROM STDIN') as copy:
            for i, asset in enumerate(a_assets):
                copy.write_row((asset, queries.vector_literal(_unit(1000 + i, QUERY_VECTOR, 3.0))))
        ids = {
            "b": new_asset(immich, b),
            "b_archived": new_asset(immich, b, visibility="archive"),
            "b_locked": new_asset(immich, b, visibility="locked"),
            "b_hidden": new_asset(immich, b, visibility="hidden"),
            "b_trashed": new_asset(immich, b, deletedAt=datetime(2025, 1, 1, tzinfo=UTC)),
            "b_video": new_asset(immich, b, type="VIDEO", fileCreatedAt=datetime(2020, 5, 1, tzinfo=UTC)),
            "b_substring": new_asset(immich, b),
            "c_partner": new_asset(immich, c),
            "c_partner_archived": new_asset(immich, c, visibility="archive"),
            "d_not_in_timeline": new_asset(immich, d),
        }
        for name, asset in ids.items():
            ocr_upsert(immich, asset, ["號碼 12345678" if name == "b_substring" else "發票 停车场"])
        immich.execute(
            "INSERT INTO smart_search VALUES (%s, %s::vector)",
            (ids["b"], queries.vector_literal(_unit(5, QUERY_VECTOR, 0.5))),
        )
        yield layer_db, {"a": a, "b": b, "c": c, "d": d}, ids, a_assets


def run(url: str, fn, *args, **kwargs):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return fn(conn, *args, **kwargs)
    finally:
        engine.dispose()


def names(ids: dict[str, UUID], found) -> set[str]:
    back = {v: k for k, v in ids.items()}
    return {back.get(m.asset_id, "A") for m in found}


def test_b_finds_their_one_photo_behind_thousands_of_a(library):
    url, users, ids, _ = library
    assert run(url, queries.contract_version) == 2
    found = run(url, queries.ocr_search_user, "发票", AssetFilter((users["b"],)), 10)
    assert names(ids, found) == {"b", "b_archived", "b_hidden", "b_video"}
    everyone = run(url, queries.ocr_match, "发票", None)
    assert len(everyone) == MANY + 9  # the global top 10 would be all A's


def test_partners_who_share_their_timeline(library):
    url, users, ids, _ = library
    owners = tuple(run(url, queries.search_owner_ids, users["b"]))
    assert set(owners) == {users["b"], users["c"]}  # D shares, but not in B's timeline
    found = run(url, queries.ocr_search_user, "發票", AssetFilter(owners), 50)
    assert names(ids, found) == {"b", "b_archived", "b_hidden", "b_video", "c_partner", "c_partner_archived"}


@pytest.mark.parametrize(
    "where, expected",
    [
        (dict(visibilities=("timeline",)), {"b", "b_video"}),
        (dict(visibilities=("archive",)), {"b_archived"}),
        (dict(visibilities=("locked",)), {"b_locked"}),
        (dict(visibilities=None), {"b", "b_archived", "b_hidden", "b_video", "b_locked"}),
        (dict(with_deleted=True), {"b", "b_archived", "b_hidden", "b_video", "b_trashed"}),
        (dict(asset_type="VIDEO"), {"b_video"}),
        (dict(taken_before=datetime(2021, 1, 1, tzinfo=UTC)), {"b_video"}),
        (dict(taken_after=datetime(2021, 1, 1, tzinfo=UTC), visibilities=("timeline",)), {"b"}),
    ],
)
def test_immichs_filters_apply_before_the_limit(library, where, expected):
    url, users, ids, _ = library
    found = run(url, queries.ocr_search_user, "发票", AssetFilter((users["b"],), **where), 3)
    assert names(ids, found) == expected or (len(expected) > 3 and len(found) == 3)
    assert names(ids, run(url, queries.ocr_search_user, "发票", AssetFilter((users["b"],), **where), 50)) == expected


def test_pages_are_a_total_order_without_repeats_or_gaps(library):
    url, users, _, a_assets = library
    where = AssetFilter((users["a"],))
    pages, page = [], 0
    while True:
        rows = run(url, queries.ocr_search_user, "发票", where, 301, skip=page * 300)
        pages += rows[:300]
        if len(rows) <= 300:
            break
        page += 1
    assert len(pages) == MANY and {m.asset_id for m in pages} == set(a_assets)
    keys = [(-m.rank, str(m.asset_id)) for m in pages]
    assert keys == sorted(keys)
    # keyset paging gives the same sequence
    after, keyset = None, []
    while True:
        rows = run(url, queries.ocr_search_user, "发票", where, 700, after=after)
        keyset += rows
        if len(rows) < 700:
            break
        after = (rows[-1].rank, rows[-1].asset_id)
    assert [m.asset_id for m in keyset] == [m.asset_id for m in pages]


def test_text_score_is_absolute(library):
    url, users, ids, _ = library
    owners = (users["b"],)
    tokens = run(url, queries.ocr_search_user, "12345678", AssetFilter(owners), 10)
    assert [(m.asset_id, m.text_score) for m in tokens] == [(ids["b_substring"], 1.0)]
    inside = run(url, queries.ocr_search_user, "2345", AssetFilter(owners), 10)  # inside a longer number
    assert [(m.asset_id, m.text_score, m.rank) for m in inside] == [(ids["b_substring"], 0.5, pytest.approx(0.0001))]
    assert run(url, queries.ocr_search_user, "发票", AssetFilter(()), 10) == []  # no owners, no rows


def test_ocr_match_joins_inside_immichs_own_filtered_query(library):
    url, users, ids, _ = library
    with psycopg.connect(as_immich(url)) as immich:  # Immich's role, with the grants of `db upgrade`
        rows = immich.execute(
            """SELECT asset.id FROM asset JOIN zh_search.ocr_match(%s, %s) AS zh ON zh."assetId" = asset.id
               WHERE asset.visibility = 'archive' AND asset."deletedAt" IS NULL
               ORDER BY zh.rank DESC, asset.id LIMIT 10""",
            ("发票", [users["b"], users["c"]]),
        ).fetchall()
        assert {r[0] for r in rows} == {ids["b_archived"], ids["c_partner_archived"]}
        assert immich.execute("SELECT bool_and(ok) FROM zh_search.health()").fetchone()[0]


def test_hybrid_candidates_are_the_users_own(library):
    url, users, ids, a_assets = library
    got = run(url, queries.hybrid_candidates_user, "发票", QUERY_VECTOR, AssetFilter((users["b"],)), 20)
    by_id = {c.asset_id: c for c in got}
    assert set(by_id) == {ids[n] for n in ("b", "b_archived", "b_hidden", "b_video")}
    assert by_id[ids["b"]].cosine is not None and by_id[ids["b"]].text_score == 1.0
    assert by_id[ids["b_archived"]].cosine is None
    no_vector = run(url, queries.hybrid_candidates_user, "发票", None, AssetFilter((users["b"],)), 20)
    assert {c.asset_id for c in no_vector} == set(by_id) and all(c.cosine is None for c in no_vector)
    # every one of A's photos says 发票: CLIP neighbours outside the text top 5 still carry the text signal
    got = run(url, queries.hybrid_candidates_user, "发票", QUERY_VECTOR, AssetFilter((users["a"],)), 5)
    assert len(got) >= 5 and all(c.text_score == 1.0 and c.text_rank > 0 for c in got)
    assert sum(c.cosine is not None for c in got) >= 5
    # A's CLIP neighbours come through the HNSW index filtered to A: max_results of them, exact order
    got = run(url, queries.hybrid_candidates_user, "不存在", QUERY_VECTOR, AssetFilter((users["a"],)), 100)
    assert len(got) == 100 and all(c.text_score == 0 for c in got)
    with psycopg.connect(libpq(url)) as admin:
        admin.execute("SET enable_indexscan = off")  # the exact answer
        best = admin.execute(
            'SELECT s."assetId" FROM smart_search s JOIN asset a ON a.id = s."assetId" '
            'WHERE a."ownerId" = %s ORDER BY embedding <=> %s::vector LIMIT 100',
            (users["a"], queries.vector_literal(QUERY_VECTOR)),
        ).fetchall()
    recall = len({c.asset_id for c in got} & {r[0] for r in best}) / 100
    assert recall >= 0.9, recall


def test_cli_search_as_a_user_with_the_url_after_the_subcommand(library):
    url, users, ids, _ = library
    runner = CliRunner()
    result = runner.invoke(
        main, ["db", "search", "发票", "--user-id", str(users["b"]), "--with-partners", "--json", "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    got = {UUID(r["assetId"]) for r in json.loads(result.output)}
    assert got == {ids[n] for n in ("b", "b_archived", "b_hidden", "b_video", "c_partner", "c_partner_archived")}
    result = runner.invoke(
        main,
        [
            "db",
            "search",
            "發票",
            "--user-id",
            str(users["c"]),
            "--user-id",
            str(users["d"]),
            "--visibility",
            "timeline",
            "--database-url",
            url,
        ],
    )
    assert result.exit_code == 0 and str(ids["c_partner"]) in result.output
    assert str(ids["d_not_in_timeline"]) in result.output and str(ids["b"]) not in result.output
