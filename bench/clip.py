"""Chinese-CLIP speed on this machine: the real ViT-B-16 architecture with random weights.

    python -m bench.clip [--images 16] [--texts 32]

Side by side in one run:
(a) the original mt-photos-ai way: cn_clip in torch (eager), one request at a time;
(b) our service over HTTP (uvicorn + /predict, as Immich calls it), fp32 and int8;
(c) the bare onnxruntime session (the floor), fp32 and int8.
Also: file sizes, int8-vs-fp32 cosine per image, peak RSS of the service with both towers loaded,
and text latency while a stream of image requests runs.  Random weights: speed and numerical
fidelity only, no retrieval quality.  Writes the "clip" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from bench._report import machine_line, markdown_table, write_section
from bench._service import start_service
from plugin_service.engines.clip.architectures import ARCHITECTURES
from plugin_service.engines.clip.encoder import ImageEncoder, TextEncoder, preprocess
from plugin_service.engines.clip.export import build_model, export_onnx, model_config, quantize, torch_features
from plugin_service.engines.clip.tokenizer import ClipTokenizer
from tests.clip.conftest import caption_pairs

NAME = "chinese-clip-vit-base-patch16"
ARCH = ARCHITECTURES[NAME]


def stats(seconds: list[float]) -> tuple[float, float, float]:
    ordered = sorted(seconds)
    return len(seconds) / sum(seconds), statistics.median(seconds), ordered[int(0.95 * (len(ordered) - 1))]


def timed(fn, items) -> list[float]:
    fn(items[0])  # warm-up
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - start)
    return out


def start_clip_service(store: Path, precision: str):
    return start_service(
        {
            "PLUGIN_SERVICE_MODEL_DIR": str(store),
            "PLUGIN_SERVICE_OFFLINE": "1",
            "PLUGIN_SERVICE_CLIP_PRECISION": precision,
            "PLUGIN_SERVICE_LOG_LEVEL": "WARNING",
            "PLUGIN_SERVICE_PRELOAD": f"clip:visual:{NAME},clip:textual:{NAME}",
        }
    )


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--texts", type=int, default=32)
    args = parser.parse_args()
    pairs = caption_pairs(max(args.images, 1))
    images = [image for image, _ in pairs][: args.images]
    texts = [c for _, captions in caption_pairs(40) for c in captions][: args.texts]
    jpegs = []
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        jpegs.append(buffer.getvalue())

    import onnxruntime as ort
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp)
        model_dir = store / "clip" / NAME
        model = build_model(model_config(ARCH), seed=0)
        export_onnx(model, model_dir, ARCH.image_size)
        for tower in ("visual", "textual"):
            quantize(model_dir / tower / "model.onnx", "int8")
        sizes = {p.relative_to(model_dir).as_posix(): p.stat().st_size / 1e6 for p in sorted(model_dir.rglob("*.onnx"))}

        rows = []
        tokenizer = ClipTokenizer()
        # (a) cn_clip torch eager, one at a time
        image_a = timed(lambda im: torch_features(model, image_tensor=preprocess(im, 224)), images)
        text_a = timed(lambda t: torch_features(model, text_ids=tokenizer([t])), texts)
        rows.append(["(a) mt-photos-ai way: cn_clip torch eager", *fmt(image_a), *fmt(text_a)])
        # (c) bare onnxruntime
        sessions = {}
        for precision, suffix in (("fp32", "model.onnx"), ("int8", "model.int8.onnx")):
            visual = ort.InferenceSession(str(model_dir / "visual" / suffix), providers=["CPUExecutionProvider"])
            textual = ort.InferenceSession(str(model_dir / "textual" / suffix), providers=["CPUExecutionProvider"])
            sessions[precision] = (ImageEncoder(visual, ARCH), TextEncoder(textual, ARCH))
            tensors = [preprocess(im, 224) for im in images]
            ids = [tokenizer([t]) for t in texts]
            image_c = timed(lambda x, session=visual: session.run(None, {"image": x}), tensors)
            text_c = timed(lambda x, session=textual: session.run(None, {"text": x}), ids)
            rows.append([f"(c) bare onnxruntime session, {precision}", *fmt(image_c), *fmt(text_c)])
        cos_int8 = [float(np.dot(sessions["fp32"][0].encode(im), sessions["int8"][0].encode(im))) for im in images]
        cos_int8_text = [
            float(v) for v in np.sum(sessions["fp32"][1].encode(texts) * sessions["int8"][1].encode(texts), axis=1)
        ]
        del sessions
        # (b) our service over HTTP
        rss, contention = {}, {}
        for precision in ("fp32", "int8"):
            process, url = start_clip_service(store, precision)
            try:
                with httpx.Client(timeout=120) as client:
                    visual_entries = f'{{"clip":{{"visual":{{"modelName":"{NAME}"}}}}}}'
                    textual_entries = f'{{"clip":{{"textual":{{"modelName":"{NAME}","options":{{}}}}}}}}'
                    image_b = timed(
                        lambda j, base=url, entries=visual_entries: client.post(
                            base + "/predict", data={"entries": entries}, files={"image": ("blob", j)}
                        ).raise_for_status(),
                        jpegs,
                    )
                    text_b = timed(
                        lambda t, base=url, entries=textual_entries: client.post(
                            base + "/predict", data={"entries": entries, "text": t}
                        ).raise_for_status(),
                        texts,
                    )
                    rss[precision] = peak_rss_mib(process.pid)
                    contention[precision] = text_latency_under_image_load(
                        url, jpegs, texts, visual_entries, textual_entries
                    )
                rows.append([f"(b) our service over HTTP, {precision}", *fmt(image_b), *fmt(text_b)])
            finally:
                process.terminate()
                process.wait(timeout=30)

    table = markdown_table(["path", "images/s", "image p50 / p95 ms", "texts/s", "text p50 / p95 ms"], rows)
    size_table = markdown_table(["file", "MB"], [[k, f"{v:.0f}"] for k, v in sizes.items()])
    write_section(
        "clip",
        f"""## Chinese-CLIP (`bench/clip.py`)

