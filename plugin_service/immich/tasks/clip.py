"""Immich ``clip`` task: ``visual`` for an image, ``textual`` for a query → embedding string."""

from __future__ import annotations

from plugin_service.context import ServiceContext
from plugin_service.engines.clip.architectures import UnknownClipModel
from plugin_service.engines.clip.loader import image_encoder, text_encoder
from plugin_service.errors import BadRequest, ModelError
from plugin_service.immich.embedding import embedding_string
from plugin_service.immich.protocol import ImagePayload, ModelEntry, Payload, TextPayload
from plugin_service.runtime import ModelLoadError


def run(ctx: ServiceContext, types: dict[str, ModelEntry], payload: Payload) -> str:
    # options.language is accepted and ignored: Chinese-CLIP reads Chinese and English as they are.
    try:
        if isinstance(payload, ImagePayload):
            entry = types.get("visual")
            if entry is None:
                raise BadRequest("clip/textual needs text, but an image was sent")
            vector = image_encoder(ctx, entry.modelName).encode(payload.image)
        elif isinstance(payload, TextPayload):
            entry = types.get("textual")
            if entry is None:
                raise BadRequest("clip/visual needs an image, but text was sent")
            vector = text_encoder(ctx, entry.modelName).encode([payload.text])[0]
        else:  # pragma: no cover - the protocol layer only builds these two
            raise BadRequest("clip needs an image or text")
    except UnknownClipModel as exc:
        raise ModelError(f"Failed to load model '{entry.modelName}': {exc}") from exc
    except (ModelLoadError, ValueError) as exc:
        raise ModelError(str(exc) if str(exc).startswith("Failed") else f"Failed to load model '{entry.modelName}': {exc}") from exc
    return embedding_string(vector)
