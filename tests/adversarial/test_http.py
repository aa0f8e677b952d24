"""The HTTP layer under abuse: request smuggling shapes, multipart floods, slow clients,
connection floods, and (gateway mode) client-chosen task names against /metrics."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time

import httpx
import pytest

from tests.adversarial.conftest import OCR, png


def raw_exchange(url: str, request: bytes, timeout: float = 10.0, half_close: bool = True) -> bytes:
    """Send raw bytes, return everything the server answers until it closes or goes quiet."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        if half_close:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


def statuses(answer: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


def multipart(parts: list[tuple[str, bytes]], boundary: str = "XyZ") -> tuple[bytes, str]:
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
        for name, value in parts
    )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


SMUGGLING = {  # fmt: skip
    "content-length and chunked": b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n",
    "two content-lengths": b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhello",
    "bad chunk size": b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nhello\r\n0\r\n\r\n",
    "obfuscated transfer-encoding": b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"
    b"0\r\n\r\n",
    "folded header": b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nX-A: a\r\n b\r\n\r\n",
    "space before colon": b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello",
    "negative length": b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "bare LF": b"POST /predict HTTP/1.1\nHost: x\nContent-Length: 0\n\n",
    "NUL in the target": b"GET /ping\x00/../predict HTTP/1.1\r\nHost: x\r\n\r\n",
    "huge header": b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
}


@pytest.mark.parametrize("name", list(SMUGGLING))
def test_request_smuggling_shapes_are_refused(alive, name):
    answer = raw_exchange(alive.url, SMUGGLING[name])
    codes = statuses(answer)
    assert all(code >= 400 for code in codes), (name, answer[:300])
    assert b"/admin" not in answer


def test_pipelined_requests_are_answered_in_order_and_no_more(alive):
    one = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = raw_exchange(alive.url, one * 3 + last, half_close=False)
    assert statuses(answer) == [200, 200, 200, 200]


def test_ten_thousand_form_fields(alive):
    body, content_type = multipart([("entries", OCR.encode())] + [(f"f{i}", b"x") for i in range(10_000)])
    response = alive.post(content=body, headers={"content-type": content_type})
    assert response.status_code in (200, 400, 413, 422), response.text[:300]


def test_thousands_of_image_parts(alive):
    parts = [("entries", OCR.encode())] + [("image", png(8, 8)) for _ in range(3_000)]
    body, content_type = multipart(parts)
    response = alive.post(content=body, headers={"content-type": content_type})
    assert response.status_code in (200, 400, 413, 422), response.text[:300]


def test_part_with_a_megabyte_of_headers(alive):
    body = (
        b'--B\r\nContent-Disposition: form-data; name="entries"\r\n'
        + b"".join(f"X-H{i}: {'v' * 100}\r\n".encode() for i in range(10_000))
        + b"\r\n"
        + OCR.encode()
        + b"\r\n--B--\r\n"
    )
    response = alive.post(content=body, headers={"content-type": "multipart/form-data; boundary=B"})
    assert response.status_code in (400, 413, 422), response.text[:300]


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("multipart/form-data", b"--x\r\n\r\n"),  # no boundary
        ("multipart/form-data; boundary=" + "b" * 5000, b"--" + b"b" * 5000 + b"--\r\n"),
        ("multipart/form-data; boundary=B", b"--B\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--B--\r\n"),
        ("multipart/form-data; boundary=B", b"--B\r\n" * 50_000),
        ("application/x-www-form-urlencoded", b"&" * 500_000 + b"entries=" + OCR.encode()),
        ("application/json", b'{"entries": 1}'),
    ],
)
def test_malformed_multipart_is_a_client_error(alive, content_type, body):
    response = alive.post(content=body, headers={"content-type": content_type})
    assert 400 <= response.status_code < 500, response.text[:300]


def test_body_over_the_limit_is_413_without_reading_it_all(alive):
    def endless():
        yield b'--B\r\nContent-Disposition: form-data; name="image"; filename="x"\r\n\r\n'
        for _ in range(100):  # 100 MiB, over the default 64 MiB limit
            yield b"\0" * (1 << 20)

    with contextlib.suppress(httpx.HTTPError):  # the server may close before the client finishes sending
        response = alive.post(content=endless(), headers={"content-type": "multipart/form-data; boundary=B"})
        assert response.status_code == 413


