"""Face model packs (filled in by the face engine work)."""

from plugin_service.store.catalog import ModelSpec

FACE_MODELS: tuple[ModelSpec, ...] = ()