{machine_line()}; real ViT-B-16 architecture (`{NAME}`) with random weights (no real weights can be
downloaded here: speed and numerical fidelity only). {len(images)} Flickr30K-CN images, {len(texts)} captions,
one request at a time. (b) includes JPEG decoding, multipart parsing and JSON; (c) is `session.run` alone.

{table}

- int8 (dynamic quantisation of MatMul/Gemm weights) vs fp32 cosine per image: min {min(cos_int8):.4f},
  mean {statistics.mean(cos_int8):.4f}; per caption: min {min(cos_int8_text):.4f},
  mean {statistics.mean(cos_int8_text):.4f}
  (random weights; real weights usually quantise better, but measure on your own library before switching).
- Peak RSS of the service with both towers loaded: fp32 {rss["fp32"]:.0f} MiB, int8 {rss["int8"]:.0f} MiB.
- Text query p50 while 2 clients stream image embeddings: fp32 {contention["fp32"][0] * 1000:.0f} ms
  (idle: {contention["fp32"][1] * 1000:.0f} ms), int8 {contention["int8"][0] * 1000:.0f} ms
  (idle {contention["int8"][1] * 1000:.0f} ms).

{size_table}
""",
    )
    print(table)


def fmt(seconds: list[float]) -> list[str]:
    rate, p50, p95 = stats(seconds)
    return [f"{rate:.2f}", f"{p50 * 1000:.0f} / {p95 * 1000:.0f}"]


def text_latency_under_image_load(url, jpegs, texts, visual_entries, textual_entries) -> tuple[float, float]:
    """Median text latency with two clients posting images, and without."""
    with httpx.Client(timeout=120) as client:
        idle = [timed_post(client, url, textual_entries, t) for t in texts[:8]]
    stop = threading.Event()

    def image_stream():
        with httpx.Client(timeout=120) as client:
            i = 0
            while not stop.is_set():
                client.post(
                    url + "/predict", data={"entries": visual_entries}, files={"image": ("blob", jpegs[i % len(jpegs)])}
                )
                i += 1

    workers = [threading.Thread(target=image_stream) for _ in range(2)]
    for w in workers:
        w.start()
    time.sleep(1.0)
    with httpx.Client(timeout=120) as client:
        busy = [timed_post(client, url, textual_entries, t) for t in texts[:8]]
    stop.set()
    for w in workers:
        w.join()
    return statistics.median(busy), statistics.median(idle)


def timed_post(client, url, entries, text) -> float:
    start = time.perf_counter()
    client.post(url + "/predict", data={"entries": entries, "text": text}).raise_for_status()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
