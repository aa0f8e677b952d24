"""The model store against a real local HTTP server: mirrors, resume, checksums, offline."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from plugin_service.config import load_settings
from plugin_service.store.catalog import ModelFile, ModelSpec, Source
from plugin_service.store.download import DownloadError, download_verified
from plugin_service.store.store import ModelStore, ModelUnavailableError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class FileServer(http.server.ThreadingHTTPServer):
    """Serves PAYLOAD at any path; supports Range and If-Range; counts requests; can cut a response
    short, ignore ranges, change the file, or answer ranges the wrong way."""

    def __init__(self):
        self.requests: list[tuple[str, str | None]] = []
        self.if_ranges: list[str | None] = []
        self.cut_after: int | None = None
        self.ignore_range = False
        self.ignore_if_range = False  # a broken server: answers the range even when the file changed
        self.corrupt = False
        self.missing_paths: set[str] = set()
        self.etag: str | None = '"v1"'
        self.last_modified: str | None = None
        self.range_from_zero = False  # answers 206 from byte 0 whatever was asked
        self.wrong_total = False
        self.payload = PAYLOAD
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server: FileServer = self.server  # type: ignore[assignment]
        server.requests.append((self.path, self.headers.get("Range")))
        server.if_ranges.append(self.headers.get("If-Range"))
        if self.path in server.missing_paths:
            self.send_error(404)
            return
        data = bytes(b ^ 1 for b in server.payload) if server.corrupt else server.payload
        start = 0
        if_range = self.headers.get("If-Range")
        validator_ok = if_range is None or server.ignore_if_range or if_range in (server.etag, server.last_modified)
        if self.headers.get("Range") and not server.ignore_range and validator_ok:
            start = 0 if server.range_from_zero else int(self.headers["Range"].split("=")[1].split("-")[0])
            total = len(data) + (1 if server.wrong_total else 0)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
        else:
            self.send_response(200)
        if server.etag:
            self.send_header("ETag", server.etag)
        if server.last_modified:
            self.send_header("Last-Modified", server.last_modified)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cut_after is not None:
            self.wfile.write(body[: server.cut_after])
            self.wfile.flush()
            self.connection.close()
            server.cut_after = None
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = FileServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def spec_with(*sources: Source, sha=SHA) -> ModelSpec:
    return ModelSpec(
        name="tiny-model", task="ocr", files=(ModelFile(path="detection/model.onnx", sha256=sha, sources=sources),)
    )


def store_for(tmp_path: Path, server: FileServer, **overrides) -> ModelStore:
    settings = load_settings(
        {},
        model_dir=str(tmp_path),
        hf_endpoint=server.url + "/hf",
        modelscope_endpoint=server.url + "/ms",
        download_timeout_s=10,
        **overrides,
    )
    return ModelStore(settings)


def test_hugging_face_source_honours_the_mirror_endpoint(tmp_path, server):
    store = store_for(tmp_path, server)
    spec = spec_with(Source(kind="huggingface", repo="immich-app/tiny", path="detection/model.onnx", revision="main"))
    directory = store.ensure(spec)
    target = directory / "detection/model.onnx"
    assert target.read_bytes() == PAYLOAD
    assert server.requests == [("/hf/immich-app/tiny/resolve/main/detection/model.onnx", None)]
    assert [s.state for s in store.status(spec)] == ["ok"]


def test_modelscope_source_url(tmp_path, server):
    store = store_for(tmp_path, server)
    spec = spec_with(Source(kind="modelscope", repo="RapidAI/RapidOCR", path="onnx/det.onnx", revision="v3.10.0"))
    store.ensure(spec)
    assert server.requests[0][0] == "/ms/models/RapidAI/RapidOCR/resolve/v3.10.0/onnx/det.onnx"


def test_second_ensure_does_not_download_again(tmp_path, server):
    store = store_for(tmp_path, server)
    spec = spec_with(Source(kind="url", url=server.url + "/a.onnx"))
    store.ensure(spec)
    store.ensure(spec)
    assert len(server.requests) == 1


def _interrupted(server: FileServer, tmp_path: Path, sha=SHA) -> tuple[Path, Path]:
    target = tmp_path / "model.onnx"
    server.cut_after = 300_000
    with pytest.raises(DownloadError):
        download_verified(server.url + "/m.onnx", target, sha, timeout_s=10)
    part = target.with_name("model.onnx.part")
    assert not target.exists(), "a partial download is never visible under the final name"
    assert 0 < part.stat().st_size <= 300_000
    return target, part


def test_interrupted_download_resumes_with_range_and_if_range(tmp_path, server):
    target, part = _interrupted(server, tmp_path)
    size = part.stat().st_size
    download_verified(server.url + "/m.onnx", target, SHA, timeout_s=10)
    assert target.read_bytes() == PAYLOAD
    assert server.requests[-1][1] == f"bytes={size}-" and server.if_ranges[-1] == '"v1"'
    assert not part.exists() and not target.with_name("model.onnx.part.json").exists()


def test_resume_uses_last_modified_when_there_is_no_strong_etag(tmp_path, server):
    server.etag = 'W/"weak"'  # a weak ETag cannot validate a range (RFC 9110)
    server.last_modified = "Mon, 30 Nov 2026 12:00:00 GMT"
    target, part = _interrupted(server, tmp_path)
    download_verified(server.url + "/m.onnx", target, SHA, timeout_s=10)
    assert target.read_bytes() == PAYLOAD and server.if_ranges[-1] == "Mon, 30 Nov 2026 12:00:00 GMT"


def test_no_validator_means_no_resume(tmp_path, server):
    server.etag = None
    target, part = _interrupted(server, tmp_path, sha="")
    download_verified(server.url + "/m.onnx", target, "", timeout_s=10)
    assert target.read_bytes() == PAYLOAD
    assert server.requests[-1][1] is None, "restarted from byte zero"


def test_part_without_its_record_is_not_resumed(tmp_path, server):
    target = tmp_path / "model.onnx"
    target.with_name("model.onnx.part").write_bytes(b"left by someone else")
    download_verified(server.url + "/m.onnx", target, "", timeout_s=10)
    assert target.read_bytes() == PAYLOAD and server.requests[-1][1] is None


def test_changed_upstream_restarts_from_zero(tmp_path, server):
    """The file changed between the two attempts: If-Range makes the server send all of the new one."""
    target, _ = _interrupted(server, tmp_path, sha="")
    server.etag, server.corrupt = '"v2"', True
    download_verified(server.url + "/m.onnx", target, "", timeout_s=10)
    assert target.read_bytes() == bytes(b ^ 1 for b in PAYLOAD), "nothing of the old file is kept"


def test_server_ignoring_if_range_with_another_etag_is_not_appended(tmp_path, server):
    target, _ = _interrupted(server, tmp_path, sha="")
    server.etag, server.corrupt, server.ignore_if_range = '"v2"', True, True
    download_verified(server.url + "/m.onnx", target, "", timeout_s=10)
    assert target.read_bytes() == bytes(b ^ 1 for b in PAYLOAD)
    assert server.requests[-1][1] is None, "the 206 of another version was dropped, then a full GET"


def test_206_from_byte_zero_is_not_appended(tmp_path, server):
    target, _ = _interrupted(server, tmp_path, sha="")
    server.range_from_zero = True
    download_verified(server.url + "/m.onnx", target, "", timeout_s=10)
    assert target.read_bytes() == PAYLOAD


def test_206_with_another_total_is_not_appended(tmp_path, server):
    target, _ = _interrupted(server, tmp_path, sha="")
    server.wrong_total = True
    download_verified(server.url + "/m.onnx", target, "", timeout_s=10)
    assert target.read_bytes() == PAYLOAD


def test_no_lock_file_is_left_behind(tmp_path, server):
    target = tmp_path / "model.onnx"
    server.missing_paths.add("/gone.onnx")
    with pytest.raises(DownloadError):
        download_verified(server.url + "/gone.onnx", target, SHA, timeout_s=10)
    server.corrupt = True
    with pytest.raises(DownloadError):
        download_verified(server.url + "/m.onnx", target, SHA, timeout_s=10)
    server.corrupt = False
    download_verified(server.url + "/m.onnx", target, SHA, timeout_s=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_server_ignoring_range_restarts_cleanly(tmp_path, server):
    target, _ = _interrupted(server, tmp_path)
    server.ignore_range = True
    download_verified(server.url + "/m.onnx", target, SHA, timeout_s=10)
    assert target.read_bytes() == PAYLOAD


def test_checksum_mismatch_is_refused_and_not_kept(tmp_path, server):
    server.corrupt = True
    target = tmp_path / "model.onnx"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_verified(server.url + "/m.onnx", target, SHA, timeout_s=10)
    assert not target.exists() and not target.with_name("model.onnx.part").exists()


def test_falls_back_to_the_next_source(tmp_path, server):
    server.missing_paths.add("/hf/org/repo/resolve/main/detection/model.onnx")
    store = store_for(tmp_path, server)
    spec = spec_with(
        Source(kind="huggingface", repo="org/repo", path="detection/model.onnx", revision="main"),
        Source(kind="url", url=server.url + "/mirror/model.onnx"),
    )
    store.ensure(spec)
    assert [p for p, _ in server.requests] == ["/hf/org/repo/resolve/main/detection/model.onnx", "/mirror/model.onnx"]


def test_every_source_failing_names_the_file_and_the_errors(tmp_path, server):
    server.missing_paths.add("/x.onnx")
    store = store_for(tmp_path, server)
    with pytest.raises(ModelUnavailableError, match=r"detection/model.onnx of model 'tiny-model'.*HTTP 404"):
        store.ensure(spec_with(Source(kind="url", url=server.url + "/x.onnx")))


def test_offline_mode_fails_fast_without_network(tmp_path, server):
    store = store_for(tmp_path, server, offline=True)
    with pytest.raises(ModelUnavailableError, match="offline mode is on") as error:
        store.ensure(spec_with(Source(kind="url", url=server.url + "/m.onnx")))
    assert "detection/model.onnx" in str(error.value) and "plugin-service models fetch tiny-model" in str(error.value)
    assert server.requests == []


def test_corrupted_cached_file_is_fetched_again(tmp_path, server):
    store = store_for(tmp_path, server)
    spec = spec_with(Source(kind="url", url=server.url + "/m.onnx"))
    target = store.ensure(spec) / "detection/model.onnx"
    target.write_bytes(b"bit rot")
    assert [s.state for s in store.status(spec)] == ["corrupt"]
    store.ensure(spec)
    assert target.read_bytes() == PAYLOAD


def test_concurrent_fetches_download_once(tmp_path, server):
    store = store_for(tmp_path, server)
    spec = spec_with(Source(kind="url", url=server.url + "/m.onnx"))
    threads = [threading.Thread(target=store.ensure, args=(spec,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(server.requests) == 1


def test_packaged_files_are_used_in_place(tmp_path):
    from plugin_service.engines.ocr.catalog import OCR_CATALOG

    store = ModelStore(load_settings({}, model_dir=str(tmp_path), offline=True))
    spec = OCR_CATALOG.find("PP-OCRv6_small", "ocr")
    assert all(s.state == "ok" for s in store.status(spec))
    assert "site-packages" in str(store.ensure_file(spec, spec.files[0])) or "rapidocr" in str(
        store.ensure_file(spec, spec.files[0])
    )


def test_unpinned_file_is_trusted_only_once_it_loaded(tmp_path, server):
    store = store_for(tmp_path, server)
    spec = spec_with(Source(kind="url", url=server.url + "/m.onnx"), sha="")
    target = store.ensure(spec) / "detection/model.onnx"
    record, pending = target.with_name("model.onnx.sha256"), target.with_name("model.onnx.sha256.pending")
    assert not record.exists() and pending.read_text().split() == [SHA, "downloaded"]
    store.confirm(target)  # the loader opened it
    assert record.read_text().strip() == SHA and not pending.exists()
    assert [s.state for s in store.status(spec)] == ["ok"]
    target.write_bytes(b"swapped on disk")
    assert [s.state for s in store.status(spec)] == ["corrupt"]
    store.ensure(spec)  # fetched again
    assert target.read_bytes() == PAYLOAD and len(server.requests) == 2
    store.confirm(target)
    store.reject(target)  # a trusted file that fails to load is not deleted (the runtime may be at fault)
    assert target.exists()


def test_download_that_fails_to_load_is_fetched_again(tmp_path, server):
    store = store_for(tmp_path, server)
    spec = spec_with(Source(kind="url", url=server.url + "/m.onnx"), sha="")
    server.corrupt = True  # what arrives is complete but wrong
    target = store.ensure(spec) / "detection/model.onnx"
    store.reject(target)
    assert not target.exists() and not target.with_name("model.onnx.sha256.pending").exists()
    server.corrupt = False
    store.ensure(spec)
    store.confirm(target)
    assert target.read_bytes() == PAYLOAD and target.with_name("model.onnx.sha256").read_text().strip() == SHA


def test_file_placed_by_hand_is_never_deleted(tmp_path, server):
    store = store_for(tmp_path, server)
    spec = spec_with(Source(kind="url", url=server.url + "/m.onnx"), sha="")
    target = tmp_path / "ocr/tiny-model/detection/model.onnx"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"an export of mine")
    assert store.ensure(spec) / "detection/model.onnx" == target and server.requests == []
    store.reject(target)
    assert target.read_bytes() == b"an export of mine"
    store.confirm(target)
    assert target.with_name("model.onnx.sha256").exists()


def test_corrupt_pending_file_is_fetched_again(tmp_path, server):
    store = store_for(tmp_path, server)
    spec = spec_with(Source(kind="url", url=server.url + "/m.onnx"), sha="")
    target = store.ensure(spec) / "detection/model.onnx"
    target.write_bytes(b"bit rot before first load")
    assert [s.state for s in store.status(spec)] == ["corrupt"]
    store.ensure(spec)
    assert target.read_bytes() == PAYLOAD and len(server.requests) == 2


def test_file_without_any_source_says_how_to_get_it(tmp_path):
    store = ModelStore(load_settings({}, model_dir=str(tmp_path)))
    with pytest.raises(ModelUnavailableError, match="has no known download source"):
        store.ensure(spec_with(sha=""))


def _tiny_onnx() -> bytes:
    pytest.importorskip("onnx", reason="the onnx package builds the test graph")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_loading_confirms_or_rejects_a_first_use_file(tmp_path, server):
    """Through ServiceContext.onnx_session, as every engine opens its graphs."""
    from plugin_service.context import ServiceContext
    from plugin_service.errors import ModelLoadError

    settings = load_settings({}, model_dir=str(tmp_path), hf_endpoint=server.url, download_timeout_s=10)
    ctx = ServiceContext.from_settings(settings)
    spec = spec_with(Source(kind="url", url=server.url + "/m.onnx"), sha="")
    target = ctx.store.ensure(spec) / "detection/model.onnx"  # PAYLOAD is no ONNX graph
    with pytest.raises(ModelLoadError):
        ctx.onnx_session(target)
    assert not target.exists(), "a download that does not load is removed, to be fetched again"
    server.payload = _tiny_onnx()
    ctx.store.ensure(spec)
    ctx.onnx_session(target)
    assert target.with_name("model.onnx.sha256").read_text().strip() == hashlib.sha256(server.payload).hexdigest()
    assert not target.with_name("model.onnx.sha256.pending").exists()
