"""OCR speed and accuracy on shared/data/ocr, several configurations side by side in one run.

    python -m bench.ocr [--limit N]

Writes the "ocr" section of docs/benchmarks.md.  Configurations:

(a) the original mt-photos-ai way: ``rapidocr_onnxruntime`` 1.4.4 ``RapidOCR()`` with its defaults
    (PP-OCRv4 mobile + angle classifier), if that package is installed;
(b) Immich v3.1.0's settings: PP-OCRv5 mobile, det minScore 0.5, maxResolution 736, rec minScore 0.8
    (our engine reproduces Immich ML's pre/post-processing);
(c) our default for the CLI / MT Photos API;
plus the other models that ship in wheels, through our engine with Immich's settings.

Character error rate (CER) is measured on every image whose ground truth lists lines (NFKC,
line-by-line in reading order; other projects' printed output compared as sorted lines).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from bench._report import machine_line, markdown_table, write_section
from plugin_service.config import load_settings
from plugin_service.context import ServiceContext
from plugin_service.engines.ocr import OcrOptions, get_ocr_model
from plugin_service.imaging import decode_image, to_array
from tests._paths import DATA
from tests.ocr.test_real_images import OTHER_SCRIPTS, cer, expected_lines

IMMICH = OcrOptions(det_min_score=0.5, max_resolution=736, rec_min_score=0.8)
OURS = OcrOptions(det_min_score=0.5, max_resolution=736, rec_min_score=0.8, single_line_fallback=True)


def load_images() -> list[tuple[str, np.ndarray, list[str] | None, str]]:
    truth = {i["file"]: i for i in json.loads((DATA / "ocr_ground_truth.json").read_text(encoding="utf-8"))["items"]}
    images = []
    for path in sorted((DATA / "ocr").rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".bmp", ".webp"):
            continue
        rel = str(path.relative_to(DATA))
        item = truth.get(rel, {})
        lines = (
            expected_lines(item)
            if item and path.name not in OTHER_SCRIPTS and path.name != "return_word_debug.jpg"
            else None
        )
        images.append(
            (rel, to_array(decode_image(path.read_bytes(), exif_transpose=True)), lines, item.get("kind", ""))
        )
    return images


def engine_runner(ctx, model_name, options):
    model = get_ocr_model(ctx, model_name)
    return lambda rgb: [line.text for line in model.read(rgb, options)]


def mt_photos_runner():
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()

    def run(rgb):
        result, _ = engine(np.ascontiguousarray(rgb[:, :, ::-1]))
        return [text for _, text, _ in result or []]

    return run


def rapidocr3_runner():
    from rapidocr import RapidOCR

    engine = RapidOCR(params={"Global.log_level": "error"})

    def run(rgb):
        out = engine(np.ascontiguousarray(rgb[:, :, ::-1]))
        return list(out.txts or [])

    return run


def measure_interleaved(runners: dict, images) -> dict[str, dict]:
    """Every image through every configuration in turn, so machine load hits all of them alike."""
    for run in runners.values():
        run(images[0][1])  # warm-up: first calls allocate arenas
    seconds = {label: [] for label in runners}
    rates = {label: [] for label in runners}
    for _, rgb, want, kind in images:
        for label, run in runners.items():
            start = time.perf_counter()
            got = run(rgb)
            seconds[label].append(time.perf_counter() - start)
            if want:
                g, w = got[: len(want)], want
                if kind == "readme_output":
                    g, w = sorted(g), sorted(w)
                rates[label].append(cer("\n".join(g), "\n".join(w)))
    return {
        label: {
            "images_per_s": len(images) / sum(seconds[label]),
            "p50_s": statistics.median(seconds[label]),
            "p95_s": sorted(seconds[label])[int(0.95 * (len(seconds[label]) - 1))],
            "cer": statistics.mean(rates[label]),
            "n_cer": len(rates[label]),
        }
        for label in runners
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (quick check)")
    args = parser.parse_args()
    images = load_images()
    if args.limit:
        images = images[: args.limit]
    ctx = ServiceContext.from_settings(load_settings(offline=True))
    default = ctx.settings.ocr_default_model
    configs = [
        ("(a) mt-photos-ai: rapidocr_onnxruntime 1.4.4 defaults (PP-OCRv4 + cls)", mt_photos_runner),
        (
            "(b) Immich v3.1.0: PP-OCRv5_mobile, det 0.5, maxRes 736, rec 0.8",
            lambda: engine_runner(ctx, "PP-OCRv5_mobile", IMMICH),
        ),
        (f"(c) ours: {default}, Immich thresholds, single-line fallback", lambda: engine_runner(ctx, default, OURS)),
        ("PP-OCRv4_mobile, Immich settings, our engine", lambda: engine_runner(ctx, "PP-OCRv4_mobile", IMMICH)),
        ("PP-OCRv6_small, Immich settings, our engine", lambda: engine_runner(ctx, "PP-OCRv6_small", IMMICH)),
        (
            "PP-OCRv6_small, maxRes 960, our engine",
            lambda: engine_runner(ctx, "PP-OCRv6_small", OcrOptions(0.5, 960, 0.8)),
        ),
        ("rapidocr 3.10 RapidOCR() defaults (PP-OCRv6 small + cls)", rapidocr3_runner),
    ]
    runners, missing = {}, {}
    for label, make in configs:
        try:
            runners[label] = make()
        except Exception as exc:  # noqa: BLE001 - a missing optional package skips one row
            missing[label] = f"not run: {type(exc).__name__}: {exc}"[:80]
    results = measure_interleaved(runners, images)
    rows = []
    for label, _ in configs:
        if label in missing:
            rows.append([label, "—", "—", "—", missing[label]])
            continue
        result = results[label]
        print(label, result, flush=True)
        rows.append(
            [
                label,
                f"{result['images_per_s']:.2f}",
                f"{result['p50_s'] * 1000:.0f} / {result['p95_s'] * 1000:.0f}",
                f"{result['cer']:.4f}",
                f"{result['n_cer']} images with truth",
            ]
        )
    table = markdown_table(["configuration", "images/s", "p50 / p95 ms", "mean CER", "note"], rows)
    write_section(
        "ocr",
        f"## OCR (`bench/ocr.py`)\n\n{machine_line()}; {len(images)} images from `shared/data/ocr`, one at a time, "
        f"configurations interleaved image by image (load noise hits all alike), onnxruntime default threads. CER "
        f"on the images whose truth lists lines (lower is better).\n\n{table}\n",
    )


if __name__ == "__main__":
    main()
