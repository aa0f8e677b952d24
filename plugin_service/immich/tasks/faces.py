"""Immich ``facial-recognition`` task — implemented by the face engine work."""

from __future__ import annotations

from plugin_service.context import ServiceContext
from plugin_service.errors import ModelError
from plugin_service.immich.protocol import ModelEntry, Payload


def run(ctx: ServiceContext, types: dict[str, ModelEntry], payload: Payload) -> object:
    names = ", ".join(e.modelName for e in types.values())
    raise ModelError(f"Failed to load model '{names}': facial recognition is not available in this build")
