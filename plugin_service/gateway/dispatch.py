"""Split a ``/predict`` request across backends, run the parts concurrently, merge the answers.

The ``Dispatcher`` is the gateway's ``Predictor``: the app injects it into the
Immich route instead of a ``LocalPredictor`` when upstream pools are
configured.  Image bytes arrive undecoded and are forwarded as they are; the
local part goes to the ``LocalPredictor`` it was given, which decodes them.
When one upstream pool answers the whole request, its body is returned byte
for byte.
"""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec

from plugin_service.errors import ServiceError
from plugin_service.gateway.config import LOCAL
from plugin_service.gateway.logs import hops, log_event, request_id
from plugin_service.gateway.metrics import Metrics
from plugin_service.gateway.pool import UpstreamError, UpstreamPool, UpstreamRequest
from plugin_service.gateway.routing import Assignment, RoutingTable
from plugin_service.immich.predictor import Predictor, PredictRequest
from plugin_service.immich.protocol import TASK_TYPES

log = logging.getLogger(__name__)

IMAGE_SIZE_KEYS = ("imageHeight", "imageWidth")
MAX_HOPS = 4  # gateway -> gateway chains longer than this are a routing loop
FALLBACK_ON = frozenset({502, 503, 504})  # a pool that failed, not a request that was wrong
OTHER_TASK = "other"  # the metrics label of every task Immich v3.1.0 does not send: clients choose task names


class Dispatcher:
    def __init__(self, table: RoutingTable, pools: dict[str, UpstreamPool], local: Predictor, metrics: Metrics):
        self.table = table
        self.pools = pools
        self.local = local
        self.metrics = metrics

    async def predict(self, request: PredictRequest) -> bytes | dict[str, object]:
        started = time.perf_counter()
        plan = self.table.assign(request.entries)
        if hops.get() >= MAX_HOPS and any(a.backend != LOCAL for a in plan.values()):
            raise UpstreamError(
                f"routing loop: this request already passed {hops.get()} gateways; check the upstream URLs", 508
            )
        groups: dict[str, list[str]] = {}
        for task, assignment in plan.items():
            groups.setdefault(assignment.backend, []).append(task)
        renamed = any(a.renamed for a in plan.values())
        whole = request.raw_entries if (len(groups) == 1 and not renamed) else None
        raw_tasks = {} if whole is not None else _raw_tasks(request.raw_entries)

        async def run(backend: str, tasks: list[str]) -> tuple[bytes | None, dict]:
            """(raw upstream body or None for local, decoded answer)."""
            sub_entries = {t: plan[t].types for t in tasks}
            group_started = time.perf_counter()
            try:
                if backend == LOCAL:
                    local_request = PredictRequest(sub_entries, b"", image=request.image, text=request.text)
                    answer = await self.local.predict(local_request)
                    result: tuple[bytes | None, dict] = (
                        None,
                        answer if isinstance(answer, dict) else msgspec.json.decode(answer),
                    )
                else:
                    result = await self.pools[backend].predict(
                        UpstreamRequest(
                            entries=whole if whole is not None else _encode_entries(tasks, plan, raw_tasks),
                            tasks=tuple(tasks),
                            image=request.image,
                            text=request.text,
                            request_id=request_id.get(),
                            hops=hops.get(),
                        )
                    )
            except Exception as exc:
                for task in tasks:
                    self.metrics.task_requests.labels(_task_label(task), backend, "error").inc()
                    self.metrics.task_errors.labels(_task_label(task), backend, _reason(exc)).inc()
                raise
            elapsed = time.perf_counter() - group_started
            for task in tasks:
                self.metrics.task_requests.labels(_task_label(task), backend, "ok").inc()
                self.metrics.task_latency.labels(_task_label(task), backend).observe(elapsed)
            return result

        async def run_with_fallback(backend: str, tasks: list[str]) -> tuple[bytes | None, dict]:
            try:
                return await run(backend, tasks)
            except UpstreamError as exc:
                fallbacks = {plan[t].fallback for t in tasks}
                if exc.status_code not in FALLBACK_ON or len(fallbacks) != 1 or None in fallbacks:
                    raise
                fallback = fallbacks.pop()
                assert fallback is not None
                log_event(
                    log,
                    logging.WARNING,
                    "fallback",
                    tasks=",".join(tasks),
                    backend=backend,
                    to=fallback,
                    status=exc.status_code,
                )
                return await run(fallback, tasks)

        backends = list(groups)
        results = await asyncio.gather(*(run_with_fallback(b, groups[b]) for b in backends), return_exceptions=True)
        route_text = ",".join(f"{_task_label(t)}>{plan[t].backend}" for t in plan)
        ms = round((time.perf_counter() - started) * 1000, 2)
        answers: list[tuple[bytes | None, dict]] = []
        for result in results:
            if isinstance(result, BaseException):
                status = result.status_code if isinstance(result, ServiceError) else 500
                log_event(
                    log, logging.WARNING, "predict", routes=route_text, status=status, ms=ms, error=str(result)[:300]
                )
                raise result
            answers.append(result)
        log_event(log, logging.INFO, "predict", routes=route_text, status=200, ms=ms)
        if len(answers) == 1 and answers[0][0] is not None:
            return answers[0][0]  # one upstream answered everything: its bytes, untouched
        return _merge(request, [answer for _, answer in answers])


def _task_label(task: str) -> str:
    return task if task in TASK_TYPES else OTHER_TASK


def _raw_tasks(raw_entries: bytes) -> dict[str, msgspec.Raw]:
    return msgspec.json.decode(raw_entries, type=dict[str, msgspec.Raw]) if raw_entries else {}


def _encode_entries(tasks: list[str], plan: dict[str, Assignment], raw_tasks: dict[str, msgspec.Raw]) -> bytes:
    """The ``entries`` for one backend: each task's JSON as the client wrote it unless an alias renamed it."""
    parts = []
    for task in tasks:
        if task in raw_tasks and not plan[task].renamed:
            value = bytes(raw_tasks[task])
        else:
            value = msgspec.json.encode(
                {
                    t: ({"modelName": e.modelName, "options": e.options} if e.options else {"modelName": e.modelName})
                    for t, e in plan[task].types.items()
                }
            )
        parts.append(msgspec.json.encode(task) + b":" + value)
    return b"{" + b",".join(parts) + b"}"


def _merge(request: PredictRequest, answers: list[dict]) -> dict[str, object]:
    merged: dict[str, object] = {task: next(a[task] for a in answers if task in a) for task in request.entries}
    if request.image is not None:
        for answer in answers:
            if all(key in answer for key in IMAGE_SIZE_KEYS):
                merged["imageHeight"], merged["imageWidth"] = answer["imageHeight"], answer["imageWidth"]
                break
    return merged


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ServiceError):
        return f"http_{exc.status_code}"
    return type(exc).__name__
