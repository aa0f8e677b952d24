"""The API scenario of the end-to-end run, through Immich's public REST API only (the database is
read, never written, to check what Immich stored).

Each check is a (label, expected, got) row; the run passes when every row matches."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from tests.e2e.capture import CapturingProxy
from tests.e2e.standins import CLIP_MODEL
from tests.immich.e2e.search_e2e import Check

ADMIN = {"email": "admin@example.com", "password": "admin-e2e-password", "name": "Admin"}
# Immich queues that must drain before results are checked.
BUSY = ("active", "waiting", "delayed")


@dataclass
class Uploaded:
    name: str
    path: Path
    asset_id: str


@dataclass
class Outcome:
    checks: list[Check] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    assets: dict[str, Uploaded] = field(default_factory=dict)

    def check(self, label: str, expected: object, got: object) -> None:
        self.checks.append(Check(label, str(expected), str(got)))


def admin_client(api: str) -> httpx.Client:
    """Sign up and log in the admin; onboarding is marked done (what the first-login wizard does)."""
    signup = httpx.post(f"{api}/auth/admin-sign-up", json=ADMIN, timeout=60)
    if signup.status_code not in (200, 201):
        raise RuntimeError(f"admin sign-up failed: HTTP {signup.status_code} {signup.text[:300]}")
    client = admin_login(api)
    client.post("/system-metadata/admin-onboarding", json={"isOnboarded": True}).raise_for_status()
    client.put("/users/me/onboarding", json={"isOnboarded": True}).raise_for_status()
    return client


def admin_login(api: str) -> httpx.Client:
    client = httpx.Client(base_url=api, timeout=120)
    login = client.post("/auth/login", json={"email": ADMIN["email"], "password": ADMIN["password"]})
    login.raise_for_status()
    client.headers["Authorization"] = f"Bearer {login.json()['accessToken']}"
    return client


def select_chinese_clip(client: httpx.Client, outcome: Outcome) -> None:
    config = client.get("/system-config").json()
    config["machineLearning"]["clip"]["modelName"] = CLIP_MODEL
    status = client.put("/system-config", json=config).status_code
    outcome.check(f"PUT /system-config clip.modelName = {CLIP_MODEL}", 200, status)
    stored = client.get("/system-config").json()["machineLearning"]["clip"]["modelName"]
    outcome.check("GET /system-config returns the Chinese-CLIP model", CLIP_MODEL, stored)


def upload(client: httpx.Client, photos: dict[str, Path]) -> dict[str, Uploaded]:
    uploaded = {}
    for day, (name, path) in enumerate(photos.items(), start=1):
        form = {
            "fileCreatedAt": f"2024-03-{day:02d}T10:00:00Z",
            "fileModifiedAt": f"2024-03-{day:02d}T10:00:00Z",
            "filename": path.name,
        }
        response = client.post("/assets", data=form, files={"assetData": (path.name, path.read_bytes(), "image/jpeg")})
        if response.status_code not in (200, 201):
            raise RuntimeError(f"upload of {path} failed: HTTP {response.status_code} {response.text[:300]}")
        uploaded[name] = Uploaded(name, path, response.json()["id"])
    return uploaded


def wait_for_queues(client: httpx.Client, timeout: float) -> float:
    """Seconds until every Immich queue has nothing active, waiting or delayed in three polls a
    second apart, because one finished job queues the next: thumbnails → OCR, faces, smart search."""
    started = time.monotonic()
    idle_in_a_row = 0
    while time.monotonic() - started < timeout:
        queues = client.get("/queues").json()
        busy = {q["name"]: sum(q["statistics"][k] for k in BUSY) for q in queues}
        idle_in_a_row = idle_in_a_row + 1 if not any(busy.values()) else 0
        if idle_in_a_row >= 3:
            return round(time.monotonic() - started, 1)
        time.sleep(1)
    raise TimeoutError(f"Immich queues still busy after {timeout:.0f} s: {busy}")


def wait_for_layer(client: httpx.Client, timeout: float) -> str:
    """`zhSearch` of GET /server/features once it is true (or what it still is after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = client.get("/server/features").json().get("zhSearch", "absent from the features")
        if value is True or time.monotonic() > deadline:
            return str(value)
        time.sleep(2)


def ocr_snapshot(db: psycopg.Connection) -> dict[str, tuple[str, str, frozenset[str]]]:
    """assetId -> (ocrAt, joined text, row ids) of what Immich stored."""
    rows = db.execute('''
        SELECT s."assetId"::text, s."ocrAt"::text, coalesce(string_agg(o.text, ' ' ORDER BY o.y1, o.x1), ''),
               coalesce(array_agg(o.id::text) FILTER (WHERE o.id IS NOT NULL), '{}')
        FROM asset_job_status s LEFT JOIN asset_ocr o ON o."assetId" = s."assetId"
        GROUP BY s."assetId", s."ocrAt"''').fetchall()
    return {asset: (ocr_at, text, frozenset(ids)) for asset, ocr_at, text, ids in rows}


def name_of_asset(outcome: Outcome, asset_id: str) -> str:
    return next((u.name for u in outcome.assets.values() if u.asset_id == asset_id), asset_id)


def ocr_times(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn, autocommit=True) as db:
        return {a: str(t) for a, t in db.execute('SELECT "assetId"::text, "ocrAt" FROM asset_job_status').fetchall()}


def search_ids(client: httpx.Client, body: dict) -> tuple[list[str], float]:
    started = time.perf_counter()
    response = client.post("/search/smart", json=body)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return [item["id"] for item in response.json()["assets"]["items"]], elapsed


def run(
    api: str, dsn: str, photos: dict[str, Path], queries: dict[str, str], identities: dict[str, str], ml: CapturingProxy
) -> Outcome:
    """`photos`: name -> file to upload; `queries`: name -> a word that only that photo shows;
    `identities`: name -> person, for the portraits."""
    outcome = Outcome()
    client = admin_client(api)
    outcome.check(
        "admin sign-up and login: GET /users/me is the admin",
        f"{ADMIN['email']} admin",
        (lambda me: f"{me['email']} {'admin' if me['isAdmin'] else 'user'}")(client.get("/users/me").json()),
    )
    select_chinese_clip(client, outcome)

    started = time.monotonic()
    outcome.assets = upload(client, photos)
    outcome.timings["upload"] = round(time.monotonic() - started, 1)
    outcome.timings["jobs after upload (thumbnails, OCR, faces, smart search)"] = wait_for_queues(client, 900)
    outcome.timings[f"ingest {len(photos)} photos (upload + all jobs)"] = round(time.monotonic() - started, 1)
    name_of = {u.asset_id: u.name for u in outcome.assets.values()}

    with psycopg.connect(dsn, autocommit=True) as db:
        stored = ocr_snapshot(db)
        done = sum(1 for u in outcome.assets.values() if stored.get(u.asset_id, (None,))[0])
        outcome.check("OCR job ran for every photo (asset_job_status.ocrAt)", len(photos), done)
        for name, query in queries.items():
            text = stored.get(outcome.assets[name].asset_id, ("", "", frozenset()))[1]
            outcome.check(f"OCR text stored for '{name}' contains {query}", True, query in text)
        dims = db.execute("SELECT vector_dims(embedding), count(*) FROM smart_search GROUP BY 1").fetchall()
        outcome.check("smart_search: one 512-d embedding per photo", [(512, len(photos))], dims)
        faces = db.execute("""SELECT vector_dims(fs.embedding), count(*), count(DISTINCT f."assetId")
                              FROM face_search fs JOIN asset_face f ON f.id = fs."faceId" GROUP BY 1""").fetchall()
        face_photos = [outcome.assets[name].asset_id for name in identities]
        counted = db.execute(
            'SELECT count(DISTINCT "assetId") FROM asset_face WHERE "assetId" = ANY(%s::uuid[])', (face_photos,)
        ).fetchone()
        with_faces = counted[0] if counted else 0
        outcome.check("faces: every face embedding is 512-d", [512], [row[0] for row in faces])
        outcome.check("faces: a face was found in every portrait", len(face_photos), with_faces)
        grouped = db.execute(
            'SELECT array_agg("assetId"::text) FROM asset_face WHERE "personId" IS NOT NULL GROUP BY "personId"'
        ).fetchall()
        people = sorted(sorted(name_of_asset(outcome, a) for a in assets) for (assets,) in grouped)
        truth = sorted(sorted(n for n in identities if identities[n] == person) for person in set(identities.values()))
        outcome.check("faces: Immich grouped the portraits into the right people", truth, people)

    # The server caches whether the layer is there (60 s); `db upgrade` ran after Immich started, so
    # wait until the admin status (server features) says it is installed and healthy.
    started = time.monotonic()
    noticed = wait_for_layer(client, 120)
    outcome.check("GET /server/features: the zh_search layer is installed and healthy (zhSearch)", True, noticed)
    outcome.timings["waited for Immich to notice the zh_search layer (its probe is cached 60 s)"] = round(
        time.monotonic() - started, 1
    )

    # Smart search answers with Chinese-CLIP: the plugin service saw textual requests for that model.
    latencies: list[float] = []
    for name, query in queries.items():
        ids, ms = search_ids(client, {"query": f"ocr:{query}"})
        latencies.append(ms)
        outcome.check(
            f"`ocr:{query}` returns the '{name}' photo first", name, name_of.get(ids[0], "?") if ids else "no results"
        )
    name, query = list(queries.items())[-1]
    ids, _ = search_ids(client, {"query": f"OCR：{query}"})
    outcome.check(
        f"`OCR：{query}` (upper case, full-width colon, as a Chinese IME types it) finds '{name}' first",
        name,
        name_of.get(ids[0], "?") if ids else "no results",
    )
    empty = client.post("/search/smart", json={"query": "ocr: "})
    outcome.check(
        "`ocr: ` without text is refused with a clear 400",
        "400 True",
        f"{empty.status_code} {'ocr' in empty.text.lower()}",
    )
    for name, query in queries.items():
        ids, ms = search_ids(client, {"query": query})
        latencies.append(ms)
        outcome.check(
            f"hybrid smart search `{query}` ranks the '{name}' photo first",
            name,
            name_of.get(ids[0], "?") if ids else "no results",
        )
        outcome.check(f"hybrid smart search `{query}` also returns the CLIP candidates", len(photos), len(ids))
    no_text_match, ms = search_ids(client, {"query": "海边的日落"})
    latencies.append(ms)
    outcome.check("smart search `海边的日落` (no text match) answers with every photo", len(photos), len(no_text_match))
    clip_only_comparison(client, outcome, queries, name_of, no_text_match)
    asked = set(ml.models_since(0))
    for model_type in ("visual", "textual"):
        outcome.check(
            f"Immich asked the plugin service for the {model_type} {CLIP_MODEL} (requests recorded)",
            True,
            ("clip", model_type, CLIP_MODEL) in asked,
        )
    # The first smart search loads the textual model in the plugin service; the rest are warm.
    outcome.timings["first smart search through Immich (loads the text model), ms"] = round(latencies[len(queries)], 1)
    warm = latencies[: len(queries)] + latencies[len(queries) + 1 :]
    outcome.timings[f"search latency through Immich, warm, median of {len(warm)}, ms"] = round(
        statistics.median(warm), 1
    )
    outcome.timings["search latency through Immich, warm, max, ms"] = round(max(warm), 1)

    regenerate_one(client, dsn, outcome, outcome.assets[next(iter(queries))].asset_id)
    return outcome


def clip_only_comparison(
    client: httpx.Client, outcome: Outcome, queries: dict[str, str], name_of: dict[str, str], no_text_match: list[str]
) -> None:
    """Hybrid ranking switched off: CLIP alone (random weights) rarely puts the text photo first,
    so the hybrid checks above measured the blend; a query without a text match is unchanged."""
    config = client.get("/system-config").json()
    config["machineLearning"]["hybridSearch"]["enabled"] = False
    outcome.check("PUT hybridSearch.enabled = false", 200, client.put("/system-config", json=config).status_code)
    firsts = sum(
        1 for name, query in queries.items() if name_of.get(search_ids(client, {"query": query})[0][0]) == name
    )
    outcome.check(
        f"CLIP alone ranks {firsts} of the {len(queries)} text photos first: fewer than all, so the blend "
        "did the lifting",
        True,
        firsts < len(queries),
    )
    clip_only = search_ids(client, {"query": "海边的日落"})[0]
    outcome.check(
        "`海边的日落` (no text match): hybrid order = CLIP-only order",
        " ".join(name_of.get(a, "?") for a in no_text_match),
        " ".join(name_of.get(a, "?") for a in clip_only),
    )
    config["machineLearning"]["hybridSearch"]["enabled"] = True
    outcome.check("PUT hybridSearch.enabled = true", 200, client.put("/system-config", json=config).status_code)


def regenerate_one(client: httpx.Client, dsn: str, outcome: Outcome, target: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as db:
        before = ocr_snapshot(db)
    status = client.post("/assets/jobs", json={"assetIds": [target], "name": "regenerate-ocr"}).status_code
    outcome.check("POST /assets/jobs regenerate-ocr for one photo", 204, status)
    outcome.timings["regenerate-ocr for one photo"] = wait_for_queues(client, 300)
    with psycopg.connect(dsn, autocommit=True) as db:
        after = ocr_snapshot(db)
    changed = sorted(asset for asset in before if before[asset] != after.get(asset))
    outcome.check("regenerate-ocr: only that photo's OCR rows changed", [target], changed)
    outcome.check(
        "regenerate-ocr: its rows were replaced (new row ids, new ocrAt)",
        True,
        before[target][2].isdisjoint(after[target][2]) and before[target][0] != after[target][0],
    )
    outcome.check("regenerate-ocr: the same text was read again", before[target][1], after[target][1])
