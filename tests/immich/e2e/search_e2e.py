"""End-to-end check of the patched Immich API against a real PostgreSQL (not part of pytest: it needs
a running patched server, its database and a stand-in ML server; see docs/immich-patches.md).

    python3 tests/immich/e2e/fake_ml.py &          # CLIP textual = fixed unit vector, on :3113
    IMMICH_MACHINE_LEARNING_URL=http://127.0.0.1:3113 ... node server/dist/main.js   (patched tree)
    python3 tests/immich/e2e/search_e2e.py --api http://127.0.0.1:2299/api --db postgresql://postgres:postgres@127.0.0.1:5439/immich

It uploads six photos, writes known CLIP embeddings and OCR text into Immich's own tables, checks
the searches without the zh_search layer, then installs a small stand-in of the layer with the
contract's signatures (zh_search.ocr_search, zh_search.hybrid_candidates), waits for the server's
probe cache to expire and checks ranked OCR search, hybrid ranking, settings and regenerate jobs.
Assets: A exact OCR match (增值税发票 发票号码, cosine .15), B cosine .45 (text 收据), C cosine .42,
D partial match (开发票处, cosine .35), E cosine .10, F nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests._paths import DATA

IMAGES = sorted((DATA / "ocr" / "RapidAI__RapidOCR").rglob("*.jpg"))[:6]
STANDIN_LAYER = """
DROP SCHEMA IF EXISTS zh_search CASCADE;
CREATE SCHEMA zh_search;
CREATE TABLE zh_search.standin_text("assetId" uuid PRIMARY KEY, text text NOT NULL);
{inserts}
-- rank = number of occurrences of the query, so 增值税发票 发票号码 (2) > 开发票处 (1)
CREATE FUNCTION zh_search.ocr_search(query text, max_results int DEFAULT 200)
RETURNS TABLE("assetId" uuid, rank real) LANGUAGE sql STABLE AS $$
  SELECT m."assetId", ((length(m.text) - length(replace(m.text, query, ''))) / greatest(length(query), 1))::real
  FROM zh_search.standin_text m WHERE strpos(m.text, query) > 0 ORDER BY 2 DESC LIMIT max_results
$$;
CREATE FUNCTION zh_search.hybrid_candidates(query text, embedding vector, max_results int DEFAULT 200)
RETURNS TABLE("assetId" uuid, cosine real, text_rank real) LANGUAGE sql STABLE AS $$
  WITH clip AS (
    SELECT s."assetId" FROM public.smart_search s ORDER BY s.embedding <=> hybrid_candidates.embedding LIMIT max_results
  ), txt AS (SELECT * FROM zh_search.ocr_search(query, max_results))
  SELECT ids."assetId", (1 - (s.embedding <=> hybrid_candidates.embedding))::real, txt.rank
  FROM (SELECT "assetId" FROM clip UNION SELECT "assetId" FROM txt) ids
  LEFT JOIN public.smart_search s ON s."assetId" = ids."assetId"
  LEFT JOIN txt ON txt."assetId" = ids."assetId"
