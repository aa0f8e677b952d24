"""Immich ``clip`` task: ``visual`` for an image, ``textual`` for a query → embedding string."""

from __future__ import annotations

from plugin_service.context import ServiceContext
from plugin_service.engines.clip.loader import image_encoder, text_encoder
from plugin_service.errors import BadRequest
from plugin_service.immich.embedding import embedding_string
from plugin_service.immich.protocol import ImagePayload, ModelEntry, Payload


def run(ctx: ServiceContext, types: dict[str, ModelEntry], payload: Payload) -> str:
    # options.language is accepted and ignored: Chinese-CLIP reads Chinese and English as they are.
    if isinstance(payload, ImagePayload):
        entry = types.get("visual")
        if entry is None:
            raise BadRequest("clip/textual needs text, but an image was sent")
        return embedding_string(image_encoder(ctx, entry.modelName).encode(payload.image))
    entry = types.get("textual")
    if entry is None:
        raise BadRequest("clip/visual needs an image, but text was sent")
    return embedding_string(text_encoder(ctx, entry.modelName).encode([payload.text])[0])
