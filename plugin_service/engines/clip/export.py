"""Official Chinese-CLIP checkpoints → our ONNX layout (needs the ``torch`` extra).

Serving never imports this module.  It builds cn_clip's own model (the same
code that produced the published weights), loads a checkpoint or keeps the
random initialisation (for parity tests and benchmarks where no weights can
be downloaded), and exports each tower with a dynamic batch axis.
"""

from __future__ import annotations

import json
import logging
import sys
import types
from pathlib import Path

import numpy as np

from plugin_service.engines.clip.architectures import ARCHITECTURES, ClipArchitecture

log = logging.getLogger(__name__)
OPSET = 17  # cn_clip's recipe says 13, which fails on scaled_dot_product_attention with torch ≥ 2.x


def import_cn_clip():
    """Import ``cn_clip``; its package ``__init__`` needs torchvision only for training-time transforms.

    The PyPI torchvision build does not match the CPU torch wheel used here
    (``operator torchvision::nms does not exist``), so when it cannot be
    imported a stand-in with the transform names is registered: we never use
    cn_clip's transforms (preprocessing is ours, see ``encoder.preprocess``).
    """
    try:
        import torchvision.transforms  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure of the real package
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        stub = types.ModuleType("torchvision")
        transforms = types.ModuleType("torchvision.transforms")
        for attr in (
            "Compose",
            "ToTensor",
            "Normalize",
            "Resize",
            "InterpolationMode",
            "CenterCrop",
            "RandomResizedCrop",
        ):
            setattr(transforms, attr, type(attr, (), {"BICUBIC": 3, "__init__": lambda self, *a, **k: None}))
        stub.transforms = transforms  # type: ignore[attr-defined]  # a stand-in module
        sys.modules["torchvision"] = stub
        sys.modules["torchvision.transforms"] = transforms
    import cn_clip.clip  # noqa: F401
    from cn_clip.clip import model as cn_model

    return cn_model


def model_config(arch: ClipArchitecture) -> dict:
    configs = Path(import_cn_clip().__file__).parent / "model_configs"
    vision, text = arch.struct.split("@")
    config = json.loads((configs / f"{vision}.json").read_text())
    config.update(json.loads((configs / f"{text}.json").read_text()))
    if isinstance(config["vision_layers"], str):
        config["vision_layers"] = json.loads(config["vision_layers"].replace("(", "[").replace(")", "]"))
    return config


