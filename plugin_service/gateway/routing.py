"""Which backend answers which task of a ``/predict`` request.

The routing unit is the task: its types depend on each other (recognition
needs detection's output), so they always travel together.  Configured routes
are tried in order; then the defaults: ``clip`` and ``ocr`` local,
``facial-recognition`` local when a face pack is configured, everything else
(including tasks a future Immich may add) to the default upstream pool.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fnmatch import fnmatchcase

from plugin_service.config import Settings
from plugin_service.gateway.config import LOCAL, GatewayConfig, Route
from plugin_service.immich.protocol import Entries, ModelEntry

log = logging.getLogger(__name__)


def faces_available_locally(settings: Settings) -> bool:
    """Whether this process can answer ``facial-recognition`` itself: a pack folder is configured."""
    return bool(settings.face_pack_dir)


@dataclass(frozen=True)
class Assignment:
    backend: str
    types: dict[str, ModelEntry]  # with aliases applied
    renamed: bool
    fallback: str | None = None  # where to go when the backend's pool fails (502/503/504)


class RoutingTable:
    def __init__(self, routes: tuple[Route, ...]):
        self.routes = routes

    @classmethod
    def build(cls, config: GatewayConfig, settings: Settings) -> RoutingTable:
        default_pool = "default" if "default" in config.pool_names() else (config.pool_names() or [LOCAL])[0]
        faces = LOCAL if faces_available_locally(settings) else default_pool
        defaults = (
            Route(task="clip", backend=LOCAL),
            Route(task="ocr", backend=LOCAL),
            Route(task="facial-recognition", backend=faces),
            Route(task="*", backend=default_pool),
        )
        table = cls(config.routes + defaults)
        table.warn_about_aliases()
        return table

    def route_for(self, task: str, types: dict[str, ModelEntry]) -> Route:
        for route in self.routes:
            if _matches(route, task, types):
                return route
        raise AssertionError("the catch-all default route always matches")  # pragma: no cover

    def assign(self, entries: Entries) -> dict[str, Assignment]:
        """task -> where it goes and the entries to send there."""
        plan = {}
        for task, types in entries.items():
            route = self.route_for(task, types)
            served = {t: _alias(route, e) for t, e in types.items()}
            renamed = any(s is not e for s, e in zip(served.values(), types.values(), strict=True))
            plan[task] = Assignment(route.backend, served, renamed, route.fallback)
        return plan

    def warn_about_aliases(self) -> None:
        for route in self.routes:
            for requested, served in route.aliases.items():
                log.warning(
                    "model alias: route %s answers requests for %s with model %s. Immich stores the vectors under the "
                    "name it asked for; they are not comparable with the real model's, so after switching models in "
                    "Immich run the job again for all assets.",
                    route.describe(),
                    "any matching model" if requested == "*" else repr(requested),
                    repr(served),
                )

    def describe(self) -> list[str]:
        return [r.describe() for r in self.routes]


def _matches(route: Route, task: str, types: dict[str, ModelEntry]) -> bool:
    if route.task not in ("*", task):
        return False
    if route.type is not None and route.type not in types:
        return False
    return not (route.model is not None and not all(fnmatchcase(e.modelName, route.model) for e in types.values()))


def _alias(route: Route, entry: ModelEntry) -> ModelEntry:
    served = route.aliases.get(entry.modelName) or route.aliases.get("*")
    if not served or served == entry.modelName:
        return entry
    return ModelEntry(served, entry.options)
