"""End-to-end check of the patched Immich API against a real PostgreSQL with pgvector.

Uploads six photos, writes known CLIP embeddings and OCR text into Immich's own tables, installs a
stand-in of the zh_search database layer with the signatures of its contract v2 (contract_version, health,
ocr_match, ocr_search_user, hybrid_candidates_user), and checks ranked OCR search, hybrid ranking, settings and the
regenerate jobs; then drops the layer and checks that the very next searches fall back.

Assets: A exact OCR match (增值税发票 发票号码, cosine .15), B cosine .45 (text 收据), C cosine .42,
D partial match (开发票处, cosine .35), E cosine .10, F nothing. The stand-in ML server's query
vector is (1/sqrt(512), ...), so the cosines are exact.

Used by tests/immich/test_immich_e2e.py; by hand, against a running patched server:
    python3 -m tests.immich.e2e.search_e2e --api http://127.0.0.1:2283/api --db postgresql://postgres:postgres@127.0.0.1:5432/immich
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

STANDIN_LAYER = """
DROP SCHEMA IF EXISTS zh_search CASCADE;
CREATE SCHEMA zh_search;
CREATE TABLE zh_search.standin_text("assetId" uuid PRIMARY KEY, text text NOT NULL);
CREATE FUNCTION zh_search.contract_version() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 2';
CREATE FUNCTION zh_search.health() RETURNS TABLE(check_name text, ok boolean, detail text)
  LANGUAGE sql STABLE AS $$ SELECT 'stand-in'::text, true, 'known ranks'::text $$;
-- rank = number of occurrences of the query, so 增值税发票 发票号码 (2) > 开发票处 (1); text_score = rank / 2
CREATE FUNCTION zh_search.ocr_match(query text, owner_ids uuid[] DEFAULT NULL)
RETURNS TABLE("assetId" uuid, rank real, text_score real) LANGUAGE sql STABLE AS $$
  SELECT m."assetId", r.rank, least(1, r.rank / 2)::real
  FROM zh_search.standin_text m JOIN public.asset a ON a.id = m."assetId",
  LATERAL (SELECT ((length(m.text) - length(replace(m.text, query, ''))) / greatest(length(query), 1))::real AS rank) r
  WHERE strpos(m.text, query) > 0 AND (owner_ids IS NULL OR a."ownerId" = ANY(owner_ids))
$$;
-- ocr_match's rows under the contract's filters, in its order: what the patched server pages `ocr:` with
CREATE FUNCTION zh_search.ocr_search_user(query text, owner_ids uuid[],
  visibilities text[] DEFAULT ARRAY['archive','timeline','hidden'], with_deleted boolean DEFAULT false,
  taken_after timestamptz DEFAULT NULL, taken_before timestamptz DEFAULT NULL, asset_type text DEFAULT NULL,
  max_results integer DEFAULT 100, skip integer DEFAULT 0, after_rank real DEFAULT NULL, after_id uuid DEFAULT NULL)
RETURNS TABLE("assetId" uuid, rank real, text_score real) LANGUAGE sql STABLE AS $$
  SELECT t.* FROM zh_search.ocr_match(query, owner_ids) t JOIN public.asset a ON a.id = t."assetId"
  WHERE cardinality(owner_ids) > 0 AND a."ownerId" = ANY(owner_ids)
    AND (visibilities IS NULL OR a.visibility::text = ANY(visibilities)) AND (with_deleted OR a."deletedAt" IS NULL)
    AND (taken_after IS NULL OR a."fileCreatedAt" >= taken_after)
    AND (taken_before IS NULL OR a."fileCreatedAt" <= taken_before)
    AND (asset_type IS NULL OR a.type::text = asset_type)
    AND (after_rank IS NULL OR t.rank < after_rank OR (t.rank = after_rank AND t."assetId" > after_id))
  ORDER BY t.rank DESC, t."assetId" LIMIT max_results OFFSET skip
$$;
CREATE FUNCTION zh_search.hybrid_candidates_user(query text, embedding vector, owner_ids uuid[],
  visibilities text[] DEFAULT ARRAY['archive','timeline','hidden'], with_deleted boolean DEFAULT false,
  taken_after timestamptz DEFAULT NULL, taken_before timestamptz DEFAULT NULL, asset_type text DEFAULT NULL,
  max_results integer DEFAULT 200)
