"""The gateway's configuration: upstream pools, routes, security.

Two spellings of the same thing, merged: compact strings in ``Settings``
(``PLUGIN_SERVICE_UPSTREAMS``, ``PLUGIN_SERVICE_ROUTES``; handy in a compose
file) and an optional TOML/JSON file (``PLUGIN_SERVICE_GATEWAY_CONFIG``).
Compact routes come first, so the environment can override a file.  Every
mistake is reported at start-up, never on the first request.
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from plugin_service.config import Settings

LOCAL = "local"


class PoolConfig(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    urls: tuple[str, ...]
    timeout_s: float | None = None  # None: Settings.upstream_timeout_s
    failure_threshold: int = 3  # consecutive failures that open the circuit
    reset_after_s: float = 10.0  # an open circuit lets one trial request through after this


class Route(msgspec.Struct, frozen=True, kw_only=True):
    """``task`` (or ``*``), optionally narrowed by model ``type`` and an fnmatch ``model`` pattern."""

    task: str
    backend: str  # "local" or a pool name
    fallback: str | None = None  # tried when every upstream of ``backend`` failed
    type: str | None = None
    model: str | None = None
    # requested model name -> name sent to the backend; "*" renames every match
    aliases: dict[str, str] = {}

    def describe(self) -> str:
        selector = self.task + (f".{self.type}" if self.type else "") + (f":{self.model}" if self.model else "")
        return f"{selector}={self.backend}" + (f"|{self.fallback}" if self.fallback else "")


class SecurityConfig(msgspec.Struct, frozen=True, kw_only=True):
    allow: tuple[str, ...] = ()
    secret: str = ""


class GatewayConfig(msgspec.Struct, frozen=True, kw_only=True):
    pools: tuple[PoolConfig, ...] = ()
    routes: tuple[Route, ...] = ()
    security: SecurityConfig = SecurityConfig()
    timeout_s: float = 120.0
    health_interval_s: float = 5.0

    def pool_names(self) -> list[str]:
        return [p.name for p in self.pools]


# The file format mirrors the structs, with upstreams keyed by name.
class _FilePool(msgspec.Struct, frozen=True, kw_only=True):
    urls: tuple[str, ...]
    timeout_s: float | None = None
    failure_threshold: int = 3
    reset_after_s: float = 10.0


class _File(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    upstreams: dict[str, _FilePool] = {}
    routes: tuple[Route, ...] = ()
    security: SecurityConfig = SecurityConfig()
    timeout_s: float | None = None
    health_interval_s: float | None = None


class GatewayConfigError(ValueError):
    pass


def load_gateway_config(settings: Settings) -> GatewayConfig:
    file = _read_file(settings.gateway_config) if settings.gateway_config else _File()
    pools = {name: PoolConfig(name=name, **msgspec.structs.asdict(p)) for name, p in file.upstreams.items()}
    pools.update({p.name: p for p in parse_upstreams(settings.upstreams)})
    allow = tuple(a for a in settings.client_allow.replace(";", ",").split(",") if a.strip()) or file.security.allow
    config = GatewayConfig(
        pools=tuple(pools.values()),
        routes=parse_routes(settings.routes) + file.routes,
        security=SecurityConfig(
            allow=tuple(a.strip() for a in allow), secret=settings.shared_secret or file.security.secret
        ),
        timeout_s=file.timeout_s or settings.upstream_timeout_s,
        health_interval_s=settings.health_interval_s if file.health_interval_s is None else file.health_interval_s,
    )
    validate(config)
    return config


def parse_upstreams(text: str) -> list[PoolConfig]:
    """``name=url,url;name2=url`` (a bare ``url,url`` is the pool ``default``)."""
    pools = []
    for item in _split(text):
        name, sep, urls = item.partition("=")
        if not sep or "://" in name:
            name, urls = "default", item
        pools.append(PoolConfig(name=name.strip(), urls=tuple(u.strip() for u in urls.split(",") if u.strip())))
    return pools


def parse_routes(text: str) -> tuple[Route, ...]:
    """``task[.type][:modelPattern]=backend[|fallback][>servedName]`` separated by ``;`` or new lines."""
    routes = []
    for item in _split(text):
        selector, sep, target = item.partition("=")
        if not sep:
            raise GatewayConfigError(f"route {item!r} is not selector=backend")
        selector, _, model = selector.strip().partition(":")
        task, _, model_type = selector.partition(".")
        backend, _, served = target.strip().partition(">")
        backend, _, fallback = backend.partition("|")
        routes.append(
            Route(
                task=task.strip(),
                type=model_type.strip() or None,
                model=model.strip() or None,
                backend=backend.strip(),
                fallback=fallback.strip() or None,
                aliases={"*": served.strip()} if served.strip() else {},
            )
        )
    return tuple(routes)


def validate(config: GatewayConfig) -> None:
    names = config.pool_names()
    if LOCAL in names:
        raise GatewayConfigError(f"an upstream pool may not be called {LOCAL!r}")
    for pool in config.pools:
        if not pool.name or not pool.urls:
            raise GatewayConfigError(f"upstream pool {pool.name!r} has no URLs")
        for url in pool.urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise GatewayConfigError(f"upstream {pool.name}: {url!r} is not an http(s) URL")
    for route in config.routes:
        if not route.task:
            raise GatewayConfigError(f"route {route.describe()!r} has no task")
        for backend in filter(None, (route.backend, route.fallback)):
            if backend != LOCAL and backend not in names:
                known = ", ".join([LOCAL, *names])
                raise GatewayConfigError(f"route {route.describe()!r} names backend {backend!r}; known: {known}")
    for network in config.security.allow:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise GatewayConfigError(f"client allow-list entry {network!r}: {exc}") from exc


def _read_file(path: str) -> _File:
    data = Path(path).read_bytes()
    try:
        raw = json.loads(data) if path.endswith(".json") else tomllib.loads(data.decode("utf-8"))
        return msgspec.convert(raw, _File)
    except (ValueError, msgspec.ValidationError) as exc:
        raise GatewayConfigError(f"gateway config {path}: {exc}") from exc


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ";").split(";") if part.strip()]
