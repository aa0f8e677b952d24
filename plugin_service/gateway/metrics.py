"""``GET /metrics``: Prometheus text format from one registry per app.

A registry per app (not prometheus-client's global one) keeps two services in
one process, as in the tests, from counting each other's requests.
"""

from __future__ import annotations

from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector

from plugin_service.runtime import ModelCache

PREFIX = "plugin_service"
# Inference latencies: from a cached text embedding (ms) to OCR of a big page on a CPU (s).
BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self, models: ModelCache | None = None):
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            f"{PREFIX}_http_requests", "HTTP requests answered", ["path", "status"], registry=r
        )
        self.http_in_flight = Gauge(f"{PREFIX}_http_in_flight_requests", "HTTP requests being answered", registry=r)
        self.task_requests = Counter(
            f"{PREFIX}_task_requests",
            "Tasks answered, by backend and outcome",
            ["task", "backend", "outcome"],
            registry=r,
        )
        self.task_errors = Counter(
            f"{PREFIX}_task_errors",
            "Tasks that failed, by backend and reason",
            ["task", "backend", "reason"],
            registry=r,
        )
        self.task_latency = Histogram(
            f"{PREFIX}_task_seconds",
            "Time to answer a task, by backend",
            ["task", "backend"],
            buckets=BUCKETS,
            registry=r,
        )
        self.upstream_attempts = Counter(
            f"{PREFIX}_upstream_attempts",
            "Requests sent to upstreams, by result",
            ["pool", "url", "result"],
            registry=r,
        )
        self.upstream_latency = Histogram(
            f"{PREFIX}_upstream_seconds", "Upstream /predict round trips", ["pool", "url"], buckets=BUCKETS, registry=r
        )
        self.upstream_healthy = Gauge(
            f"{PREFIX}_upstream_healthy", "1 when the last /ping succeeded", ["pool", "url"], registry=r
        )
        self.upstream_circuit_open = Gauge(
            f"{PREFIX}_upstream_circuit_open",
            "1 while the circuit breaker skips the upstream",
            ["pool", "url"],
            registry=r,
        )
        self.upstream_in_flight = Gauge(
            f"{PREFIX}_upstream_in_flight_requests",
            "Requests outstanding at each upstream",
            ["pool", "url"],
            registry=r,
        )
        ProcessCollector(registry=r)  # resident memory, CPU seconds, open fds: what loaded models cost
        if models is not None:
            r.register(_ModelCollector(models))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ModelCollector:
    """Loaded models and how long each took to load, read at scrape time from the model cache."""

    def __init__(self, models: ModelCache):
        self.models = models

    def describe(self):
        return []

    def collect(self):
        loaded = self.models.loaded()
        seconds = GaugeMetricFamily(f"{PREFIX}_model_load_seconds", "Load time of each loaded model", labels=["model"])
        for key, load_seconds in loaded.items():
            seconds.add_metric(["/".join(map(str, key)) if isinstance(key, tuple) else str(key)], load_seconds)
        yield seconds
        yield GaugeMetricFamily(f"{PREFIX}_models_loaded", "Models resident in memory", value=len(loaded))


@get("/metrics", sync_to_thread=False, include_in_schema=False)
def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
