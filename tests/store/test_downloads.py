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
    """Serves PAYLOAD at any path; supports Range; counts requests; can cut a response short."""

    def __init__(self):
        self.requests: list[tuple[str, str | None]] = []
        self.cut_after: int | None = None
        self.ignore_range = False
        self.corrupt = False
        self.missing_paths: set[str] = set()
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
        if self.path in server.missing_paths:
            self.send_error(404)
            return
        data = bytes(b ^ 1 for b in PAYLOAD) if server.corrupt else PAYLOAD
        start = 0
        if self.headers.get("Range") and not server.ignore_range:
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
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
    return ModelSpec(name="tiny-model", task="ocr", files=(ModelFile(path="detection/model.onnx", sha256=sha, sources=sources),))


def store_for(tmp_path: Path, server: FileServer, **overrides) -> ModelStore:
    settings = load_settings({}, model_dir=str(tmp_path), hf_endpoint=server.url + "/hf", modelscope_endpoint=server.url + "/ms", download_timeout_s=10, **overrides)
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


def test_interrupted_download_resumes_with_range(tmp_path, server):
    target = tmp_path / "model.onnx"
    server.cut_after = 300_000
    with pytest.raises(DownloadError):
        download_verified(server.url + "/m.onnx", target, SHA, timeout_s=10)
    part = target.with_name("model.onnx.part")
    assert not target.exists(), "a partial download is never visible under the final name"
    assert 0 < part.stat().st_size <= 300_000
    download_verified(server.url + "/m.onnx", target, SHA, timeout_s=10)
    assert target.read_bytes() == PAYLOAD
    assert server.requests[-1][1] == f"bytes={part_size_hint(server)}-"
    assert not part.exists()


def part_size_hint(server: FileServer) -> int:
    return int(server.requests[-1][1].split("=")[1].rstrip("-"))


def test_server_ignoring_range_restarts_cleanly(tmp_path, server):
    target = tmp_path / "model.onnx"
    target.with_name("model.onnx.part").write_bytes(PAYLOAD[:1000])
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
    assert "site-packages" in str(store.ensure_file(spec, spec.files[0])) or "rapidocr" in str(store.ensure_file(spec, spec.files[0]))


def test_unpinned_file_is_recorded_on_first_use_and_checked_after(tmp_path, server):
    store = store_for(tmp_path, server)
    spec = spec_with(Source(kind="url", url=server.url + "/m.onnx"), sha="")
    target = store.ensure(spec) / "detection/model.onnx"
    record = target.with_name("model.onnx.sha256")
    assert record.read_text().strip() == SHA
    assert [s.state for s in store.status(spec)] == ["ok"]
    target.write_bytes(b"swapped on disk")
    assert [s.state for s in store.status(spec)] == ["corrupt"]
    store.ensure(spec)  # fetched again
    assert target.read_bytes() == PAYLOAD and len(server.requests) == 2


def test_file_without_any_source_says_how_to_get_it(tmp_path):
    store = ModelStore(load_settings({}, model_dir=str(tmp_path)))
    with pytest.raises(ModelUnavailableError, match="has no known download source"):
        store.ensure(spec_with(sha=""))