RETURNS TABLE("assetId" uuid, cosine real, text_rank real, text_score real) LANGUAGE sql STABLE AS $$
  WITH mine AS (
    SELECT a.id FROM public.asset a WHERE a."ownerId" = ANY(owner_ids)
      AND (visibilities IS NULL OR a.visibility::text = ANY(visibilities)) AND (with_deleted OR a."deletedAt" IS NULL)
  ), clip AS (
    SELECT s."assetId" FROM public.smart_search s JOIN mine ON mine.id = s."assetId"
    ORDER BY s.embedding <=> hybrid_candidates_user.embedding LIMIT max_results
  ), txt AS (SELECT t.* FROM zh_search.ocr_match(query, owner_ids) t JOIN mine ON mine.id = t."assetId")
  SELECT ids."assetId", (1 - (s.embedding <=> hybrid_candidates_user.embedding))::real,
         coalesce(txt.rank, 0)::real, coalesce(txt.text_score, 0)::real
  FROM (SELECT "assetId" FROM clip UNION SELECT "assetId" FROM txt) ids
  LEFT JOIN public.smart_search s ON s."assetId" = ids."assetId"
  LEFT JOIN txt ON txt."assetId" = ids."assetId"
$$;
"""

OCR = {  # raw text for the stand-in layer, CJK bigram tokens as Immich's own OCR job stores them
    "A": ("增值税发票 发票号码", "增值 值税 税发 发票 发票 票号 号码"),
    "B": ("收据", "收据"),
    "D": ("开发票处", "开发 发票 票处"),
}
COSINE = {"A": 0.15, "B": 0.45, "C": 0.42, "D": 0.35, "E": 0.10}
CREATED_DAY = {"A": 2, "B": 7, "C": 1, "D": 6, "E": 5, "F": 4}


def vector(cosine: float, dim: int = 512) -> str:
    """A unit vector whose cosine with (1/sqrt(dim), ...) is `cosine`."""
    u = 1 / math.sqrt(dim)
    rest = math.sqrt(1 - cosine * cosine) / math.sqrt(2)  # along (1, -1, 0, ...), orthogonal to u
    values = [cosine * u] * dim
    values[0] += rest
    values[1] -= rest
    return "[" + ",".join(f"{v:.6f}" for v in values) + "]"


@dataclass
class Check:
    label: str
    expected: str
    got: str

    @property
    def ok(self) -> bool:
        return self.expected == self.got


def login_and_upload(api_base: str, images: list[Path]) -> tuple[httpx.Client, dict[str, str]]:
    client = httpx.Client(base_url=api_base.rstrip("/"), timeout=60)
    credentials = {"email": "admin@example.com", "password": "admin"}
    client.post("/auth/admin-sign-up", json={**credentials, "name": "Admin"})
    token = client.post("/auth/login", json=credentials).json()["accessToken"]
    client.headers["Authorization"] = f"Bearer {token}"
    ids: dict[str, str] = {}
    for letter, image in zip("ABCDEF", images, strict=False):
        form = {
            "fileCreatedAt": f"2024-01-0{CREATED_DAY[letter]}T00:00:00Z",
            "fileModifiedAt": "2024-01-01T00:00:00Z",
            "filename": f"{letter}-{image.name}",
        }
        response = client.post("/assets", data=form, files={"assetData": (image.name, image.read_bytes())})
        ids[letter] = response.json()["id"]
    return client, ids


def write_embeddings(db: psycopg.Connection, ids: dict[str, str]) -> None:
    for letter, cosine in COSINE.items():
        db.execute(
            'INSERT INTO smart_search VALUES (%s, %s::vector) ON CONFLICT ("assetId") '
            "DO UPDATE SET embedding = EXCLUDED.embedding",
            (ids[letter], vector(cosine)),
        )


def searcher(client: httpx.Client, names: dict[str, str]):
    def search(kind: str, body: dict) -> str:
        response = client.post(f"/search/{kind}", json=body)
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        return " ".join(names.get(item["id"], "?") for item in response.json()["assets"]["items"])

    return search


def wait_for_layer(client: httpx.Client, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/server/features").json().get("zhSearch"):
            return True
        time.sleep(0.5)
    return False


def run(api_base: str, dsn: str, images: list[Path]) -> list[Check]:
    """Against a stand-in of the layer (exact, known ranks)."""
    client, ids = login_and_upload(api_base, images)
    names = {v: k for k, v in ids.items()}
    with psycopg.connect(dsn, autocommit=True) as db:
        write_embeddings(db, ids)
        for letter, (_, tokens) in OCR.items():
            db.execute("INSERT INTO ocr_search VALUES (%s, %s) ON CONFLICT DO NOTHING", (ids[letter], tokens))
        db.execute(STANDIN_LAYER)
        for letter, (raw, _) in OCR.items():
            db.execute("INSERT INTO zh_search.standin_text VALUES (%s, %s)", (ids[letter], raw))

    checks: list[Check] = []
    search = searcher(client, names)

    def check(label: str, got: str, expected: str) -> None:
        checks.append(Check(label, expected, got))

    # the server re-probes an absent layer every 5 s; its features say when it uses the new one
    check("features.zhSearch once the layer is installed", str(wait_for_layer(client)), "True")

    check("layer: `ocr:发票` ranked by the layer (ocr_search_user)", search("smart", {"query": "ocr:发票"}), "A D")
    check("layer: `OCR：发票` (full-width colon)", search("smart", {"query": "OCR：发票"}), "A D")
    check("layer: metadata `{ocr: 发票}` ranked", search("metadata", {"ocr": "发票"}), "A D")
    check(
        "layer: `发票` hybrid weighted (A .15+.5*1, D .35+.5*.5, B .45, C .42, E .10)",
        search("smart", {"query": "发票"}),
        "A D B C E",
    )
    check("layer: `发票` page 2, size 2", search("smart", {"query": "发票", "page": 2, "size": 2}), "B C")
    check("layer: `a dog` (no text match = plain CLIP)", search("smart", {"query": "a dog"}), "B C D A E")
    check("`ocr:` without text", search("smart", {"query": "ocr: "}), "HTTP 400")

    config = client.get("/system-config").json()
    config["machineLearning"]["hybridSearch"].update(mode="rrf", textWeight=1)
    check(
        "PUT hybridSearch.mode = rrf, textWeight = 1", str(client.put("/system-config", json=config).status_code), "200"
    )
    check("layer: `发票` hybrid RRF k=60", search("smart", {"query": "发票"}), "A D B C E")
    config["machineLearning"]["hybridSearch"].update(mode="weighted", textWeight=0.5)
    config["machineLearning"]["clip"]["modelName"] = "chinese-clip-vit-large-patch14"
    check(
        "PUT clip.modelName = chinese-clip-vit-large-patch14",
        str(client.put("/system-config", json=config).status_code),
        "200",
    )
    config["machineLearning"]["clip"]["modelName"] = "chinese-clip-nonexistent"
    check(
        "PUT clip.modelName = chinese-clip-nonexistent",
        str(client.put("/system-config", json=config).status_code),
        "400",
    )
    for job in ("regenerate-ocr", "regenerate-smart-search"):
        status = client.post("/assets/jobs", json={"assetIds": [ids["A"], ids["D"]], "name": job}).status_code
        check(f"POST /assets/jobs `{job}` for A, D", str(status), "204")

    # Remove the layer while the server still believes it is there: the next search must not fail.
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute("DROP SCHEMA zh_search CASCADE")
    check(
        "layer dropped: `ocr:发票` falls back (Immich OCR, newest first)", search("smart", {"query": "ocr:发票"}), "D A"
    )
    check("layer dropped: `发票` plain CLIP order", search("smart", {"query": "发票"}), "B C D A E")
    return checks


def weighted_order(rows: list[tuple[str, float | None, float | None]], clip_weight=1.0, text_weight=0.5) -> list[str]:
    """Python reference of the server's weighted blend (contract v2: cosine and the absolute text_score)."""
    cosines = [cosine for _, cosine, _ in rows if cosine is not None]
    worst = min(cosines) if cosines else 0.0

    def score(row):
        _, cosine, text_score = row
        text = min(1.0, max(0.0, text_score)) if text_score and text_score > 0 else 0.0
        return clip_weight * (worst if cosine is None else cosine) + text_weight * text

    ranked = sorted(rows, key=lambda row: (-score(row), -(row[1] if row[1] is not None else -math.inf), row[0]))
    return [asset_id for asset_id, _, _ in ranked]