$$;
"""


class Api:
    def __init__(self, base: str):
        self.base, self.token = base.rstrip("/"), ""

    def call(self, method: str, path: str, body=None, form: list[str] | None = None):
        if form is not None:  # multipart upload: let curl build it
            out = subprocess.run(["curl", "-s", "-X", method, self.base + path, "-H", f"Authorization: Bearer {self.token}"]
                                 + [arg for field in form for arg in ("-F", field)], capture_output=True, text=True)
            return 200, json.loads(out.stdout)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json", **({"Authorization": f"Bearer {self.token}"} if self.token else {})}
        try:
            with urllib.request.urlopen(urllib.request.Request(self.base + path, data, headers, method=method)) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def vector(cosine: float, dim: int = 512) -> str:
    """A unit vector whose cosine with the stand-in ML's query vector (all 1/sqrt(dim)) is `cosine`."""
    u = 1 / math.sqrt(dim)
    rest = math.sqrt(1 - cosine * cosine) / math.sqrt(2)  # along (1, -1, 0, ...), orthogonal to u
    values = [cosine * u] * dim
    values[0] += rest
    values[1] -= rest
    return "[" + ",".join(f"{v:.6f}" for v in values) + "]"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", default="http://127.0.0.1:2299/api")
    parser.add_argument("--db", default="postgresql://postgres:postgres@127.0.0.1:5439/immich")
    parser.add_argument("--probe-ttl", type=float, default=61.0, help="the server caches the layer probe for 60 s")
    args = parser.parse_args()
    psql = ["psql", args.db, "-q", "-v", "ON_ERROR_STOP=1"]
    api = Api(args.api)

    credentials = {"email": "admin@example.com", "password": "admin"}
    api.call("POST", "/auth/admin-sign-up", {**credentials, "name": "Admin"})
    api.token = api.call("POST", "/auth/login", credentials)[1]["accessToken"]
    ids = {}
    for letter, image, day in zip("ABCDEF", IMAGES, (2, 7, 1, 6, 5, 4)):
        status, body = api.call("POST", "/assets", form=[f"assetData=@{image}", f"fileCreatedAt=2024-01-0{day}T00:00:00Z",
                                                          "fileModifiedAt=2024-01-01T00:00:00Z", f"filename={letter}-{image.name}"])
        ids[letter] = body["id"]
    names = {v: k for k, v in ids.items()}
    A, B, C, D, E, _ = (ids[k] for k in "ABCDEF")
    ocr = {A: ("增值税发票 发票号码", "增值 值税 税发 发票 发票 票号 号码"), B: ("收据", "收据"), D: ("开发票处", "开发 发票 票处")}
    setup = [f"DELETE FROM smart_search WHERE \"assetId\" IN ('{A}','{B}','{C}','{D}','{E}');"]
    setup += [f"INSERT INTO smart_search VALUES ('{k}', '{vector(c)}');" for k, c in {A: .15, B: .45, C: .42, D: .35, E: .10}.items()]
    # Immich's own OCR search table holds CJK bigram tokens (tokenizeForSearch)
    setup += [f"INSERT INTO ocr_search VALUES ('{k}', '{tokens}') ON CONFLICT DO NOTHING;" for k, (_, tokens) in ocr.items()]
    setup.append("DROP SCHEMA IF EXISTS zh_search CASCADE;")
    subprocess.run(psql + ["-c", "\n".join(setup)], check=True)

    results: list[bool] = []

    def search(kind: str, body: dict) -> str:
        status, res = api.call("POST", f"/search/{kind}", body)
        if status != 200:
            return f"HTTP {status}"
        return " ".join(names.get(a["id"], "?") for a in res["assets"]["items"])

    def check(label: str, got: str, expected: str):
        results.append(got == expected)
        print(f"| {label} | {expected} | {got} | {'ok' if got == expected else '**FAIL**'} |")

    print("| check | expected | got | |\n| --- | --- | --- | --- |")
    check("no layer: `ocr:发票` (Immich OCR search, newest first)", search("smart", {"query": "ocr:发票"}), "D A")
    check("no layer: `发票` (plain CLIP order)", search("smart", {"query": "发票"}), "B C D A E")
    check("`ocr:` without text", search("smart", {"query": "ocr: "}), "HTTP 400")

    inserts = "\n".join(f"INSERT INTO zh_search.standin_text VALUES ('{k}', '{raw}');" for k, (raw, _) in ocr.items())
    subprocess.run(psql + ["-c", STANDIN_LAYER.format(inserts=inserts)], check=True)
    time.sleep(args.probe_ttl)
    check("layer: `ocr:发票` ranked by zh_search.ocr_search", search("smart", {"query": "ocr:发票"}), "A D")
    check("layer: `OCR：发票` (full-width colon)", search("smart", {"query": "OCR：发票"}), "A D")
    check("layer: metadata `{ocr: 发票}` ranked", search("metadata", {"ocr": "发票"}), "A D")
    check("layer: `发票` hybrid weighted (A .65, D .60, B .45, C .42, E .10)", search("smart", {"query": "发票"}), "A D B C E")
    check("layer: `发票` page 2, size 2", search("smart", {"query": "发票", "page": 2, "size": 2}), "B C")
    check("layer: `a dog` (no text match = plain CLIP)", search("smart", {"query": "a dog"}), "B C D A E")
    status, config = api.call("GET", "/system-config")
    config["machineLearning"]["hybridSearch"].update(mode="rrf", textWeight=1)
    check("PUT hybridSearch.mode = rrf", str(api.call("PUT", "/system-config", config)[0]), "200")
    check("layer: `发票` hybrid RRF k=60, weights 1/1", search("smart", {"query": "发票"}), "A D B C E")
    config["machineLearning"]["hybridSearch"].update(mode="weighted", textWeight=0.5)
    config["machineLearning"]["clip"]["modelName"] = "chinese-clip-vit-large-patch14"
    check("PUT clip.modelName = chinese-clip-vit-large-patch14", str(api.call("PUT", "/system-config", config)[0]), "200")
    config["machineLearning"]["clip"]["modelName"] = "chinese-clip-nonexistent"
    check("PUT clip.modelName = chinese-clip-nonexistent", str(api.call("PUT", "/system-config", config)[0]), "400")
    for job in ("regenerate-ocr", "regenerate-smart-search"):
        check(f"POST /assets/jobs `{job}` for A, D", str(api.call("POST", "/assets/jobs", {"assetIds": [A, D], "name": job})[0]), "204")
    print(f"\n{sum(results)}/{len(results)} checks passed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
