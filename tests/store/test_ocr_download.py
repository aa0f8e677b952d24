"""A real catalogue entry fetched from a ModelScope-shaped mirror, verified and loaded.

The PP-OCRv6 small files in the rapidocr wheel are byte-identical to the registry's, so a local
server that lays them out like ModelScope stands in for it: the pinned sha256 of the real
catalogue is checked, and the downloaded model reads text.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import rapidocr

from plugin_service.config import load_settings
from plugin_service.context import ServiceContext
from plugin_service.engines.ocr import get_ocr_model
from plugin_service.store.store import ModelStore
from tests.ocr.fonts import render_lines

WHEEL_MODELS = Path(rapidocr.__file__).parent / "models"


class ModelScopeMirror(http.server.SimpleHTTPRequestHandler):
    requested: list[str] = []

    def translate_path(self, path):
        # /models/RapidAI/RapidOCR/resolve/v3.10.0/onnx/PP-OCRv6/det/PP-OCRv6_det_small.onnx -> the wheel's file
        self.requested.append(path)
        return str(WHEEL_MODELS / Path(path).name)

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ModelScopeMirror)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ModelScopeMirror.requested = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_catalogue_model_downloads_from_modelscope_mirror_and_reads_text(tmp_path, mirror, monkeypatch):
    monkeypatch.setattr(ModelStore, "_packaged", staticmethod(lambda file: None))  # pretend nothing ships in wheels
    settings = load_settings({}, model_dir=str(tmp_path), modelscope_endpoint=mirror)
    ctx = ServiceContext.from_settings(settings)
    model = get_ocr_model(ctx, "PP-OCRv6_small")
    assert sorted(ModelScopeMirror.requested) == [
        "/models/RapidAI/RapidOCR/resolve/v3.10.0/onnx/PP-OCRv6/det/PP-OCRv6_det_small.onnx",
        "/models/RapidAI/RapidOCR/resolve/v3.10.0/onnx/PP-OCRv6/rec/PP-OCRv6_rec_small.onnx",
    ]
    assert (tmp_path / "ocr/PP-OCRv6_small/detection/model.onnx").exists()
    lines = model.read(np.asarray(render_lines(["下载成功"])))
    assert [line.text for line in lines] == ["下载成功"]
