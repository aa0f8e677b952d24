"""``plugin-service clip`` as an admin uses it."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from plugin_service.cli import main


def test_import_mtphotos_files_then_encode(vit_b16, tmp_path, monkeypatch):
    """MT Photos' vit-b-16.{img,txt}.fp32.onnx have the official recipe's I/O; ours do too."""
    _, store = vit_b16
    source = store / "clip" / "chinese-clip-vit-base-patch16"
    image_file, text_file = tmp_path / "vit-b-16.img.fp32.onnx", tmp_path / "vit-b-16.txt.fp32.onnx"
    image_file.symlink_to(source / "visual/model.onnx")
    text_file.symlink_to(source / "textual/model.onnx")
    monkeypatch.setenv("PLUGIN_SERVICE_MODEL_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("PLUGIN_SERVICE_OFFLINE", "1")
    result = CliRunner().invoke(main, ["clip", "import-mtphotos", "--image", str(image_file), "--text", str(text_file)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "store/clip/chinese-clip-vit-base-patch16/visual/model.onnx").stat().st_size > 300e6
    encoded = CliRunner().invoke(main, ["clip", "encode", "春节的烟花"])
    assert encoded.exit_code == 0, encoded.output
    assert "(512 floats)" in encoded.output


def test_import_refuses_swapped_files(vit_b16, tmp_path, monkeypatch):
    _, store = vit_b16
    source = store / "clip" / "chinese-clip-vit-base-patch16"
    monkeypatch.setenv("PLUGIN_SERVICE_MODEL_DIR", str(tmp_path / "store"))
    result = CliRunner().invoke(
        main,
        [
            "clip",
            "import-mtphotos",
            "--image",
            str(source / "textual/model.onnx"),
            "--text",
            str(source / "visual/model.onnx"),
        ],
    )
    assert result.exit_code != 0 and "expected input 'image'" in result.output
    assert not (tmp_path / "store").exists()


def test_export_random_weights_with_int8_into_the_store(tmp_path, monkeypatch):
    pytest.importorskip("cn_clip", reason="the torch extra (torch, cn_clip) is not installed")
    monkeypatch.setenv("PLUGIN_SERVICE_MODEL_DIR", str(tmp_path))
    result = CliRunner().invoke(
        main, ["models", "export-clip", "chinese-clip-rn50", "--random-weights", "--precision", "int8"]
    )
    assert result.exit_code == 0, result.output
    model_dir = tmp_path / "clip/chinese-clip-rn50"
    import json

    config = json.loads((model_dir / "config.json").read_text())
    assert (config["embed_dim"], config["image_size"], config["context_length"]) == (1024, 224, 52)
    assert (model_dir / "vocab.txt").stat().st_size > 100_000
    for name in ("visual/model.onnx", "textual/model.onnx", "visual/model.int8.onnx", "textual/model.int8.onnx"):
        assert (model_dir / name).exists(), name
    import onnxruntime as ort

    from plugin_service.engines.clip.architectures import ARCHITECTURES
    from plugin_service.engines.clip.encoder import TextEncoder

    arch = ARCHITECTURES["chinese-clip-rn50"]
    fp32 = TextEncoder(ort.InferenceSession(str(model_dir / "textual/model.onnx")), arch).encode(["一只猫", "a cat"])
    int8 = TextEncoder(ort.InferenceSession(str(model_dir / "textual/model.int8.onnx")), arch).encode(
        ["一只猫", "a cat"]
    )
    assert fp32.shape == (2, 1024)
    assert np.all(np.sum(fp32 * int8, axis=1) > 0.9), "int8 stays close to fp32"


def test_export_without_checkpoint_offline_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGIN_SERVICE_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("PLUGIN_SERVICE_OFFLINE", "1")
    result = CliRunner().invoke(main, ["clip", "export", "chinese-clip-vit-base-patch16"])
    assert result.exit_code != 0
    assert "clip_cn_vit-b-16.pt" in result.output and "--checkpoint" in result.output
