"""The command line as a person uses it."""

from __future__ import annotations

import json

from click.testing import CliRunner

from plugin_service.cli import main
from tests.ocr.fonts import render_lines


def test_ocr_prints_the_text(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGIN_SERVICE_OFFLINE", "true")
    monkeypatch.setenv("PLUGIN_SERVICE_MODEL_DIR", str(tmp_path / "models"))
    image = tmp_path / "sign.png"
    render_lines(["北京欢迎你", "出口 EXIT"]).save(image)
    result = CliRunner().invoke(main, ["ocr", str(image)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["北京欢迎你", "出口 EXIT"] or result.output.replace(" ", "").splitlines() == [
        "北京欢迎你",
        "出口EXIT",
    ]


def test_ocr_json_is_immich_shaped(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGIN_SERVICE_OFFLINE", "true")
    monkeypatch.setenv("PLUGIN_SERVICE_MODEL_DIR", str(tmp_path / "models"))
    image = tmp_path / "a.png"
    render_lines(["发票"]).save(image)
    result = CliRunner().invoke(main, ["ocr", "--json", str(image)])
    body = json.loads(result.output)
    assert body["ocr"]["text"] == ["发票"] and len(body["ocr"]["box"]) == 8
    assert (body["imageWidth"], body["imageHeight"]) == render_lines(["发票"]).size


def test_ocr_bad_file_is_reported_and_others_still_read(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGIN_SERVICE_OFFLINE", "true")
    monkeypatch.setenv("PLUGIN_SERVICE_MODEL_DIR", str(tmp_path / "models"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    good = tmp_path / "good.png"
    render_lines(["你好"]).save(good)
    result = (
        CliRunner(mix_stderr=False).invoke(main, ["ocr", str(bad), str(good)])
        if "mix_stderr" in CliRunner.__init__.__code__.co_varnames
        else CliRunner().invoke(main, ["ocr", str(bad), str(good)])
    )
    assert result.exit_code == 1
    assert "你好" in result.output
    assert "could not be decoded" in (result.output + (result.stderr if hasattr(result, "stderr") else ""))


def test_unknown_ocr_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGIN_SERVICE_OFFLINE", "true")
    image = tmp_path / "a.png"
    render_lines(["字"]).save(image)
    result = CliRunner().invoke(main, ["ocr", "--model", "nope", str(image)])
    assert result.exit_code != 0 and "unknown OCR model" in result.output


def test_models_list_shows_packaged_models_ready(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGIN_SERVICE_MODEL_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["models", "list", "--task", "ocr"])
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert "ready" in lines["ocr/PP-OCRv6_small"]
    assert "not downloaded" in lines["ocr/PP-OCRv5_server"]


def test_models_fetch_offline_names_the_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGIN_SERVICE_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("PLUGIN_SERVICE_OFFLINE", "1")
    result = CliRunner().invoke(main, ["models", "fetch", "PP-OCRv5_server"])
    assert result.exit_code == 1
    assert "detection/model.onnx" in result.output and "offline" in result.output
