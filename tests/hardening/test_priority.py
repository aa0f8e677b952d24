"""Inference runs below the event loop's CPU priority, so /ping is answered while every core is busy.

The pools' threads take ``inference_nice`` when they start, and onnxruntime's worker threads, created
with a session inside such a thread, inherit it (Linux keeps a nice value per thread).  Checked on the
pools directly and on a real ``plugin-service serve`` process with its defaults.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from plugin_service.config import Settings
from plugin_service.runtime import ort_session, tune_malloc
from plugin_service.serving import Executors
from tests._net import free_port, wait_for_pong

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")


def thread_nice(pid: int | str, tid: int | str) -> int:
    stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[16])  # field 19 of proc(5): nice


def threads(pid: int | str = "self") -> set[str]:
    return set(os.listdir(f"/proc/{pid}/task"))


def tiny_graph(path: Path) -> Path:
    from onnx import TensorProto, helper, save

    weight = helper.make_tensor("w", TensorProto.FLOAT, [64, 64], np.ones(64 * 64, np.float32))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 64])],
        [weight],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_defaults_lower_inference_and_return_memory():
    settings = Settings()
    assert settings.inference_nice == 10
    assert settings.ort_cpu_memory_arena is False
    assert (settings.malloc_arena_max, settings.malloc_mmap_threshold) == (2, 1024 * 1024)


def own_nice() -> int:
    return thread_nice("self", threading.get_native_id())


def test_pool_threads_and_the_onnxruntime_threads_they_start_run_at_the_configured_nice(tmp_path):
    if own_nice() >= 7:
        pytest.skip("the tests already run at nice 7 or more: a pool cannot be made to run lower than that here")
    caller = own_nice()
    executors = Executors.create(1, 1, nice=7)
    graph = tiny_graph(tmp_path / "tiny.onnx")

    def load_and_run():
        before = threads()
        session = ort_session(graph, intra_op_threads=2)
        session.run(None, {"x": np.ones((256, 64), np.float32)})
        return thread_nice("self", threading.get_native_id()), threads() - before, session

    try:
        image_nice, started, session = executors.image.submit(load_and_run).result(timeout=60)
        text_nice = executors.text.submit(lambda: thread_nice("self", threading.get_native_id())).result(timeout=60)
    finally:
        executors.shutdown()
    assert (image_nice, text_nice) == (7, 7)
    assert started, "onnxruntime started no worker thread for intra_op_threads=2"
    assert {thread_nice("self", tid) for tid in started if tid in threads()} == {7}
    assert own_nice() == caller  # the thread that made the pools (the event loop's, in the service) is untouched
    del session


def test_nice_zero_leaves_priority_alone():
    executors = Executors.create(1, 1, nice=0)
    try:
        assert executors.image.submit(own_nice).result() == own_nice()
    finally:
        executors.shutdown()


def test_malloc_tuning_applies_on_glibc():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt tuning is glibc's; other C libraries are left alone")
    assert tune_malloc(2, 1024 * 1024) is True
    assert tune_malloc(0, 0) is True  # 0 = leave glibc's defaults


def test_serve_runs_inference_below_the_event_loop_by_default(tmp_path):
    """``plugin-service serve`` as a user runs it: after an OCR request, the event loop (the main
    thread) is at the process's priority and the inference threads, onnxruntime's included, at nice 10."""
    port = free_port()
    log = tmp_path / "service.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGIN_SERVICE_", "MACHINE_LEARNING_"))}
    env.update(
        PLUGIN_SERVICE_PORT=str(port),
        PLUGIN_SERVICE_OFFLINE="true",
        PLUGIN_SERVICE_MODEL_DIR=str(tmp_path / "models"),
        PLUGIN_SERVICE_ORT_INTRA_OP_THREADS="2",
        PLUGIN_SERVICE_LOG_LEVEL="WARNING",
    )
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "plugin_service", "serve"], env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_for_pong(url, process):
            pytest.fail("the service did not start:\n" + log.read_text()[-4000:])
        before = threads(process.pid)
        buffer = io.BytesIO()
        Image.new("L", (160, 48), 255).save(buffer, "PNG")
        entries = '{"ocr":{"detection":{"modelName":"PP-OCRv6_small"},"recognition":{"modelName":"PP-OCRv6_small"}}}'
        response = httpx.post(
            url + "/predict", data={"entries": entries}, files={"image": ("blob", buffer.getvalue())}, timeout=120
        )
        assert response.status_code == 200, response.text
        started = threads(process.pid) - before
        assert thread_nice(process.pid, process.pid) == own_nice()  # uvicorn's event loop: /ping
        # the image pool's worker and the detector's and recogniser's onnxruntime workers
        assert len(started) >= 3, started
        assert {thread_nice(process.pid, tid) for tid in started} == {max(10, own_nice())}
    finally:
        process.terminate()
        process.wait(timeout=30)
