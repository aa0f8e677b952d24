"""Chinese-CLIP model files (filled in by the CLIP engine work)."""

from plugin_service.store.catalog import ModelSpec

CLIP_MODELS: tuple[ModelSpec, ...] = ()
