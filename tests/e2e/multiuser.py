"""Multi-user phase of the end-to-end run (issue 16, "right results for every user"), through
Immich's public API only (the database is read to learn what OCR stored, never written).

Three libraries share one text, 发票 (an invoice, rendered; the OCR is the plugin service's):

* the **first user** (the admin of the single-user scenario) owns 8 invoice photos — one archived,
  one trashed — next to the 13 photos of that scenario;
* a **second user** owns hundreds of invoice photos (`--bulk`, 300 by default), all alike;
* a **partner** owns 4 invoice photos and 2 others, and shares them with the first user through
  Immich's partner API (`inTimeline: true`); the first user shares nothing back.

What each user may see follows Immich's own rules (`SearchService.getUserIdsToSearch`, the search
builder's default visibility): the user's own photos plus those of partners whose timeline they
show, archived included, trashed and locked not. The checks: `ocr:发票`, Immich's own OCR filter
(`/search/metadata {ocr}`) and the hybrid smart search `发票`, paged, return exactly those photos
— all of them, none twice, none of anybody else's — for each of the three users; the partner's
photos appear in the first user's timeline (`withPartners`) and search, and disappear from both
when `inTimeline` is switched off."""

from __future__ import annotations

import statistics
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from tests.e2e import scenario, standins
from tests.immich.e2e.search_e2e import Check

QUERY = "发票"
INVOICE = ("增值税普通发票", "开票日期 二〇二四年三月")  # the same text on every invoice photo
OTHER_TEXT = (("海边咖啡馆", "营业中"), ("儿童游乐场", "请勿奔跑"))
PASSWORD = "user-e2e-password"
FIRST_USER_INVOICES = 8
PARTNER_INVOICES = 4
DEFAULT_BULK = 300
MAX_PAGES = 60


@dataclass
class User:
    key: str
    email: str
    name: str
    client: httpx.Client
    user_id: str
    assets: dict[str, str] = field(default_factory=dict)  # photo name -> asset id


@dataclass
class Paged:
    """Every page of one search, walked until Immich says there is no next page."""

    pages: list[list[str]]
    stopped: str  # "end", or why the walk stopped early (an HTTP error, the page limit)

    @property
    def ids(self) -> list[str]:
        return [asset for page in self.pages for asset in page]

    @property
    def repeats(self) -> int:
        return len(self.ids) - len(set(self.ids))


@dataclass
class Outcome:
    checks: list[Check] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    users: dict[str, User] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    def check(self, label: str, expected: object, got: object) -> None:
        self.checks.append(Check(label, str(expected), str(got)))


def invoice_photos(work: Path, owner: str, count: int) -> dict[str, Path]:
    """`count` invoice photos of one owner: the same text, a different background each (Immich
    refuses a second upload of the same bytes). 640×427, so that hundreds ingest in minutes."""
    photos = {}
    for index in range(count):
        name = f"{owner}-invoice-{index:03d}"
        photo = standins.TextPhoto(name, INVOICE, QUERY)
        path = work / "photos" / owner / f"{name}.jpg"
        photos[name] = (
            path if path.is_file() else standins.render_text_photo(photo, path, size=(640, 427), font_size=44)
        )
    return photos


def other_photos(work: Path, owner: str) -> dict[str, Path]:
    photos = {}
    for index, lines in enumerate(OTHER_TEXT):
        name = f"{owner}-other-{index}"
        path = work / "photos" / owner / f"{name}.jpg"
        photo = standins.TextPhoto(name, lines, lines[0])
        photos[name] = (
            path if path.is_file() else standins.render_text_photo(photo, path, size=(640, 427), font_size=44)
        )
    return photos


def create_user(api: str, admin: httpx.Client, key: str, name: str) -> User:
    email = f"{key}@example.com"
    response = admin.post(
        "/admin/users", json={"email": email, "password": PASSWORD, "name": name, "shouldChangePassword": False}
    )
    if response.status_code not in (200, 201):
        raise RuntimeError(f"creating user {email} failed: HTTP {response.status_code} {response.text[:300]}")
    client = login(api, email, PASSWORD)
    client.put("/users/me/onboarding", json={"isOnboarded": True}).raise_for_status()
    return User(key, email, name, client, response.json()["id"])


