"""Layer v4 (revision 0005): text lookups by asset id are key lookups whatever the planner thinks of the
query, and the hybrid's text half ranks at most `text_budget` matches while the CLIP neighbours keep their
own exact text signal."""

from __future__ import annotations

import psycopg

from plugin_service.db import migrate, queries
from tests.db._immich import new_asset, new_user, ocr_upsert
from tests.db.test_layer_v3 import owned_with_text, user_search

PHRASE = "增值税电子普通发票"  # eight bigrams: the planner's estimate for the phrase is about one row


def nested_plans(admin: psycopg.Connection, sql: str, params: tuple) -> list[str]:
    """The plans of every statement the call runs, functions' inner statements included (auto_explain)."""
    notices: list[str] = []
    admin.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    admin.execute("LOAD 'auto_explain'")
    for setting in ("log_min_duration = 0", "log_nested_statements = on", "log_level = notice"):
        admin.execute(f"SET auto_explain.{setting}")
    admin.execute(sql, params).fetchall()
    admin.execute("SET auto_explain.log_min_duration = -1")
    return notices


def test_neighbour_lookups_never_read_the_users_matches(dbs):
    _, immich, admin = dbs
    user = new_user(immich)
    matching = owned_with_text(immich, user, 300, PHRASE)
    others = owned_with_text(immich, user, 50, "停车场")
    admin.execute("ANALYZE zh_search.ocr_text")
    neighbours = matching[:5] + others[:5]
    sql = "SELECT * FROM zh_search.match_tokens(%s, %s::uuid[], %s::uuid[])"
    got = admin.execute(sql, (PHRASE, [user], neighbours)).fetchall()
    assert {r[0] for r in got} == set(matching[:5]) and all(r[2] == 1.0 for r in got)
    lookup = next(p for p in nested_plans(admin, sql, (PHRASE, [user], neighbours)) if "OFFSET 0" in p)
    assert "ocr_text" in lookup and "tsv_idx" not in lookup, lookup  # the text test is a filter, not the scan
    sub = "SELECT * FROM zh_search.match_substrings(%s, %s::uuid[], %s::uuid[])"
    assert admin.execute(sub, ("普通发", [user], neighbours)).fetchall() == []  # token matches are not substrings


def test_a_budget_ranks_only_that_many_matches_and_null_is_exact(dbs):
    _, immich, _ = dbs
    user = new_user(immich)
    plain = owned_with_text(immich, user, 40, "发票")
    best = new_asset(immich, user)
    ocr_upsert(immich, best, ["发票 发票 发票"])  # written last: outside the first 10 read
    exact = user_search(immich, "发票", [user], max_results=5)
    assert exact[0][0] == best and len(exact) == 5
    budgeted = user_search(immich, "发票", [user], max_results=5, text_budget=10)
    assert len(budgeted) == 5 and best not in {r[0] for r in budgeted}
    assert {r[0] for r in budgeted} <= set(plain)
    assert [r[1] for r in budgeted] == sorted((r[1] for r in budgeted), reverse=True)  # still best first
    assert user_search(immich, "发票", [user], max_results=5, text_budget=1000) == exact
    # a budget below the page is raised to the page: never fewer rows than exist
    assert len(user_search(immich, "发票", [user], max_results=30, text_budget=1)) == 30


def test_hybrid_text_half_is_bounded_but_neighbours_keep_their_text(dbs):
    url, immich, _ = dbs
    user = new_user(immich)
    owned_with_text(immich, user, 60, "发票")
    stored = 'SELECT "assetId" FROM zh_search.ocr_text WHERE "ownerId" = %s ORDER BY ctid'
    texts = [r[0] for r in immich.execute(stored, (user,))]  # the order a budget reads them in
    near = texts[-1]  # the last read: outside a budget of 10, but the query vector's nearest neighbour
    query = [1.0] + [0.0] * 511
    with immich.cursor() as cur, cur.copy('COPY smart_search ("assetId", embedding) FROM STDIN') as copy:
        for i, asset in enumerate(texts):
            vector = query if asset == near else [0.0] * (i % 511 + 1) + [1.0] + [0.0] * (510 - i % 511)
            copy.write_row((asset, queries.vector_literal(vector)))
    hybrid = "SELECT * FROM zh_search.hybrid_candidates_user(%s, %s::vector, %s::uuid[], max_results => 5{})"
    literal = queries.vector_literal(query)
    bounded = immich.execute(hybrid.format(", text_budget => 10"), ("发票", literal, [user])).fetchall()
    by_id = {r[0]: r for r in bounded}
    assert near in by_id and by_id[near][2] > 0 and by_id[near][3] == 1.0  # found by CLIP, text looked up
    text_only = [r for r in bounded if r[0] != near and r[0] in texts[:10]]
    assert len(bounded) <= 10 and text_only
    exact = immich.execute(hybrid.format(", text_budget => NULL"), ("发票", literal, [user])).fetchall()
    default = immich.execute(hybrid.format(""), ("发票", literal, [user])).fetchall()
    assert sorted(default) == sorted(exact)  # 60 matches: under the default budget, the same candidates


def test_downgrade_to_v3_and_back(dbs):
    url, immich, admin = dbs
    user = new_user(immich)
    asset = new_asset(immich, user)
    ocr_upsert(immich, asset, [PHRASE])
    migrate.downgrade(url, "0004")
    assert [r[0] for r in user_search(immich, PHRASE, [user])] == [asset]
    signature = "SELECT pg_get_function_identity_arguments('zh_search.ocr_search_user'::regproc)"
    assert "text_budget" not in admin.execute(signature).fetchone()[0]
    migrate.upgrade(url)
    assert "text_budget" in admin.execute(signature).fetchone()[0]
    assert [r[0] for r in user_search(immich, PHRASE, [user], text_budget=5)] == [asset]
