"""Split a ``/predict`` request across backends, run the parts concurrently, merge the answers.

Installed as ``app.state.dispatcher``; ``plugin_service.immich.routes`` hands
it every parsed request.  Image bytes arrive undecoded: they are forwarded as
they are, and decoded only when a task runs locally.  When one upstream pool
answers the whole request, its body is returned byte for byte.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time

import msgspec

from plugin_service.context import ServiceContext
from plugin_service.errors import ServiceError
from plugin_service.gateway.config import LOCAL
from plugin_service.gateway.logs import hops, log_event, request_id
from plugin_service.gateway.metrics import Metrics
from plugin_service.gateway.pool import UpstreamError, UpstreamPool, UpstreamRequest
from plugin_service.gateway.routing import RoutingTable
from plugin_service.immich.predict import predict_local
from plugin_service.immich.protocol import Entries, ImagePayload, Payload, TextPayload
from plugin_service.imaging import decode_image
from plugin_service.serving import Executors

log = logging.getLogger(__name__)

IMAGE_SIZE_KEYS = ("imageHeight", "imageWidth")
MAX_HOPS = 4  # gateway -> gateway chains longer than this are a routing loop
FALLBACK_ON = frozenset({502, 503, 504})  # a pool that failed, not a request that was wrong


class Dispatcher:
    def __init__(self, table: RoutingTable, pools: dict[str, UpstreamPool], ctx: ServiceContext, executors: Executors, metrics: Metrics):
        self.table = table
        self.pools = pools
        self.ctx = ctx
        self.executors = executors
        self.metrics = metrics

    def wants_raw_image(self, entries: Entries) -> bool:
        # Always: upstream parts forward the bytes, local parts decode them here (lazily).
        return True

    async def dispatch(
        self,
        entries: Entries,
        *,
        raw_image: bytes | None = None,
        text: str | None = None,
        payload: Payload | None = None,
        raw_entries: str | bytes | None = None,
    ) -> bytes | dict:
        started = time.perf_counter()
        plan = self.table.assign(entries)
        if hops.get() >= MAX_HOPS and any(a.backend != LOCAL for a in plan.values()):
            raise UpstreamError(f"routing loop: this request already passed {hops.get()} gateways; check the upstream URLs", 508)
        groups: dict[str, list[str]] = {}
        for task, assignment in plan.items():
            groups.setdefault(assignment.backend, []).append(task)
        if isinstance(payload, TextPayload):
            text = payload.text
        inputs = _Inputs(raw_image, text, payload, self.ctx.settings.max_image_pixels, self.executors)
        renamed = any(a.renamed for a in plan.values())
        whole = raw_entries if (len(groups) == 1 and not renamed) else None
        raw_tasks = _raw_tasks(raw_entries) if whole is None else {}

        async def run(backend: str, tasks: list[str]) -> tuple[bytes | None, dict]:
            """(raw upstream body or None for local, decoded answer)."""
            sub_entries = {t: plan[t].types for t in tasks}
            group_started = time.perf_counter()
            try:
                if backend == LOCAL:
                    result = None, await predict_local(self.ctx, self.executors, sub_entries, await inputs.payload())
                else:
                    result = await self.pools[backend].predict(
                        UpstreamRequest(
                            entries=whole if whole is not None else _encode_entries(tasks, plan, raw_tasks),
                            tasks=tuple(tasks),
                            image=await inputs.image_bytes(),
                            text=inputs.text,
                            request_id=request_id.get(),
                            hops=hops.get(),
                        )
                    )
            except Exception as exc:
                for task in tasks:
                    self.metrics.task_requests.labels(task, backend, "error").inc()
                    self.metrics.task_errors.labels(task, backend, _reason(exc)).inc()
                raise
            elapsed = time.perf_counter() - group_started
            for task in tasks:
                self.metrics.task_requests.labels(task, backend, "ok").inc()
                self.metrics.task_latency.labels(task, backend).observe(elapsed)
            return result

        async def run_with_fallback(backend: str, tasks: list[str]) -> tuple[bytes | None, dict]:
            try:
                return await run(backend, tasks)
            except UpstreamError as exc:
                fallbacks = {plan[t].fallback for t in tasks}
                if exc.status_code not in FALLBACK_ON or len(fallbacks) != 1 or None in fallbacks:
                    raise
                fallback = fallbacks.pop()
                log_event(log, logging.WARNING, "fallback", tasks=",".join(tasks), backend=backend, to=fallback, status=exc.status_code)
                return await run(fallback, tasks)

        backends = list(groups)
        results = await asyncio.gather(*(run_with_fallback(b, groups[b]) for b in backends), return_exceptions=True)
        route_text = ",".join(f"{t}>{plan[t].backend}" for t in plan)
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        ms = round((time.perf_counter() - started) * 1000, 2)
        if failed is not None:
            status = failed.status_code if isinstance(failed, ServiceError) else 500
            log_event(log, logging.WARNING, "predict", routes=route_text, status=status, ms=ms, error=str(failed)[:300])
            raise failed
        log_event(log, logging.INFO, "predict", routes=route_text, status=200, ms=ms)
        if len(results) == 1 and results[0][0] is not None:
            return results[0][0]  # one upstream answered everything: its bytes, untouched
        return _merge(entries, [answer for _, answer in results], inputs)


class _Inputs:
    """The request's image or text, decoded or encoded at most once, only if some backend needs it."""

    def __init__(self, raw_image: bytes | None, text: str | None, payload: Payload | None, max_pixels: int, executors: Executors):
        self.raw_image = raw_image
        self.text = text
        self._payload = payload
        self._max_pixels = max_pixels
        self._executors = executors
        self._lock = asyncio.Lock()

    async def payload(self) -> Payload:
        async with self._lock:
            if self._payload is None:
                if self.raw_image is None:
                    self._payload = TextPayload(self.text or "")
                else:
                    image = await self._executors.run("image", decode_image, self.raw_image, self._max_pixels)
                    self._payload = ImagePayload(image)
            return self._payload

    async def image_bytes(self) -> bytes | None:
        if self.raw_image is None and isinstance(self._payload, ImagePayload):
            # Only when a caller handed over a decoded image: lossless, same pixels and size.
            buffer = io.BytesIO()
            self._payload.image.save(buffer, "PNG")
            self.raw_image = buffer.getvalue()
        return self.raw_image

    @property
    def image_size(self) -> tuple[int, int] | None:
        if isinstance(self._payload, ImagePayload):
            return self._payload.height, self._payload.width
        return None


