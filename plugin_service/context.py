"""What engines and adapters share in one process: settings, model store, loaded models."""

from __future__ import annotations

from dataclasses import dataclass

from plugin_service.config import Settings
from plugin_service.runtime import ModelCache
from plugin_service.store.store import ModelStore


@dataclass
class ServiceContext:
    settings: Settings
    store: ModelStore
    models: ModelCache

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceContext:
        return cls(settings=settings, store=ModelStore(settings), models=ModelCache(ttl_s=settings.model_ttl_s))

    def onnx_session(self, path):
        """An onnxruntime session with this service's thread and provider settings."""
        from plugin_service.runtime import ort_session

        s = self.settings
        return ort_session(
            path,
            intra_op_threads=s.ort_intra_op_threads,
            inter_op_threads=s.ort_inter_op_threads,
            providers=s.ort_providers,
        )
