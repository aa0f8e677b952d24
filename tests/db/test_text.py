"""The text model: the Python mirror (tests/db/text_model.py) and the SQL functions agree on
real OCR output (shared/data/ocr_ground_truth.json), and Immich's tokenizer port matches its tests."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests._paths import require_shared
from tests.db.conftest import libpq
from tests.db.text_model import doc_lexemes, doc_tokens, immich_tokenize, normalize, query_tsquery

EDGE_CASES = [
    "",
    "   ",
    "中",
    "中文",
    "发 票\n号 码",
    "ＡＢ１２３ｘｙｚ",
    "營業執照",
    "東京タワー",
    "서울특별시",
    "Ünïcödé Straße",
    "coffee2024",
    "07:00-21:00",
    "¥36.00",
    "𠀀𠀁 ext-b",
    "北京 12 上海",
    "a'b\\c&d|e!f(g)h:*i",
    "①②③",
    "\u3000发票\u3000",
    "0 0 8 8 12 3 4",
    "1 2",
    "a 1 b 2 33 4",
    "G1234次 北京南站→上海虹桥站 06车12F号",
    "iPhone 15 Pro 256GB",
    "a1a1a1a1",
    "G-1234 x 5 g",
    "ab" + "1a" * 150,
    "x9" * 40 + " 12abcd3456efgh7890ijkl 发票",
]


def real_ocr_texts() -> list[str]:
    items = json.loads((require_shared() / "ocr_ground_truth.json").read_text())["items"]
    texts = ["\n".join(item["lines"]) for item in items if item.get("lines")]
    texts += [line for item in items for line in item.get("lines", [])]
    assert len(texts) > 20
    return texts


def test_normalize():
    assert normalize("发 票\n号 码：ＡＢ１２") == "发票号码:ab12"
    assert normalize("iPhone 15 Pro") == "iphone 15 pro"  # spaces between non-CJK stay
    assert normalize("0 0 8 8 1 2 3 4 ¥ 36 . 00") == "00881234 ¥ 36 . 00"  # only single spaced digits join


def test_doc_tokens_bigrams_and_trailing_unigram():
    assert doc_tokens("营业执照 No.12") == [("营业", 1), ("业执", 2), ("执照", 3), ("照", 3), ("no", 4), ("12", 5)]
    assert doc_tokens("中") == [("中", 1)]
    assert doc_tokens("a中b") == [("a", 1), ("中", 2), ("b", 3)]


def test_doc_tokens_glue_letters_and_digits():
    assert doc_tokens("G1234次") == [("g", 1), ("1234", 2), ("次", 3), ("g1234", 1)]
    assert doc_tokens("iPhone 15 Pro") == [
        ("iphone", 1), ("15", 2), ("pro", 3), ("iphone15pro", 1), ("15pro", 2)
    ]  # fmt: skip
    assert doc_tokens("G-1234 北京") == [("g", 1), ("1234", 2), ("北京", 3), ("京", 3)]  # punctuation parts them
    assert doc_tokens("coffee shop") == [("coffee", 1), ("shop", 2)]  # letters and letters: two words


def test_query_tsquery():
    assert query_tsquery("发票号码") == "('发票' <-> '票号' <-> '号码')"
    assert query_tsquery("中") == "('中':*)"
    assert query_tsquery("iPhone 15") == "('15':*) & ('iphone':*)"
    assert query_tsquery("iphone15") == "('iphone15':*)"  # letters and digits side by side: one glued word
    assert query_tsquery("G1234次") == "('g1234' <2> '次':*)"  # two runs wide
    assert query_tsquery("g1234-x") == "('g' <-> '1234' <-> 'x':*)"  # a text may glue 1234 x: runs, as before
    # longer than a text's glued word (8 runs): the phrase of runs
    assert query_tsquery("a1b2c3d4e5") == "(" + " <-> ".join(f"'{c}'" for c in "a1b2c3d4e") + " <-> '5':*)"
    assert query_tsquery("发票:12345") == "('发票' <-> '12345':*)"
    assert query_tsquery("'&|!():*") is None
    assert query_tsquery("0 0 8 8") == "('0088':*)"


def test_immich_tokenize_matches_its_documented_examples():
    # protocol doc §4.1 (a Python port run against PR #24285's examples)
    assert immich_tokenize("中关村大街 27号") == "中关 关村 村大 大街 27 号"
    assert immich_tokenize("東京タワー") == "東京 京タ タワ ワー"
    assert immich_tokenize("Hello, 世界！") == "Hello, 世界 ！"
    assert immich_tokenize("中") == "中"


@pytest.fixture(scope="module")
def conn(layer_db):
    with psycopg.connect(libpq(layer_db), autocommit=True) as c:
        yield c


def sql_lexemes(conn, text: str) -> dict[str, list[int]]:
    vector = conn.execute("SELECT zh_search.doc_tsvector(%s)", (text,)).fetchone()[0]
    lexemes = conn.execute("SELECT lexeme, positions FROM unnest(%s::tsvector)", (vector,)).fetchall()
    return {lexeme: list(positions) for lexeme, positions in lexemes}


def test_sql_and_python_agree_on_real_ocr_text(conn):
    for text in real_ocr_texts() + EDGE_CASES:
        assert conn.execute("SELECT zh_search.normalize(%s)", (text,)).fetchone()[0] == normalize(text), text
        assert sql_lexemes(conn, text) == doc_lexemes(text), text
        query = text[:12]
        expected = query_tsquery(query)
        got = conn.execute("SELECT zh_search.query_tsquery(%s)::text", (query,)).fetchone()[0]
        if expected is None:
            assert got is None, query
        else:
            assert got == conn.execute("SELECT %s::tsquery::text", (expected,)).fetchone()[0], query


def test_every_substring_of_real_ocr_text_finds_its_document(conn):
    """Within one text, any CJK/word/digit substring of a line is found by the token path."""
    for text in real_ocr_texts()[:30]:
        norm = normalize(text)
        for start in range(0, max(len(norm) - 1, 1), 3):
            for length in (1, 2, 3, 5):
                piece = norm[start : start + length]
                if not piece.strip() or not any(ch.isalnum() for ch in piece) or piece != piece.strip():
                    continue
                if any(not ch.isalnum() for ch in piece):
                    continue  # punctuation inside: a different term split
                if piece[0].isascii() and start > 0 and norm[start - 1].isalnum() and norm[start - 1].isascii():
                    continue  # infix of a Latin word or number: the substring path's job, not the token path's
                matched = conn.execute(
                    "SELECT zh_search.doc_tsvector(%s) @@ zh_search.query_tsquery(%s)", (text, piece)
                ).fetchone()[0]
                assert matched, (text, piece)
