"""Cost of the gateway hop: added latency against calling the upstream directly, and throughput.

    python -m bench.gateway [--requests 400] [--seconds 4]

Writes the "gateway" section of docs/benchmarks.md.  The upstream is the
recording stand-in of the tests (answers like Immich ML at once, no model), so
what is measured is the gateway alone: Litestar multipart parsing, routing,
forwarding with httpx, validating and returning the answer.  The gateway runs
as `plugin-service serve` in its own process with its default logging; the load
generator runs on the same machine, so at high concurrency client, gateway and
stand-in share the CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import subprocess
import time

import httpx
from PIL import Image

from bench._report import machine_line, markdown_table, write_section
from bench._service import start_service
from tests._paths import CONTRACT, DATA
from tests.gateway.servers import StandIn

FACES = (
    '{"facial-recognition":{"detection":{"modelName":"buffalo_l","options":{"minScore":0.7}},"recognition":{"modelName":'
    '"buffalo_l"}}}'
)
TEXT = '{"clip":{"textual":{"modelName":"ViT-B-32__openai","options":{"language":"zh-CN"}}}}'


def preview_jpeg() -> bytes:
    """An Immich-sized preview: shorter side 1440 px, JPEG quality 80 (Immich's defaults)."""
    with Image.open(DATA / "faces/serengil__deepface/tests/unit/dataset/img1.jpg") as im:
        im = im.convert("RGB")
        scale = 1440 / min(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)))
        buffer = io.BytesIO()
        im.save(buffer, "JPEG", quality=80)
        return buffer.getvalue()


def start_gateway(upstream: str) -> tuple[subprocess.Popen, str]:
    # Its logs are written (that cost is part of the hop) but not shown.
    return start_service(
        {
            "PLUGIN_SERVICE_UPSTREAMS": f"bench={upstream}",
            "PLUGIN_SERVICE_ROUTES": "*=bench",
            "PLUGIN_SERVICE_OFFLINE": "true",
        },
        timeout_s=60,
    )


def request_kwargs(kind: str, image: bytes | None) -> dict:
    if kind == "text":
        return {"files": {"entries": (None, TEXT), "text": (None, "海边的日落")}}
    return {"data": {"entries": FACES}, "files": {"image": ("blob", image, "application/octet-stream")}}


def latencies(direct: str, gateway: str, kwargs: dict, n: int) -> tuple[list[float], list[float]]:
    """Interleaved sequential requests, so drift in machine load hits both sides alike."""
    times: dict[str, list[float]] = {direct: [], gateway: []}
    with httpx.Client(timeout=30) as client:
        for url in (direct, gateway):  # warm connections and code paths
            for _ in range(20):
                client.post(url + "/predict", **kwargs).raise_for_status()
        for _ in range(n):
            for url in (direct, gateway):
                started = time.perf_counter()
                client.post(url + "/predict", **kwargs).raise_for_status()
                times[url].append((time.perf_counter() - started) * 1000)
    return times[direct], times[gateway]


async def throughput(url: str, kwargs: dict, clients: int, seconds: float) -> float:
    done = 0
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=clients)) as client:

        async def worker():
            nonlocal done
            while time.perf_counter() < stop:
                (await client.post(url + "/predict", **kwargs)).raise_for_status()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return done / (time.perf_counter() - started)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if q < 100 else max(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    preview = preview_jpeg()
    small = (CONTRACT / "002-facial-recognition-image.jpg").read_bytes()
    standin = StandIn("bench").start()
    gateway, gateway_url = start_gateway(standin.url)
    try:
        rows = []
        for label, kind, image in (
            (f"image {len(small) // 1024} KB (captured Immich request)", "image", small),
            (f"image {len(preview) // 1024} KB (1440 px preview)", "image", preview),
            ("text query (clip textual)", "text", None),
        ):
            direct, via = latencies(standin.url, gateway_url, request_kwargs(kind, image), args.requests)
            d50, v50, d99, v99 = pct(direct, 50), pct(via, 50), pct(direct, 99), pct(via, 99)
            rows.append(
                [label, f"{d50:.2f} / {d99:.2f}", f"{v50:.2f} / {v99:.2f}", f"**{v50 - d50:.2f}** / {v99 - d99:.2f}"]
            )
            print(rows[-1], flush=True)
        rates = []
        kwargs = request_kwargs("image", small)
        for clients in (1, 8, 32):
            direct_rate = asyncio.run(throughput(standin.url, kwargs, clients, args.seconds))
            gateway_rate = asyncio.run(throughput(gateway_url, kwargs, clients, args.seconds))
            rates.append([clients, f"{direct_rate:.0f}", f"{gateway_rate:.0f}"])
            print(rates[-1], flush=True)
    finally:
        gateway.terminate()
        gateway.wait(10)
        standin.stop()
    markdown = "\n\n".join(
        [
            "## Gateway hop (`bench/gateway.py`)",
            f"{machine_line()}; upstream: the tests' stand-in (answers at once, no model); "
            "gateway: `plugin-service serve` in its own process, default logging (a structured line per request); "
            f"{args.requests} interleaved sequential requests per row over keep-alive "
            "connections. Goal: p50 added ≤ 2 ms.",
            markdown_table(
                [
                    "request (faces task, routed upstream)",
                    "direct p50 / p99 ms",
                    "via gateway p50 / p99 ms",
                    "added p50 / p99 ms",
                ],
                rows,
            ),
            f"Requests/s with N concurrent clients ({args.seconds:g} s each, the 22 KB captured request; client,"
            f" gateway and "
            "stand-in share the machine's CPUs, so the gateway column is a floor):",
            markdown_table(["clients", "direct req/s", "via gateway req/s"], rates),
        ]
    )
    write_section("gateway", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
