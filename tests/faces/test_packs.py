"""Face packs: both layouts on disk, the catalog, and download through the model store."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import pytest

from plugin_service.config import load_settings
from plugin_service.context import ServiceContext
from plugin_service.engines.faces.catalog import FACE_CATALOG
from plugin_service.engines.faces.loader import get_face_model, load_face_model
from plugin_service.engines.faces.pack import PackNotFound, find_pack_files
from plugin_service.errors import ModelLoadError
from tests.faces._models import make_pack, scrfd_path
from tests.faces.conftest import load_rgb

T1 = "faces/deepinsight__insightface/python-package/insightface/data/images/t1.jpg"


def test_catalog_has_immichs_four_packs_from_immich_hugging_face_repos():
    for name in ("buffalo_l", "buffalo_m", "buffalo_s", "antelopev2"):
        spec = FACE_CATALOG.find(name, "facial-recognition")
        assert [f.path for f in spec.files] == ["detection/model.onnx", "recognition/model.onnx"]
        assert all(s.kind == "huggingface" and s.repo == f"immich-app/{name}" for f in spec.files for s in f.sources)
        assert "non-commercial" in spec.license and spec.info["embedding_dim"] == 512


def test_both_layouts_and_nested_zip_folders_are_found(tmp_path, graphs):
    detector = scrfd_path()
    immich = find_pack_files(make_pack(tmp_path / "a", detector, graphs["arcface"], "immich"))
    assert immich.layout == "immich" and immich.detector.name == "model.onnx"
    insightface = find_pack_files(make_pack(tmp_path / "b", detector, graphs["arcface"], "insightface"))
    assert (insightface.layout, insightface.detector.name, insightface.recogniser.name) == (
        "insightface",
        "det_500m.onnx",
        "w600k_mbf.onnx",
    )
    # antelopev2.zip unpacks into antelopev2/antelopev2/, with the landmark models beside.
    nested = tmp_path / "antelopev2" / "antelopev2"
    nested.mkdir(parents=True)
    shutil.copyfile(detector, nested / "scrfd_10g_bnkps.onnx")
    shutil.copyfile(graphs["arcface"], nested / "glintr100.onnx")
    shutil.copyfile(graphs["arcface"], nested / "2d106det.onnx")
    found = find_pack_files(tmp_path / "antelopev2")
    assert (found.detector.name, found.recogniser.name) == ("scrfd_10g_bnkps.onnx", "glintr100.onnx")
    with pytest.raises(PackNotFound, match="det_"):
        find_pack_files(tmp_path / "missing")


def test_packs_load_from_face_pack_dir_in_either_layout(ctx):
    rgb = load_rgb(T1)
    for name in ("buffalo_l", "buffalo_s"):
        faces = get_face_model(ctx, name).analyse(rgb, 0.5)
        assert len(faces) == 6 and all(f.embedding.shape == (512,) for f in faces)
    assert get_face_model(ctx, "buffalo_l") is get_face_model(ctx, "buffalo_l")  # cached


def test_missing_pack_offline_says_how_to_provide_one(ctx):
    with pytest.raises(ModelLoadError, match="FACE_PACK_DIR"):
        load_face_model(ctx, "antelopev2")
    with pytest.raises(ModelLoadError, match="unknown face pack"):
        load_face_model(ctx, "no_such_pack")
    with pytest.raises(ModelLoadError, match="not a face pack name"):
        load_face_model(ctx, "../buffalo_l")


@pytest.fixture()
def fake_hugging_face(tmp_path, graphs):
    """A local HTTP server laid out like huggingface.co/<repo>/resolve/<revision>/<path>."""
    root = tmp_path / "hf"
    make_pack(root / "immich-app" / "buffalo_s" / "resolve" / "main", scrfd_path(), graphs["arcface"], "immich")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *args: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_packs_download_from_hugging_face_layout_through_the_store(tmp_path, fake_hugging_face):
    settings = load_settings(
        {}, model_dir=str(tmp_path / "models"), hf_endpoint=fake_hugging_face, ort_intra_op_threads=1
    )
    ctx = ServiceContext.from_settings(settings)
    # A previous download stopped after the detector: the store fetches the rest.
    partial = tmp_path / "models" / "facial-recognition" / "buffalo_s" / "detection"
    partial.mkdir(parents=True)
    shutil.copyfile(scrfd_path(), partial / "model.onnx")
    model = load_face_model(ctx, "buffalo_s")
    assert (tmp_path / "models" / "facial-recognition" / "buffalo_s" / "recognition" / "model.onnx").is_file()
    assert len(model.analyse(load_rgb(T1), 0.5)) == 6
    spec = FACE_CATALOG.find("buffalo_s", "facial-recognition")
    assert {s.state for s in ctx.store.status(spec)} == {"ok"}


def test_faces_command_finds_and_compares(pack_root, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from plugin_service.cli import main
    from tests._paths import require_shared

    monkeypatch.setenv("PLUGIN_SERVICE_FACE_PACK_DIR", str(pack_root))
    monkeypatch.setenv("PLUGIN_SERVICE_MODEL_DIR", str(tmp_path))
    photo = str(require_shared() / T1)
    copy = tmp_path / "copy.jpg"
    shutil.copyfile(photo, copy)
    result = CliRunner().invoke(
        main, ["faces", "--model", "buffalo_s", "--min-score", "0.5", "--compare", photo, str(copy)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("6 face(s)") == 2 and "+1.000" in result.output
    missing = CliRunner().invoke(main, ["faces", "--model", "antelopev2", photo], env={"PLUGIN_SERVICE_OFFLINE": "1"})
    assert missing.exit_code != 0 and "FACE_PACK_DIR" in missing.output