def run_real_layer(api_base: str, dsn: str, images: list[Path]) -> list[Check]:
    """Against the real zh_search layer (`plugin-service db upgrade`), fed through Immich's asset_ocr."""
    client, ids = login_and_upload(api_base, images)
    names = {v: k for k, v in ids.items()}
    query_vector = vector(1.0)  # the stand-in ML's query embedding
    with psycopg.connect(dsn, autocommit=True) as db:
        write_embeddings(db, ids)
        for letter, (raw, tokens) in OCR.items():
            for line in raw.split():
                db.execute(
                    'INSERT INTO asset_ocr ("assetId", x1, y1, x2, y2, x3, y3, x4, y4, "boxScore", "textScore", text) '
                    "VALUES (%s, 0, 0, 1, 0, 1, 1, 0, 1, 0.9, 0.9, %s)",
                    (ids[letter], line),
                )
            db.execute("INSERT INTO ocr_search VALUES (%s, %s) ON CONFLICT DO NOTHING", (ids[letter], tokens))
        owner = [client.get("/users/me").json()["id"]]
        ocr_rows = db.execute(
            'SELECT "assetId"::text FROM zh_search.ocr_search_user(%s, %s::uuid[], max_results => 1000)',
            ("发票", owner),
        ).fetchall()
        hybrid_rows = db.execute(
            'SELECT "assetId"::text, cosine, CASE WHEN text_rank > 0 THEN text_score END '
            "FROM zh_search.hybrid_candidates_user(%s, %s::vector, %s::uuid[], max_results => 200)",
            ("发票", query_vector, owner),
        ).fetchall()
    layer_ocr = " ".join(names[row[0]] for row in ocr_rows if row[0] in names)
    layer_hybrid = " ".join(names[a] for a in weighted_order([(a, c, t) for a, c, t in hybrid_rows]) if a in names)

    checks: list[Check] = []
    search = searcher(client, names)
    checks.append(
        Check(
            "real layer: zh_search.ocr_search_user('发票') finds the text in A and D",
            "A D",
            " ".join(sorted(layer_ocr.split())),
        )
    )
    checks.append(
        Check("real layer: `ocr:发票` in the layer's rank order", layer_ocr, search("smart", {"query": "ocr:发票"}))
    )
    checks.append(
        Check(
            "real layer: metadata `{ocr: 发票}` in the layer's rank order",
            layer_ocr,
            search("metadata", {"ocr": "发票"}),
        )
    )
    got = search("smart", {"query": "发票"})
    checks.append(
        Check("real layer: `发票` hybrid = Python reference blend of hybrid_candidates_user", layer_hybrid, got)
    )
    checks.append(
        Check(
            "real layer: `发票` text matches A, D above visual-only B, C, E", "A D", " ".join(sorted(got.split()[:2]))
        )
    )
    checks.append(
        Check("real layer: `a dog` (no text match = plain CLIP)", "B C D A E", search("smart", {"query": "a dog"}))
    )
    return checks


def markdown(checks: list[Check]) -> str:
    rows = [f"| {c.label} | {c.expected} | {c.got} | {'ok' if c.ok else '**FAIL**'} |" for c in checks]
    summary = f"\n{sum(c.ok for c in checks)}/{len(checks)} checks passed"
    return "\n".join(["| check | expected | got | |", "| --- | --- | --- | --- |", *rows]) + "\n" + summary


def main() -> int:
    from tests._paths import DATA

    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    checks = run(args.api, args.db, sorted((DATA / "ocr" / "RapidAI__RapidOCR").rglob("*.jpg"))[:6])
    print(markdown(checks))
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
