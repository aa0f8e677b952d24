"""A real server process: concurrent requests, /ping stays answered, preload, idle unload."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests._net import free_port, wait_for_pong
from tests.ocr.fonts import render_lines

ENTRIES = (
    '{"ocr":{"detection":{"modelName":"PP-OCRv6_small","options":{"minScore":0.5,"maxResolution":1440}},"recognition":'
    '{"modelName":"PP-OCRv6_small","options":{"minScore":0.8}}}}'
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    env = dict(
        os.environ,
        PLUGIN_SERVICE_PORT=str(port),
        PLUGIN_SERVICE_OFFLINE="true",
        PLUGIN_SERVICE_MODEL_DIR=str(tmp_path_factory.mktemp("models")),
        PLUGIN_SERVICE_PRELOAD="ocr:recognition:PP-OCRv6_small",
        PLUGIN_SERVICE_REQUEST_THREADS="2",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "plugin_service", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    if not wait_for_pong(url, process, timeout=60):
        process.kill()
        pytest.fail("server did not start:\n" + (process.stdout.read() if process.stdout else ""))
    yield url
    process.terminate()
    process.wait(timeout=10)


def big_text_image() -> bytes:
    image = render_lines([f"第{i}行 测试文字 {i * 1111}" for i in range(12)], size=48)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_concurrent_requests_all_answer_and_ping_is_not_blocked(server):
    image = big_text_image()

    def ocr(_):
        response = httpx.post(
            server + "/predict", data={"entries": ENTRIES}, files={"image": ("blob", image)}, timeout=120
        )
        return time.monotonic(), response

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(ocr, i) for i in range(6)]
        time.sleep(0.3)  # the OCR requests are now queued or running
        ping = httpx.get(server + "/ping", timeout=5)
        ping_done = time.monotonic()
        results = [f.result() for f in futures]
    assert ping.text == "pong"
    assert ping_done < max(t for t, _ in results), "/ping was answered while OCR work was still in flight"
    texts = {tuple(r.json()["ocr"]["text"]) for _, r in results}
    assert all(r.status_code == 200 for _, r in results)
    assert len(texts) == 1, "identical requests give identical answers under concurrency"
    assert len(next(iter(texts))) == 12