def login(api: str, email: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=api, timeout=120)
    response = client.post("/auth/login", json={"email": email, "password": password})
    response.raise_for_status()
    client.headers["Authorization"] = f"Bearer {response.json()['accessToken']}"
    return client


def upload(user: User, photos: dict[str, Path]) -> None:
    """Taken one hour apart from 2023-01-01 (a stable date order; every photo its own timestamp)."""
    offset = zlib.crc32(user.key.encode()) % 1000  # users' photos interleave in time, as in a household
    for index, (name, path) in enumerate(photos.items()):
        hours = offset + index * 3
        taken = f"2023-{1 + hours // 24 // 28 % 12:02d}-{1 + hours // 24 % 28:02d}T{hours % 24:02d}:00:00Z"
        form = {"fileCreatedAt": taken, "fileModifiedAt": taken, "filename": path.name}
        response = user.client.post(
            "/assets", data=form, files={"assetData": (path.name, path.read_bytes(), "image/jpeg")}
        )
        if response.status_code not in (200, 201):
            raise RuntimeError(
                f"upload of {path} for {user.email} failed: HTTP {response.status_code} {response.text[:300]}"
            )
        user.assets[name] = response.json()["id"]


def walk_pages(client: httpx.Client, endpoint: str, body: dict, size: int, latencies: list[float]) -> Paged:
    pages: list[list[str]] = []
    page = 1
    while len(pages) < MAX_PAGES:
        started = time.perf_counter()
        response = client.post(f"/search/{endpoint}", json={**body, "page": page, "size": size})
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            return Paged(pages, f"page {page}: HTTP {response.status_code} {response.text[:160]}")
        assets = response.json()["assets"]
        pages.append([item["id"] for item in assets["items"]])
        if not assets.get("nextPage"):
            return Paged(pages, "end")
        page = int(assets["nextPage"])
    return Paged(pages, f"stopped after {MAX_PAGES} pages")


def ocr_matches(dsn: str) -> set[str]:
    """Assets whose OCR text, as Immich stored it, contains the query (the ground truth for the
    text side: a photo OCR misread must not be expected from a text search)."""
    with psycopg.connect(dsn, autocommit=True) as db:
        rows = db.execute(
            """SELECT "assetId"::text FROM asset_ocr GROUP BY "assetId"
                             HAVING strpos(string_agg(text, '' ORDER BY y1, x1), %s) > 0""",
            (QUERY,),
        ).fetchall()
    return {asset for (asset,) in rows}


