"""A pool of upstream Immich ML servers behind one name.

Each request goes to the usable upstream with the fewest outstanding requests
(ties rotate), and on a connection error, timeout, 5xx or a body that is not
an Immich answer, to the next one: ``/predict`` is a pure function of its
input, so retrying it elsewhere is always safe, even after the body was sent.
Client errors (400/413/422) are the request's fault and are passed back as
they are.  ``/ping`` runs on every upstream in the background, as Immich's own
availability checks do.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
import uuid
from dataclasses import dataclass, field

import httpx
import msgspec

from plugin_service.errors import ServiceError
from plugin_service.gateway.breaker import CircuitBreaker
from plugin_service.gateway.config import PoolConfig
from plugin_service.gateway.logs import log_event
from plugin_service.gateway.metrics import Metrics

log = logging.getLogger(__name__)

# Upstream answers that are the request's fault, and a routing loop (508) found further down
# a chain of gateways: pass them back, do not fail over.
CLIENT_ERRORS = frozenset({400, 413, 422, 508})
PING_TIMEOUT_S = 2.0  # Immich's availabilityChecks.timeout
_USERINFO = re.compile(r"://[^/@]*@")
JOIN_BELOW = 256 * 1024  # copying this much costs less than the extra system calls of sending it apart


class UpstreamError(ServiceError):
    """No upstream of a pool could answer: 502 (bad answers), 503 (none reachable) or 504 (timeouts)."""

    def __init__(self, message: str, status_code: int):
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class UpstreamRequest:
    entries: str | bytes  # the JSON ``entries`` field, sent as is
    tasks: tuple[str, ...]  # keys the answer must have
    image: bytes | None = None
    text: str | None = None
    request_id: str = ""
    hops: int = 0  # gateways this request passed before this one


@dataclass
class Upstream:
    url: str  # base URL ending in "/"; may carry user:password (httpx sends it as Basic auth)
    breaker: CircuitBreaker
    healthy: bool | None = None  # None until the first /ping
    in_flight: int = 0

    @property
    def label(self) -> str:
        return url_label(self.url)

    @property
    def usable_first(self) -> bool:
        return self.healthy is not False


def url_label(url: str) -> str:
    """The URL without credentials: what logs, metrics and the CLI show."""
    return _USERINFO.sub("://", url)


@dataclass
class _Failure:
    url: str
    reason: str  # connect | timeout | status | garbage
    detail: str


@dataclass
class UpstreamPool:
    config: PoolConfig
    metrics: Metrics
    timeout_s: float
    client: httpx.AsyncClient | None = None  # set when the app starts (the client belongs to its event loop)
    upstreams: list[Upstream] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.name = self.config.name
        self.upstreams = [
            Upstream(_base(url), CircuitBreaker(self.config.failure_threshold, self.config.reset_after_s))
            for url in self.config.urls
        ]
        self._rotation = itertools.count()
        self._timeout = httpx.Timeout(self.timeout_s, connect=min(5.0, self.timeout_s))
        for up in self.upstreams:
            self._publish(up)

    async def predict(self, request: UpstreamRequest) -> tuple[bytes, dict]:
        """The raw and the decoded JSON answer of the first upstream that answers well."""
        failures: list[_Failure] = []
        for up in self._candidates():
            if not up.breaker.allows_request():
                continue  # another request claimed the half-open trial meanwhile
            outcome = await self._attempt(up, request)
            if isinstance(outcome, _Failure):
                failures.append(outcome)
                up.breaker.record_failure()
                self._publish(up)
                log_event(
                    log,
                    logging.WARNING,
                    "upstream_failed",
                    pool=self.name,
                    url=up.label,
                    reason=outcome.reason,
                    detail=outcome.detail,
                )
                continue
            up.breaker.record_success()
            self._publish(up)
            return outcome
        raise _give_up(self.name, failures)

    def _candidates(self) -> list[Upstream]:
        """Least outstanding requests first; upstreams failing /ping after the rest; open circuits skipped."""
        start = next(self._rotation) % len(self.upstreams)
        rotated = self.upstreams[start:] + self.upstreams[:start]
        ready = [u for u in rotated if not u.breaker.is_open or u.breaker.trial_due()]
        return sorted(ready, key=lambda u: (not u.usable_first, u.in_flight))

    async def _attempt(self, up: Upstream, request: UpstreamRequest) -> tuple[bytes, dict] | _Failure:
        chunks, content_type = encode_form(request)
        headers = {"content-type": content_type, "content-length": str(sum(map(len, chunks)))}
        content = chunks[0] if len(chunks) == 1 else _stream(chunks)
        if request.request_id:
            headers["x-request-id"] = request.request_id
        headers["x-plugin-service-hops"] = str(request.hops + 1)
        labels = (self.name, up.label)
        up.in_flight += 1
        self.metrics.upstream_in_flight.labels(*labels).inc()
        started = time.perf_counter()
        try:
            response = await self._client().post(
                up.url + "predict", content=content, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            return self._count(
                labels, _Failure(up.label, "timeout", f"no answer within {self.timeout_s:g}s ({type(exc).__name__})")
            )
        except httpx.TransportError as exc:
            return self._count(labels, _Failure(up.label, "connect", f"{type(exc).__name__}: {exc}"))
        finally:
            up.in_flight -= 1
            self.metrics.upstream_in_flight.labels(*labels).dec()
            self.metrics.upstream_latency.labels(*labels).observe(time.perf_counter() - started)
        body = response.content
        if response.status_code in CLIENT_ERRORS:
            self._count(labels, "client_error")
            raise UpstreamError(_detail(body) or f"upstream answered {response.status_code}", response.status_code)
        if not response.is_success:
            return self._count(
                labels, _Failure(up.label, "status", f"HTTP {response.status_code}: {_detail(body)[:200]}")
            )
        try:
            answer = msgspec.json.decode(body)
        except msgspec.DecodeError:
            answer = None
        problem = answer_problem(answer, request.tasks, image=request.image is not None)
        if problem:
            return self._count(
                labels,
                _Failure(up.label, "garbage", f"answer is not an Immich /predict response ({problem}): {body[:80]!r}"),
            )
        self._count(labels, "ok")
        return body, answer

    def _count(self, labels, outcome):
        self.metrics.upstream_attempts.labels(*labels, outcome if isinstance(outcome, str) else outcome.reason).inc()
        return outcome

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            raise RuntimeError("the gateway's HTTP client starts with the app; no request can come before")
        return self.client

    async def check_health(self) -> None:
        await asyncio.gather(*(self._ping(up) for up in self.upstreams))

    async def _ping(self, up: Upstream) -> None:
        try:
            response = await self._client().get(up.url + "ping", timeout=PING_TIMEOUT_S)
            healthy = response.is_success
        except httpx.HTTPError:
            healthy = False
        if healthy != up.healthy:
            log_event(
                log,
                logging.INFO if healthy else logging.WARNING,
                "upstream_health",
                pool=self.name,
                url=up.label,
                healthy=healthy,
            )
        up.healthy = healthy
        if healthy and up.breaker.is_open:
            up.breaker.record_success()  # it answers again: stop skipping it
        self._publish(up)

    async def run_health_checks(self, interval_s: float) -> None:
        while True:
            try:
                await self.check_health()
            except Exception:  # noqa: BLE001 - a bug here must not stop the checks for good
                log.exception("health check of pool %s failed", self.name)
            await asyncio.sleep(interval_s)

    def _publish(self, up: Upstream) -> None:
        labels = (self.name, up.label)
        self.metrics.upstream_healthy.labels(*labels).set(1 if up.healthy is not False else 0)
        self.metrics.upstream_circuit_open.labels(*labels).set(1 if up.breaker.is_open else 0)


def answer_problem(answer: object, tasks: tuple[str, ...], *, image: bool) -> str | None:
    """Why ``answer`` is not what Immich expects for ``tasks`` (None when it is).

    Shapes are checked for the tasks Immich knows (immich-ml-protocol.md §1.4), so an upstream of
    another version or a web page answering 200 is failed over instead of stored by Immich.
    """
    if not isinstance(answer, dict):
        return "not a JSON object"
    for task in tasks:
        if task not in answer:
            return f"no {task!r} key"
        expected = _TASK_SHAPES.get(task)
        if expected is not None and not isinstance(answer[task], expected):
            return f"{task!r} is {type(answer[task]).__name__}, not {expected.__name__}"
    if image and not all(isinstance(answer.get(key), int) for key in ("imageHeight", "imageWidth")):
        return "no integer imageHeight/imageWidth"
    return None


_TASK_SHAPES = {"clip": str, "facial-recognition": list, "ocr": dict}


def encode_form(request: UpstreamRequest) -> tuple[list[bytes], str]:
    """The multipart body Immich sends, as few chunks as possible.

    Written out because httpx sends a form without a file as urlencoded, and Immich ML
    (FastAPI ``Form``) and our own server both expect multipart for text queries too.
    Each chunk costs a ``send`` system call (about 50 µs on loopback), so a small body is
    joined into one; a large image is sent from the request's buffer, never copied.
    """
    boundary = uuid.uuid4().hex
    entries = request.entries.encode() if isinstance(request.entries, str) else request.entries
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="entries"\r\n\r\n'.encode() + entries
    tail = f"\r\n--{boundary}--\r\n".encode()
    if request.image is None:
        text = (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\n'.encode()
            + (request.text or "").encode()
        )
        return [head + text + tail], f"multipart/form-data; boundary={boundary}"
    head += (
        f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="blob"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    if len(request.image) <= JOIN_BELOW:
        return [b"".join((head, request.image, tail))], f"multipart/form-data; boundary={boundary}"
    return [head, request.image, tail], f"multipart/form-data; boundary={boundary}"


async def _stream(chunks: list[bytes]):
    # An async iterable: httpx sends it as is, with our content-length (no chunked encoding, no copy).
    for chunk in chunks:
        yield chunk


def _give_up(pool: str, failures: list[_Failure]) -> UpstreamError:
    if not failures:
        return UpstreamError(
            f"upstream pool {pool!r}: every upstream is failing (circuit open); try again shortly", 503
        )
    reasons = {f.reason for f in failures}
    # Each attempt's URL is in the log (upstream_failed); a client learns what failed, not where.
    summary = "; ".join(f"attempt {i}: {f.reason} ({f.detail})" for i, f in enumerate(failures, 1))
    if reasons & {"status", "garbage"}:
        return UpstreamError(f"upstream pool {pool!r} answered badly: {summary}", 502)
    if "timeout" in reasons:
        return UpstreamError(f"upstream pool {pool!r} timed out: {summary}", 504)
    return UpstreamError(f"upstream pool {pool!r} is unreachable: {summary}", 503)


def _detail(body: bytes) -> str:
    try:
        answer = msgspec.json.decode(body)
        if isinstance(answer, dict) and isinstance(answer.get("detail"), str):
            return answer["detail"]
    except msgspec.DecodeError:
        pass
    return body[:200].decode("utf-8", "replace")


def _base(url: str) -> str:
    # Unlike Immich (new URL('predict', url) drops a last path segment without "/"),
    # a configured sub-path is always kept.
    return url if url.endswith("/") else url + "/"
