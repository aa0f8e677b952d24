"""Queries through zh_search.ocr_search / hybrid_candidates: Chinese, English, digits, one
character, OCR spacing and line breaks, and inputs shaped like injections, which are plain text."""

from __future__ import annotations

import math

import psycopg
import pytest

from plugin_service.db import queries
from tests.db._immich import new_asset, ocr_upsert, search
from tests.db.conftest import libpq
from tests.db.text_model import normalize

DOCS = {
    "receipt": [
        "星巴克咖啡(北京国贸店)",
        "拿铁(大杯) 1 ¥36.00",
        "微信支付",
        "2024-03-15 14:32:08",
        "扫描二维码开具电子发票",
    ],
    "invoice": ["增值税电子普通发票", "发票代码:011002300111 发票号码:12345678", "开票日期:2024年03月15日"],
    "spaced": ["发 票 号 码 ： 0 0 8 8 1 2 3 4"],
    "broken": ["本店支持微信支付宝付款 营业执", "照已公示 北京咖", "啡文化有限公司"],
    "fullwidth": ["發票號碼：ＡＢ１２３４５６７８", "台北市信義區 咖啡廳"],
    "iphone": ["iPhone 15 Pro 发票 2024年3月 Apple Store 三里屯 北京"],
    "address": ["收货地址:上海市浦东新区张江高科技园区碧波路690号"],
    "id": ["公民身份号码 440305199001011234", "住址 广东省深圳市南山区科技园"],
    "coffee": ["WiFi密码: coffee2024", "扫码连接 欢迎光临Manner Coffee 上海静安寺店"],
    "quotes": ["It's 'quoted' & (a|b) ! c:* \\ back\\slash"],
    "single": ["中", "Hello world!你好世界"],
}


@pytest.fixture(scope="module")
def corpus(layer_db):
    with psycopg.connect(libpq(layer_db), autocommit=True) as conn:
        ids = {}
        for name, lines in DOCS.items():
            ids[name] = new_asset(conn)
            ocr_upsert(conn, ids[name], lines)
        yield conn, ids


def found(corpus, query: str) -> list[str]:
    conn, ids = corpus
    names = {v: k for k, v in ids.items()}
    return [names[a] for a, _ in search(conn, query)]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("发票", {"receipt", "invoice", "spaced", "iphone", "fullwidth"}),  # spaced OCR is joined; 發票 folds
        ("发票号码", {"invoice", "spaced", "fullwidth"}),
        ("發票號碼", {"invoice", "spaced", "fullwidth"}),  # Traditional query, Simplified text
        ("营业执照", {"broken"}),  # split over a line break
        ("咖啡", {"receipt", "broken", "fullwidth"}),
        ("北京", {"receipt", "broken", "iphone"}),
        ("上海", {"address", "coffee"}),  # inside 上海市浦东新区
        ("科技园", {"address", "id"}),  # inside 高科技园区
        ("号码 12345678", {"invoice", "fullwidth"}),  # AND of terms; full-width digits
        ("號碼 12345678", {"invoice", "fullwidth"}),
        ("台北", {"fullwidth"}),
        ("臺北", {"fullwidth"}),  # 臺 and 台 fold together
        ("ab12345678", {"fullwidth"}),
        ("iPhone 15", {"iphone"}),
        ("iphone15", {"iphone"}),
        ("IPHONE", {"iphone"}),
        ("coffee", {"coffee"}),  # coffee2024 and Coffee
        ("coff", {"coffee"}),  # last word is a prefix
        ("2024", {"receipt", "invoice", "iphone", "coffee"}),
        ("0 0 8 8", {"spaced"}),  # spaced digits, in the query too
        ("00881234", {"spaced"}),  # OCR-spaced single digits are joined
        ("号码0088", {"spaced"}),
        ("440305199001011234", {"id"}),
        ("wifi密码", {"coffee"}),
        ("密码coffee", {"coffee"}),
        ("北京国贸", {"receipt"}),
        ("不存在的词", set()),
    ],
)
def test_matches(corpus, query, expected):
    assert set(found(corpus, query)) == expected


@pytest.mark.parametrize("query", ["中", "票", "码", "京", "界", "你", "區"])
def test_every_one_character_query_equals_substring_search(corpus, query):
    texts = {name: normalize("".join(lines)).replace(" ", "") for name, lines in DOCS.items()}
    assert set(found(corpus, query)) == {name for name, t in texts.items() if normalize(query) in t}


def test_substring_path_for_numbers_and_words_inside_longer_ones(corpus):
    assert set(found(corpus, "5678")) == {"invoice", "fullwidth"}
    assert set(found(corpus, "phone")) == {"iphone"}
    assert found(corpus, "zzzz") == []
    conn, ids = corpus
    extra = new_asset(conn)
    ocr_upsert(conn, extra, ["取餐号 5678"])
    try:
        ranked = search(conn, "5678")
        assert ranked[0][0] == extra  # the token match first, the substring matches after it
        assert {a for a, _ in ranked[1:]} == {ids["invoice"], ids["fullwidth"]} and ranked[0][1] > ranked[1][1] > 0
    finally:
        conn.execute("DELETE FROM asset WHERE id = %s", (extra,))