def with_embedding(dsn: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as db:
        return {asset for (asset,) in db.execute('SELECT "assetId"::text FROM smart_search').fetchall()}


def describe(ids: Iterable[str], owner_of: dict[str, str]) -> str:
    """'8 first, 2 partner' — whose photos a result holds."""
    counts: dict[str, int] = {}
    for asset in ids:
        owner = owner_of.get(asset, "unknown")
        counts[owner] = counts.get(owner, 0) + 1
    return ", ".join(f"{n} {owner}" for owner, n in sorted(counts.items())) or "none"


def compare(
    outcome: Outcome, label: str, walked: Paged, expected: set[str], owner_of: dict[str, str], depth: int | None = None
) -> None:
    """One row: all and only `expected`, none twice, paging to the end. `depth`: the documented
    deepest result (hybrid's `maxCandidates`); a longer `expected` is cut there."""
    got = set(walked.ids)
    wanted = min(len(expected), depth) if depth else len(expected)
    missing, foreign = wanted - len(got & expected), got - expected
    outcome.check(
        f"{label}: all and only the photos the user may see ({describe(expected, owner_of)}"
        f"{f', up to the documented depth {depth}' if depth and depth < len(expected) else ''})",
        f"{wanted} photos, 0 missing, 0 not theirs, 0 repeated, paging to the end",
        f"{len(got)} photos, {missing} missing, {len(foreign)} not theirs"
        f"{' (' + describe(foreign, owner_of) + ')' if foreign else ''}, {walked.repeats} repeated, "
        f"{'paging to the end' if walked.stopped == 'end' else walked.stopped}",
    )
    outcome.notes.append(f"{label}: {len(walked.pages)} pages of {[len(page) for page in walked.pages]}")


def run(api: str, dsn: str, work: Path, admin: httpx.Client, first_assets: dict[str, str], bulk: int) -> Outcome:
    """`admin`: the first user's client; `first_assets`: the photos the scenario uploaded for them."""
    outcome = Outcome()
    me = admin.get("/users/me").json()
    first = User("first", me["email"], me["name"], admin, me["id"], dict(first_assets))
    second = create_user(api, admin, "second", "Second User")
    partner = create_user(api, admin, "partner", "Partner")
    outcome.users = {"first": first, "second": second, "partner": partner}

    started = time.monotonic()
    first_invoices = invoice_photos(work, "first", FIRST_USER_INVOICES)
    partner_photos = {**invoice_photos(work, "partner", PARTNER_INVOICES), **other_photos(work, "partner")}
    second_photos = invoice_photos(work, "second", bulk)
    outcome.timings[f"render {bulk + FIRST_USER_INVOICES + len(partner_photos)} multi-user photos"] = round(
        time.monotonic() - started, 1
    )

    started = time.monotonic()
    upload(first, first_invoices)
    upload(partner, partner_photos)
    upload(second, second_photos)
    outcome.timings["multi-user upload"] = round(time.monotonic() - started, 1)
    outcome.timings["multi-user jobs after upload"] = scenario.wait_for_queues(admin, 3600)
    total = len(first_invoices) + len(partner_photos) + len(second_photos)
    ingest = round(time.monotonic() - started, 1)
    outcome.timings[f"ingest {total} photos of 3 users (upload + all jobs)"] = ingest
    outcome.timings["ingest, seconds per photo"] = round(ingest / total, 2)

    owner_of = {asset: user.key for user in outcome.users.values() for asset in user.assets.values()}
    texts = ocr_matches(dsn)
    for user, photos in ((first, first_invoices), (second, second_photos), (partner, partner_photos)):
        invoices = {user.assets[name] for name in photos if "invoice" in name}
        outcome.check(
            f"OCR read {QUERY} on every invoice photo of the {user.key} user", len(invoices), len(invoices & texts)
        )

    # The first user archives one invoice photo (still searched, as Immich does) and trashes one (not).
    archived, trashed = first.assets["first-invoice-000"], first.assets["first-invoice-001"]
    first.client.put("/assets", json={"ids": [archived], "visibility": "archive"}).raise_for_status()
    first.client.request("DELETE", "/assets", json={"ids": [trashed], "force": False}).raise_for_status()
    shared = partner.client.post("/partners", json={"sharedWithId": first.user_id})
    outcome.check("partner API: the partner shares their photos with the first user", "201", str(shared.status_code))
    in_timeline = first.client.put(f"/partners/{partner.user_id}", json={"inTimeline": True})
    outcome.check(
        "partner API: the first user shows the partner's photos in their timeline (inTimeline)",
        "200 True",
        f"{in_timeline.status_code} {in_timeline.json().get('inTimeline') if in_timeline.is_success else ''}",
    )

    embedded = with_embedding(dsn)
    hybrid_settings = admin.get("/system-config").json()["machineLearning"].get("hybridSearch", {})
    depth = hybrid_settings.get("maxCandidates")
    own = {key: set(user.assets.values()) - {trashed} for key, user in outcome.users.items()}
    sees = {"first": own["first"] | own["partner"], "second": own["second"], "partner": own["partner"]}
    for key, user in outcome.users.items():
        visible = sees[key]
        text_hits = visible & texts
        compare(
            outcome,
            f"{key} user `ocr:{QUERY}` (paged by 5)" if key != "second" else f"{key} user `ocr:{QUERY}` (paged by 100)",
            walk_pages(
                user.client, "smart", {"query": f"ocr:{QUERY}"}, 5 if key != "second" else 100, outcome.latencies
            ),
            text_hits,
            owner_of,
        )
        compare(
            outcome,
            f"{key} user Immich's OCR filter `/search/metadata {{ocr: {QUERY}}}`",
            walk_pages(user.client, "metadata", {"ocr": QUERY}, 5 if key != "second" else 100, outcome.latencies),
            text_hits,
            owner_of,
        )
        hybrid = walk_pages(user.client, "smart", {"query": QUERY}, 10 if key != "second" else 50, outcome.latencies)
        compare(
            outcome,
            f"{key} user hybrid `{QUERY}` (paged by {10 if key != 'second' else 50})",
            hybrid,
            visible & embedded,
            owner_of,
            depth,
        )
        ranked = hybrid.ids[: len(text_hits)]
        outcome.check(
            f"{key} user hybrid `{QUERY}`: the {len(text_hits)} photos showing {QUERY} come first",
            len(text_hits),
            len(set(ranked) & text_hits),
        )
        # Stable pages: the pages walked above, end to end, are the order of one big page.
        whole = walk_pages(user.client, "smart", {"query": QUERY}, min(depth or 1000, 1000), outcome.latencies)
        outcome.check(
            f"{key} user hybrid `{QUERY}`: the pages, joined, are the order of one page of {min(depth or 1000, 1000)}",
            "same order",
            "same order"
            if whole.ids[: len(hybrid.ids)] == hybrid.ids
            else f"differs from position {first_difference(hybrid.ids, whole.ids)}",
        )

    if depth:  # issue 16: a documented cap on how deep hybrid pages go, a clear 400 beyond it
        beyond = second.client.post("/search/smart", json={"query": QUERY, "page": depth // 50 + 1, "size": 50})
        outcome.check(
            f"hybrid `{QUERY}`: a page starting beyond maxCandidates ({depth}) is refused with a clear 400",
            "400 True",
            f"{beyond.status_code} {str(depth) in beyond.text}",
        )

    timeline = buckets_total(first.client, with_partners=True)
    first_timeline = len(own["first"]) - 1  # minus the archived one
    outcome.check(
        "timeline (withPartners): the first user's photos and the partner's",
        first_timeline + len(own["partner"]),
        timeline,
    )
    outcome.check(
        "timeline: the second user sees only their own photos",
        len(own["second"]),
        buckets_total(second.client, with_partners=True),
    )
    outcome.check(
        "timeline: the partner does not see the first user's photos (sharing is one-way)",
        len(own["partner"]),
        buckets_total(partner.client, with_partners=True),
    )

    first.client.put(f"/partners/{partner.user_id}", json={"inTimeline": False}).raise_for_status()
    compare(
        outcome,
        f"inTimeline off: first user `ocr:{QUERY}`",
        walk_pages(first.client, "smart", {"query": f"ocr:{QUERY}"}, 5, outcome.latencies),
        own["first"] & texts,
        owner_of,
    )
    compare(
        outcome,
        f"inTimeline off: first user hybrid `{QUERY}`",
        walk_pages(first.client, "smart", {"query": QUERY}, 10, outcome.latencies),
        own["first"] & embedded,
        owner_of,
    )
    outcome.check(
        "inTimeline off: the partner's photos leave the first user's timeline",
        first_timeline,
        buckets_total(first.client, with_partners=True),
    )
    first.client.put(f"/partners/{partner.user_id}", json={"inTimeline": True}).raise_for_status()

    outcome.timings[f"multi-user searches through Immich, median of {len(outcome.latencies)}, ms"] = round(
        statistics.median(outcome.latencies), 1
    )
    outcome.timings["multi-user searches through Immich, max, ms"] = round(max(outcome.latencies), 1)
    outcome.notes.append(
        f"multi-user: first user {first.email} ({len(own['first'])} photos), second user "
        f"{second.email} ({len(own['second'])}), partner {partner.email} ({len(own['partner'])}), "
        f"password of the two created users: {PASSWORD}"
    )
    return outcome


def first_difference(paged: list[str], whole: list[str]) -> int:
    return next((i for i, (a, b) in enumerate(zip(paged, whole, strict=False)) if a != b), min(len(paged), len(whole)))


def buckets_total(client: httpx.Client, with_partners: bool) -> int:
    response = client.get(
        "/timeline/buckets", params={"visibility": "timeline", "withPartners": str(with_partners).lower()}
    )
    response.raise_for_status()
    return sum(bucket["count"] for bucket in response.json())
