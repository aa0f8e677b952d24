"""Layer v5 (revision 0006): letters and digits side by side are also indexed as one glued word, so a train
number or a model code is one index lookup, whatever how many texts hold its parts."""

from __future__ import annotations

from plugin_service.db import migrate
from tests.db._immich import new_asset, new_user, ocr_upsert
from tests.db.test_layer_v3 import owned_with_text, user_search

TICKET = "G1234次 北京南站→上海虹桥站 身份证号 1101**********1234"


def found(immich, query: str, user) -> set:
    return {r[0] for r in user_search(immich, query, [user])}


def test_glued_words_are_found_as_users_type_them(dbs):
    _, immich, _ = dbs
    user = new_user(immich)
    texts = {
        "ticket": TICKET,
        "longer": "G12345次 南京南站",
        "spaced": "iPhone 15 Pro 256GB 发票",
        "seat": "06车12F号 二等座",
        "hyphen": "G-1234 车次",
    }
    ids = {}
    for name, text in texts.items():
        ids[name] = new_asset(immich, user)
        ocr_upsert(immich, ids[name], [text])
    assert found(immich, "G1234", user) == {ids["ticket"], ids["longer"]}  # a prefix, as any last token
    assert found(immich, "g1234次", user) == {ids["ticket"]}  # the glued word, then the character after it
    assert found(immich, "iPhone15", user) == {ids["spaced"]}  # glued across the text's space
    assert found(immich, "15pro", user) == {ids["spaced"]}
    assert found(immich, "iPhone 15", user) == {ids["spaced"]}  # two terms, as before
    assert found(immich, "12F号", user) == {ids["seat"]}
    assert found(immich, "G-1234", user) == {ids["ticket"], ids["longer"], ids["hyphen"]}  # punctuation: a phrase
    # what v5 no longer finds: punctuation inside the text's word, none in the query's
    assert ids["hyphen"] not in found(immich, "G1234", user)


def test_a_rare_glued_word_of_common_parts_is_not_rechecked(dbs):
    _, immich, admin = dbs
    user = new_user(immich)
    owned_with_text(immich, user, 400, "G5678次 北京南站 身份证号 1101**********1234")  # every one holds g and 1234
    ticket = new_asset(immich, user)
    ocr_upsert(immich, ticket, [TICKET])
    assert found(immich, "G1234", user) == {ticket}
    admin.execute("ANALYZE zh_search.ocr_text")
    plan = "\n".join(
        r[0]
        for r in admin.execute(
            "EXPLAIN (ANALYZE, COSTS OFF) SELECT * FROM zh_search.ocr_text WHERE tsv @@ zh_search.query_tsquery(%s) "
            'AND "ownerId" = %s',
            ("G1234", user),
        )
    )
    assert "Rows Removed by Index Recheck" not in plan, plan  # v4: 400 texts re-checked for the phrase g <-> 1234


def test_hostile_glued_texts_are_indexed_and_found(dbs):
    _, immich, admin = dbs
    user = new_user(immich)
    texts = {
        "repeated": "a1" * 10000,  # 20,000 runs in one chain: uncapped glued words overflowed the tsvector
        "alternating": "".join(f"{chr(97 + i % 26)}{i % 10}" for i in range(10000)),
        "long words": " ".join(f"x{i}y{i * 7}z" for i in range(1400)) + " G1234",  # under the 20,000 indexed
    }
    ids = {}
    for name, text in texts.items():
        ids[name] = new_asset(immich, user)
        ocr_upsert(immich, ids[name], [text])
    assert admin.execute("SELECT count(*) FROM zh_search.sync_failure").fetchone()[0] == 0
    assert found(immich, "a1a1a1", user) == {ids["repeated"]}
    assert found(immich, "k0l1", user) == {ids["alternating"]}
    assert found(immich, "x1399y9793z", user) == {ids["long words"]}
    assert found(immich, "G1234", user) == {ids["long words"]}
    assert found(immich, "a1" * 20, user) == {ids["repeated"]}  # longer than a glued word: the phrase of runs


def test_upgrade_reindexes_existing_texts_and_downgrade_restores_v4(dbs):
    url, immich, admin = dbs
    user = new_user(immich)
    asset = new_asset(immich, user)
    plain = new_asset(immich, user)
    migrate.downgrade(url, "0005")
    ocr_upsert(immich, asset, [TICKET])  # indexed by v4: no glued word
    ocr_upsert(immich, plain, ["营业执照"])
    lexemes = 'SELECT array(SELECT lexeme FROM unnest(tsv)) FROM zh_search.ocr_text WHERE "assetId" = %s'
    assert "g1234" not in admin.execute(lexemes, (asset,)).fetchone()[0]
    assert found(immich, "G1234", user) == {asset}  # v4's phrase
    before_plain = admin.execute(lexemes, (plain,)).fetchone()[0]
    migrate.upgrade(url)
    assert "g1234" in admin.execute(lexemes, (asset,)).fetchone()[0]
    assert admin.execute(lexemes, (plain,)).fetchone()[0] == before_plain
    assert found(immich, "G1234", user) == {asset}
    migrate.downgrade(url, "0005")
    assert "g1234" not in admin.execute(lexemes, (asset,)).fetchone()[0]
    assert admin.execute("SELECT zh_search.query_tsquery('G1234')::text").fetchone()[0] == "'g' <-> '1234':*"
    assert admin.execute("SELECT to_regprocedure('zh_search.doc_tokens_glued(text)')").fetchone()[0] is None
    migrate.upgrade(url)
    assert admin.execute("SELECT zh_search.query_tsquery('G1234')::text").fetchone()[0] == "'g1234':*"