def build_model(config: dict, checkpoint: Path | None = None, seed: int = 0):
    """cn_clip's CLIP in fp32 eval mode, with checkpoint weights or seeded random ones."""
    import torch

    cn_model = import_cn_clip()
    torch.manual_seed(seed)
    model = cn_model.CLIP(**config)
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        state = state.get("state_dict", state)
        state = {k.removeprefix("module."): v for k, v in state.items() if "bert.pooler" not in k}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if [k for k in missing if not k.startswith("bert.pooler")] or unexpected:
            raise ValueError(f"checkpoint does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.float().eval()


def export_onnx(model, out_dir: Path, image_size: int, context_length: int = 52) -> dict[str, Path]:
    """Write ``visual/model.onnx`` and ``textual/model.onnx`` (dynamic batch, unnormalised outputs)."""
    import torch

    class Visual(torch.nn.Module):
        def __init__(self, clip):
            super().__init__()
            self.clip = clip

        def forward(self, image):
            return self.clip.encode_image(image)

    class Textual(torch.nn.Module):
        def __init__(self, clip):
            super().__init__()
            self.clip = clip

        def forward(self, text):
            return self.clip.encode_text(text)

    paths = {"visual": out_dir / "visual" / "model.onnx", "textual": out_dir / "textual" / "model.onnx"}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    dummy_image = torch.randn(1, 3, image_size, image_size)
    dummy_text = torch.zeros(1, context_length, dtype=torch.long)
    dummy_text[0, :3] = torch.tensor([101, 2769, 102])
    # The wrappers must be in eval mode: export restores the wrapper's mode afterwards, and a
    # wrapper left in training mode would switch the wrapped model's dropout on.
    with torch.no_grad():
        _export(Visual(model).eval(), dummy_image, paths["visual"], "image", "unnorm_image_features")
        _export(Textual(model).eval(), dummy_text, paths["textual"], "text", "unnorm_text_features")
    model.eval()
    return paths


def _export(module, example, path: Path, input_name: str, output_name: str) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.onnx.export(
        module,
        (example,),
        str(tmp),
        input_names=[input_name],
        output_names=[output_name],
        dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
        opset_version=OPSET,
        do_constant_folding=True,  # also lets dynamic quantisation shrink the vision tower 4×
        dynamo=False,
    )
    _inline_external_data(tmp)
    tmp.replace(path)


def _inline_external_data(path: Path) -> None:
    """Keep one self-contained file when it fits in protobuf's 2 GB (ViT-B/L); larger ones keep a sidecar."""
    import onnx

    model = onnx.load(str(path), load_external_data=True)
    if model.ByteSize() < 2_000_000_000:
        onnx.save_model(model, str(path), save_as_external_data=False)
        for sidecar in path.parent.glob(path.name + ".data"):
            sidecar.unlink()


def quantize(path: Path, precision: str) -> Path:
    """``model.int8.onnx`` (dynamic QInt8 weights) or ``model.fp16.onnx`` beside ``path``."""
    target = path.with_name(f"model.{precision}.onnx")
    if precision == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # MatMul/Gemm carry nearly all transformer weights; convolutions (RN50's stem) stay fp32,
        # which also avoids exporter-folded conv weights that are not plain initializers.
        quantize_dynamic(str(path), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
    elif precision == "fp16":
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
        onnx.save_model(model, str(target))
    else:
        raise ValueError(f"unknown precision {precision!r}")
    return target


def export_architecture(
    name: str, out_dir: Path, checkpoint: Path | None = None, precisions: tuple[str, ...] = (), seed: int = 0
) -> dict[str, Path]:
    arch = ARCHITECTURES[name]
    model = build_model(model_config(arch), checkpoint, seed)
    paths = export_onnx(model, out_dir, arch.image_size)
    for precision in precisions:
        if precision != "fp32":
            for tower in ("visual", "textual"):
                paths[f"{tower}.{precision}"] = quantize(paths[tower], precision)
    write_model_files(out_dir, arch, source=str(checkpoint) if checkpoint else f"random weights (seed {seed})")
    return paths


def write_model_files(out_dir: Path, arch: ClipArchitecture, source: str) -> None:
    """``config.json`` (what the model expects, for people and other tools) and the vocabulary beside the graphs."""
    import shutil

    from plugin_service.engines.clip.architectures import CONTEXT_LENGTH, MEAN, STD
    from plugin_service.engines.clip.tokenizer import VOCAB

    config = {
        "model": arch.name,
        "arch": arch.arch,
        "embed_dim": arch.embed_dim,
        "image_size": arch.image_size,
        "context_length": CONTEXT_LENGTH,
        "mean": list(MEAN),
        "std": list(STD),
        "interpolation": "bicubic",
        "resize": "square, no crop",
        "inputs": {"visual": "image float32 [N,3,S,S]", "textual": "text int64 [N,52]"},
        "outputs": "unnormalised features",
        "source": source,
        "opset": OPSET,
    }
    (out_dir / "config.json").write_text(json.dumps(config, indent=1))
    shutil.copyfile(VOCAB, out_dir / "vocab.txt")


def torch_features(model, image_tensor: np.ndarray | None = None, text_ids: np.ndarray | None = None) -> np.ndarray:
    """cn_clip's own ``encode_image`` / ``encode_text``, L2-normalised (the parity reference)."""
    import torch

    with torch.no_grad():
        if image_tensor is not None:
            features = model.encode_image(torch.from_numpy(image_tensor))
        else:
            features = model.encode_text(torch.from_numpy(text_ids))
        features = features / features.norm(dim=-1, keepdim=True)
    return features.numpy()
