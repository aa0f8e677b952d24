"""A real service process for the adversarial corpus, and helpers that assert it keeps answering.

The service runs as ``plugin-service serve`` (uvicorn with the production limits, short header and
body deadlines here), with PP-OCR (shipped in the rapidocr wheel), a small Chinese-CLIP model of the
ViT-B-16 interface (512-d, 224 px, random weights; the torch extra builds it) and, when the shared
test data is there, a face pack.  Every test ends by checking that ``/ping`` still answers quickly.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests._net import free_port, wait_for_pong
from tests._paths import DATA

KEY = "adversarial-key"
OCR = (
    '{"ocr":{"detection":{"modelName":"PP-OCRv6_small","options":{"minScore":0.5,"maxResolution":736}},'
    '"recognition":{"modelName":"PP-OCRv6_small","options":{"minScore":0.8}}}}'
)
CLIP_TEXT = '{"clip":{"textual":{"modelName":"chinese-clip-vit-base-patch16","options":{"language":"zh-CN"}}}}'
CLIP_IMAGE = '{"clip":{"visual":{"modelName":"chinese-clip-vit-base-patch16"}}}'
FACES = (
    '{"facial-recognition":{"detection":{"modelName":"buffalo_l","options":{"minScore":0.7}},'
    '"recognition":{"modelName":"buffalo_l"}}}'
)
# The interface of ViT-B-16 (512-d output, 224 px input, BERT vocabulary) on a network small enough
# to export in seconds: the service cannot tell the difference, and these tests check behaviour.
SMALL_VIT_B16 = dict(
    embed_dim=512, image_resolution=224, vision_layers=1, vision_width=64, vision_patch_size=32,
    vocab_size=21128, text_attention_probs_dropout_prob=0.0, text_hidden_act="gelu", text_hidden_dropout_prob=0.0,
    text_hidden_size=64, text_initializer_range=0.02, text_intermediate_size=128, text_max_position_embeddings=64,
    text_num_attention_heads=2, text_num_hidden_layers=1, text_type_vocab_size=2,
)  # fmt: skip


@dataclass
class Service:
    url: str
    process: subprocess.Popen
    has_clip: bool
    has_faces: bool
    log: Path

    def post(self, path: str = "/predict", **kwargs) -> httpx.Response:
        return httpx.post(self.url + path, timeout=kwargs.pop("timeout", 120), **kwargs)

    def predict(self, entries: str, *, image: bytes | None = None, text: str | bytes | None = None, **kwargs):
        files = {"image": ("blob", image, "application/octet-stream")} if image is not None else None
        data = {"entries": entries}
        if isinstance(text, str):
            data["text"] = text
        elif text is not None:  # raw bytes as a file part, so no client re-encodes them
            files = {"text": ("text", text, "text/plain")}
        return self.post(data=data, files=files, **kwargs)

    def assert_alive(self, within_s: float = 2.0) -> None:
        """The service answers /ping (Immich marks a server unhealthy after 2 s) and still predicts."""
        assert self.process.poll() is None, "the service process died:\n" + self.log.read_text()[-4000:]
        started = time.monotonic()
        response = httpx.get(self.url + "/ping", timeout=within_s + 5)
        assert response.status_code == 200 and response.text == "pong"
        assert time.monotonic() - started < within_s, f"/ping took {time.monotonic() - started:.2f} s"
        assert self.predict(OCR, image=png(48, 32)).status_code == 200


def png(width: int, height: int, mode: str = "L", fill: int | tuple = 255) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), fill).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def export_small_clip(model_dir: Path) -> bool:
    """The small ViT-B-16-shaped model into ``model_dir`` (False without the torch extra)."""
    try:
        from plugin_service.engines.clip.export import build_model, export_onnx
    except ImportError:
        return False
    target = model_dir / "clip" / "chinese-clip-vit-base-patch16"
    try:
        export_onnx(build_model(SMALL_VIT_B16, seed=3), target, image_size=224)
    except ImportError:
        return False
    return True


def make_face_pack(root: Path) -> bool:
    if not (DATA / "face-models").is_dir():
        return False  # the shared test data is not beside the checkout: the service runs without faces
    try:
        from tests.faces._models import arcface_signature_graph, make_pack, scrfd_path

        make_pack(root / "buffalo_l", scrfd_path(), arcface_signature_graph(root / "arcface.onnx"), "immich")
    except (pytest.skip.Exception, FileNotFoundError, ImportError):
        return False
    return True


def start_service(tmp: Path, **env_overrides: str) -> Service:
    port = free_port()
    models, packs = tmp / "models", tmp / "packs"
    models.mkdir(parents=True, exist_ok=True)
    has_clip = (models / "clip").is_dir() or export_small_clip(models)
    has_faces = (packs / "buffalo_l").is_dir() or make_face_pack(packs)
    env = dict(
        os.environ,
        PLUGIN_SERVICE_PORT=str(port),
        PLUGIN_SERVICE_OFFLINE="true",
        PLUGIN_SERVICE_MODEL_DIR=str(models),
        PLUGIN_SERVICE_MT_PHOTOS_API_KEY=KEY,
        PLUGIN_SERVICE_REQUEST_THREADS="2",
        PLUGIN_SERVICE_ORT_INTRA_OP_THREADS="1",
        PLUGIN_SERVICE_REQUEST_HEADER_TIMEOUT_S="2",
        PLUGIN_SERVICE_REQUEST_BODY_IDLE_TIMEOUT_S="2",
        PLUGIN_SERVICE_LOG_LEVEL="WARNING",
        **({"PLUGIN_SERVICE_FACE_PACK_DIR": str(packs)} if has_faces else {}),
        **env_overrides,
    )
    log = tmp / f"service-{port}.log"
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "plugin_service", "serve"], env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    if wait_for_pong(url, process):
        return Service(url, process, has_clip, has_faces, log)
    process.kill()
    pytest.fail("the service did not start:\n" + log.read_text()[-4000:])


def stop_service(service: Service) -> None:
    service.process.terminate()
    try:
        service.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait()


@pytest.fixture(scope="session")
def adversarial_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("adversarial")


@pytest.fixture(scope="module")
def service(adversarial_root) -> Iterator[Service]:
    running = start_service(adversarial_root)
    yield running
    stop_service(running)


@pytest.fixture
def alive(service) -> Iterator[Service]:
    """The service, checked to be alive and answering after the test."""
    yield service
    service.assert_alive()