@pytest.mark.parametrize(
    "query",
    [
        "'",
        "''",
        "\\",
        "\\\\",
        "&",
        "|",
        "!",
        "(",
        ")",
        ":*",
        "<->",
        "'; DROP TABLE zh_search.ocr_text; --",
        "a & b",
        "(a|b)",
        "!c",
        "c:*",
        "发票' | '北京",
        "发票 & !北京",
        "%",
        "_",
        "%发%",
        "",
        "   ",
        "\x00".replace("\x00", ""),
        "back\\slash",
        "quoted'",
        "'quoted'",
        "'发票':*",
        "发票)<->(北京",
    ],
)
def test_injection_shaped_input_is_text(corpus, query):
    conn, ids = corpus
    hits = found(corpus, query)  # must not raise
    assert conn.execute("SELECT count(*) FROM zh_search.ocr_text").fetchone()[0] == len(DOCS)
    if query.strip() and not any(ch.isalnum() for ch in query):
        # no letters, digits or CJK: the substring path answers, literally
        texts = {name: normalize("\n".join(lines)) for name, lines in DOCS.items()}
        assert set(hits) == {name for name, t in texts.items() if normalize(query.strip()) in t}


def test_odd_limits_and_long_queries(corpus):
    conn, ids = corpus
    everything = len(search(conn, "发票"))
    assert len(search(conn, "发票", None)) == everything  # NULL: the default
    assert search(conn, "发票", -5) == [] and search(conn, "发票", 0) == []
    assert search(conn, "发票" * 5000) == []  # a 10,000-character query is cut, not an error
    assert set(found(corpus, "发票号码" + " " * 3000 + "zzz")) == {
        "invoice",
        "spaced",
        "fullwidth",
    }  # only the first 256 characters count


def test_operators_in_query_are_not_operators(corpus):
    assert set(found(corpus, "发票 & !北京")) == set(found(corpus, "发票 北京"))
    assert set(found(corpus, "发票' | '北京")) == set(found(corpus, "发票 北京"))
    assert found(corpus, "back\\slash") == ["quotes"]
    assert found(corpus, "'quoted'") == ["quotes"]


def test_rank_orders_longer_and_repeated_matches_first(corpus):
    conn, ids = corpus
    ranked = search(conn, "发票")
    assert ranked[0][0] in (ids["invoice"], ids["spaced"])  # the word occurs twice / as the longest match
    assert all(r > 0 for _, r in ranked)
    assert [r for _, r in ranked] == sorted((r for _, r in ranked), reverse=True)
    assert len(search(conn, "发票", limit=2)) == 2


def _vector(cosine: float, dim: int = 512) -> list[float]:
    """A unit vector whose cosine with (1/sqrt(dim), ...) is `cosine`."""
    u = 1 / math.sqrt(dim)
    rest = math.sqrt(1 - cosine * cosine) / math.sqrt(2)
    values = [cosine * u] * dim
    values[0] += rest
    values[1] -= rest
    return values


def test_hybrid_candidates_carry_both_signals(layer_db):
    from sqlalchemy import create_engine

    query_vector = [1 / math.sqrt(512)] * 512
    with psycopg.connect(libpq(layer_db), autocommit=True) as conn:
        conn.execute("DELETE FROM asset")
        a, b, c, d = (new_asset(conn) for _ in range(4))
        ocr_upsert(conn, a, ["增值税发票 发票号码"])
        ocr_upsert(conn, d, ["开发票处"])  # text, no embedding
        for asset, cos in ((a, 0.15), (b, 0.45), (c, 0.42)):
            conn.execute(
                "INSERT INTO smart_search VALUES (%s, %s::vector)", (asset, queries.vector_literal(_vector(cos)))
            )
    engine = create_engine(layer_db)
    with engine.connect() as conn:
        got = {x.asset_id: x for x in queries.hybrid_candidates(conn, "发票", query_vector, max_results=10)}
        assert set(got) == {a, b, c, d}
        assert got[a].cosine == pytest.approx(0.15, abs=1e-4) and got[a].text_rank > got[d].text_rank > 0
        assert got[b].cosine == pytest.approx(0.45, abs=1e-4) and got[b].text_rank == 0
        assert got[d].cosine is None
        # CLIP window of 1: the nearest embedding plus every text match
        assert {x.asset_id for x in queries.hybrid_candidates(conn, "发票", query_vector, max_results=1)} == {b, a}
        assert {x.asset_id for x in queries.hybrid_candidates(conn, "'&|!", query_vector, max_results=2)} == {b, c}
        # what the patched Immich runs to detect the layer
        assert queries.layer_installed(conn)
    engine.dispose()