def test_slow_clients_are_cut_off_and_ping_keeps_answering(alive):
    """A hundred sockets trickling a header byte every half second (slowloris)."""
    host, port = alive.url.removeprefix("http://").split(":")
    sockets = [socket.create_connection((host, int(port)), timeout=5) for _ in range(100)]
    closed = [False] * len(sockets)
    started = time.monotonic()
    try:
        for sock in sockets:
            sock.sendall(b"GET /ping HTTP/1.1\r\n")
        while time.monotonic() - started < 8 and not all(closed):
            assert httpx.get(alive.url + "/ping", timeout=2).text == "pong"
            for i, sock in enumerate(sockets):
                if closed[i]:
                    continue
                try:
                    sock.sendall(b"X")
                    sock.settimeout(0.001)
                    if sock.recv(1024) == b"":
                        closed[i] = True
                except (BlockingIOError, TimeoutError):
                    pass
                except OSError:
                    closed[i] = True
            time.sleep(0.5)
    finally:
        for sock in sockets:
            sock.close()
    assert all(closed), f"{closed.count(False)} slow connections still open after 8 s (header deadline: 2 s)"


def test_connection_flood_gets_answers_not_a_hang(service, adversarial_root):
    """More connections than PLUGIN_SERVICE_MAX_CONNECTIONS: the rest get 503, the service recovers."""
    from tests.adversarial.conftest import start_service, stop_service

    small = start_service(adversarial_root, PLUGIN_SERVICE_MAX_CONNECTIONS="20")
    try:
        host, port = small.url.removeprefix("http://").split(":")
        held = [socket.create_connection((host, int(port)), timeout=5) for _ in range(60)]
        for sock in held:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")  # body never comes
        codes: list[int] = []

        def ping():
            with contextlib.suppress(httpx.HTTPError):
                codes.append(httpx.get(small.url + "/ping", timeout=10).status_code)

        threads = [threading.Thread(target=ping) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert codes and set(codes) <= {200, 503}, codes
        for sock in held:
            sock.close()
        time.sleep(0.5)
        small.assert_alive()
    finally:
        stop_service(small)


def test_gateway_metrics_stay_bounded_whatever_the_task_names(service):
    """Gateway mode, upstream = the service: unique 10 KB task names must not each become a label."""
    from plugin_service.app import create_app
    from plugin_service.config import load_settings
    from tests.gateway.servers import serve_in_thread

    app = create_app(load_settings({}, offline=True, upstreams=service.url, health_interval_s=0))
    with serve_in_thread(app) as url:
        sizes = []
        for round_ in range(3):
            for i in range(100):
                task = f"t{round_}-{i}-" + "x" * 10_000
                entries = json.dumps({task: {"detection": {"modelName": "x"}}})
                response = httpx.post(
                    url + "/predict", data={"entries": entries}, files={"image": ("b", png(8, 8))}, timeout=30
                )
                assert response.status_code in (400, 422, 500, 502, 503), response.text[:200]
                assert len(response.content) < 32_000
            metrics = httpx.get(url + "/metrics", timeout=30)
            assert metrics.status_code == 200
            sizes.append(len(metrics.content))
        assert sizes[-1] < 200_000, sizes
        assert sizes[-1] <= sizes[0] * 1.2 + 2_000, f"/metrics grows with the task names: {sizes}"
        assert httpx.get(url + "/ping", timeout=5).text == "pong"
    service.assert_alive()


def test_gateway_never_connects_where_a_client_points(service):
    """SSRF shapes: URLs as model names, absolute-form targets, Host and forwarding headers."""
    from plugin_service.app import create_app
    from plugin_service.config import load_settings
    from tests.gateway.servers import serve_in_thread

    trap = socket.socket()
    trap.bind(("127.0.0.1", 0))
    trap.listen(16)
    trap.settimeout(0.2)
    evil = f"http://127.0.0.1:{trap.getsockname()[1]}"
    app = create_app(load_settings({}, offline=True, upstreams=service.url, health_interval_s=0))
    try:
        with serve_in_thread(app) as url:
            for name in (evil, evil + "/model.onnx", "//127.0.0.1:1/x", f"{evil}#@{service.url}"):
                entries = json.dumps({"clip": {"textual": {"modelName": name}}})
                response = httpx.post(url + "/predict", data={"entries": entries, "text": "x"}, timeout=30)
                assert response.status_code in (422, 500), response.text[:200]
                assert evil not in response.text.replace(name, "")
            headers = {"Host": evil.removeprefix("http://"), "X-Forwarded-Host": evil, "X-Forwarded-For": "127.0.0.1"}
            httpx.post(url + "/predict", data={"entries": OCR}, files={"image": ("b", png(8, 8))}, headers=headers)
            raw_exchange(url, f"GET {evil}/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            with pytest.raises(TimeoutError):
                trap.accept()  # nobody ever connected to the trap
            assert httpx.get(url + "/ping", timeout=5).text == "pong"
    finally:
        trap.close()
    service.assert_alive()