def _raw_tasks(raw_entries: str | bytes | None) -> dict[str, msgspec.Raw]:
    if raw_entries is None:
        return {}
    return msgspec.json.decode(raw_entries, type=dict[str, msgspec.Raw])


def _encode_entries(tasks: list[str], plan: dict, raw_tasks: dict[str, msgspec.Raw]) -> bytes:
    """The ``entries`` for one backend: each task's JSON as the client wrote it unless an alias renamed it."""
    parts = []
    for task in tasks:
        if task in raw_tasks and not plan[task].renamed:
            value = bytes(raw_tasks[task])
        else:
            value = msgspec.json.encode(
                {t: ({"modelName": e.modelName, "options": e.options} if e.options else {"modelName": e.modelName}) for t, e in plan[task].types.items()}
            )
        parts.append(msgspec.json.encode(task) + b":" + value)
    return b"{" + b",".join(parts) + b"}"


def _merge(entries: Entries, answers: list[dict], inputs: _Inputs) -> dict:
    merged: dict[str, object] = {}
    for task in entries:
        merged[task] = next(answer[task] for answer in answers if task in answer)
    size = inputs.image_size
    if size is not None:
        merged["imageHeight"], merged["imageWidth"] = size
    elif inputs.raw_image is not None:
        for answer in answers:
            if all(key in answer for key in IMAGE_SIZE_KEYS):
                merged["imageHeight"], merged["imageWidth"] = answer["imageHeight"], answer["imageWidth"]
                break
    return merged


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ServiceError):
        return f"http_{exc.status_code}"
    return type(exc).__name__
