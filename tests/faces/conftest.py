from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from plugin_service.config import load_settings
from plugin_service.context import ServiceContext
from tests._paths import require_shared
from tests.faces._models import arcface_signature_graph, make_pack, scrfd_path, sface_path


@pytest.fixture(scope="session")
def ground_truth() -> dict:
    return json.loads((require_shared() / "face_ground_truth.json").read_text(encoding="utf-8"))


def load_rgb(relative: str) -> np.ndarray:
    return np.asarray(Image.open(require_shared() / relative).convert("RGB"))


@pytest.fixture(scope="session")
def graphs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("face-graphs")
    return {
        "arcface": arcface_signature_graph(root / "arcface.onnx"),
        "probe": arcface_signature_graph(root / "probe.onnx", kind="probe"),
        "batch1": arcface_signature_graph(root / "batch1.onnx", batch=1),
    }


@pytest.fixture(scope="session")
def sface(tmp_path_factory):
    return sface_path(tmp_path_factory.mktemp("sface"))


@pytest.fixture(scope="session")
def pack_root(tmp_path_factory, graphs) -> object:
    """A face_pack_dir with buffalo_l (Immich layout) and buffalo_s (InsightFace layout):
    real SCRFD, synthetic ArcFace."""
    root = tmp_path_factory.mktemp("packs")
    detector = scrfd_path()
    make_pack(root / "buffalo_l", detector, graphs["arcface"], "immich")
    make_pack(root / "buffalo_s", detector, graphs["arcface"], "insightface")
    return root


@pytest.fixture()
def ctx(pack_root, tmp_path) -> ServiceContext:
    settings = load_settings(
        {}, face_pack_dir=str(pack_root), model_dir=str(tmp_path / "models"), offline=True, ort_intra_op_threads=1
    )
    return ServiceContext.from_settings(settings)
