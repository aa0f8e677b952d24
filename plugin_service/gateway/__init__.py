"""The gateway: route Immich's ML traffic between local engines and upstream Immich ML servers.

``build_gateway`` turns settings into the pieces the app factory wires in:
the dispatcher (the ``Predictor`` for ``/predict``; ``None`` without upstreams,
and then the service is a plain local ML server), one middleware (allow-list,
shared secret, request id, HTTP metrics), the ``/metrics`` route, and a
lifespan that owns the upstream HTTP client and the health checks.  See
docs/gateway.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from plugin_service.config import Settings
from plugin_service.gateway.config import GatewayConfig, load_gateway_config
from plugin_service.gateway.dispatch import Dispatcher
from plugin_service.gateway.logs import RedactSecret, log_event
from plugin_service.gateway.metrics import Metrics, metrics_endpoint
from plugin_service.gateway.middleware import make_middleware
from plugin_service.gateway.pool import UpstreamPool
from plugin_service.gateway.routing import RoutingTable
from plugin_service.gateway.security import Guard
from plugin_service.immich.predictor import Predictor
from plugin_service.runtime import ModelCache

log = logging.getLogger(__name__)

__all__ = ["Gateway", "build_gateway"]


@dataclass
class Gateway:
    config: GatewayConfig
    metrics: Metrics
    dispatcher: Dispatcher | None
    pools: dict[str, UpstreamPool]
    middleware: list[Callable] = field(default_factory=list)
    route_handlers: list[Any] = field(default_factory=list)
    secret: str = ""  # when set, the app also serves /<secret>/ping and /<secret>/predict

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        if not self.pools:
            yield
            return
        # keepalive below Immich ML's 2 s so a pooled connection is never one the upstream just closed;
        # trust_env=False: ML traffic never detours through an HTTP(S)_PROXY meant for downloads.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=128, keepalive_expiry=1.5)
        async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
            for pool in self.pools.values():
                pool.client = client
            checks = []
            if self.config.health_interval_s > 0:
                checks = [
                    asyncio.create_task(p.run_health_checks(self.config.health_interval_s)) for p in self.pools.values()
                ]
            try:
                yield
            finally:
                for task in checks:
                    task.cancel()
                await asyncio.gather(*checks, return_exceptions=True)


def build_gateway(settings: Settings, local: Predictor, models: ModelCache) -> Gateway:
    """``local`` answers the tasks routed to this process."""
    config = load_gateway_config(settings)
    metrics = Metrics(models)
    guard = Guard(config.security)
    _protect_logs(config.security.secret)
    pools = {
        p.name: UpstreamPool(config=p, metrics=metrics, timeout_s=p.timeout_s or config.timeout_s) for p in config.pools
    }
    dispatcher = None
    if pools:
        table = RoutingTable.build(config, settings)
        dispatcher = Dispatcher(table, pools, local, metrics)
        log_event(
            log,
            logging.INFO,
            "gateway",
            pools=";".join(f"{n}={','.join(u.label for u in p.upstreams)}" for n, p in pools.items()),
            routes=";".join(table.describe()),
        )
    middleware = [make_middleware(guard, metrics)]
    return Gateway(config, metrics, dispatcher, pools, middleware, [metrics_endpoint], secret=config.security.secret)


_URL_USERINFO = re.compile(r"://[^/@\s]*@")


class _StripUserinfo(logging.Filter):
    """httpx logs every request's URL; an upstream URL may carry user:password."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(_URL_USERINFO.sub("://***@", str(a)) if "@" in str(a) else a for a in record.args)
        return True


def _protect_logs(secret: str) -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, _StripUserinfo) for f in httpx_log.filters):
        httpx_log.addFilter(_StripUserinfo())
    if secret:
        for name in ("uvicorn.access", "uvicorn.error", "litestar"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, RedactSecret) and f.secret == secret for f in logger.filters):
                logger.addFilter(RedactSecret(secret))
