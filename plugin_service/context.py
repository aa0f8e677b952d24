"""What engines and adapters share in one process: settings, model store, loaded models."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    def onnx_session(self, path: str | os.PathLike[str]) -> Any:
        """An onnxruntime session with this service's thread and provider settings.

        The outcome goes back to the store: a file trusted on first use is trusted once it loaded,
        and a freshly downloaded file that does not load is removed, so the next try fetches it again.
        """
        from plugin_service.runtime import ort_session

        s = self.settings
        try:
            session = ort_session(
                path,
                intra_op_threads=s.ort_intra_op_threads,
                inter_op_threads=s.ort_inter_op_threads,
                providers=s.ort_providers,
                memory_arena=s.ort_cpu_memory_arena,
                memory_pattern=s.ort_memory_pattern,
            )
        except Exception:
            self.store.reject(Path(path))
            raise
        self.store.confirm(Path(path))
        return session
