"""Loaded models and the threads that run them.

``ModelCache`` is the one explicit registry of loaded models in the process:
engines are loaded once under a per-key lock, reused across requests, and
unloaded after ``ttl_s`` seconds without use (Immich's
``MACHINE_LEARNING_MODEL_TTL``) so an idle service gives its memory back.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plugin_service.errors import ModelLoadError

log = logging.getLogger(__name__)


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    value: Any = None
    last_used: float = 0.0
    load_seconds: float = 0.0
    # Requests currently inside ``get`` for this key: a slot without a model is dropped when the
    # last of them leaves, so names that never load (typos, junk from a client) cost nothing.
    users: int = 0


class ModelCache:
    def __init__(self, ttl_s: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self._clock = clock
        self._slots: dict[Hashable, _Slot] = {}
        self._slots_lock = threading.Lock()

    def get(self, key: Hashable, loader: Callable[[], Any], *, model: str | None = None) -> Any:
        """Return the model under ``key``, loading it with ``loader`` on first use.

        Concurrent callers for the same key wait for one load; different keys
        load in parallel.  A failed load is retried once (a half-written cache
        file or a transient download error should not need a restart), then
        raised as ``ModelLoadError`` naming ``model`` (default: the key).
        Only loaded models keep a slot.
        """
        name = model or _key_name(key)
        with self._slots_lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _Slot()
            slot.users += 1
        try:
            with slot.lock:
                if slot.value is None:
                    started = time.perf_counter()
                    slot.value = _load_with_retry(name, loader)
                    slot.load_seconds = time.perf_counter() - started
                    log.info("loaded model %s in %.2fs", key, slot.load_seconds)
                slot.last_used = self._clock()
                return slot.value
        finally:
            with self._slots_lock:
                slot.users -= 1
                if slot.value is None and slot.users == 0 and self._slots.get(key) is slot:
                    del self._slots[key]

    def loaded(self) -> dict[Hashable, float]:
        """Keys of loaded models with their load time in seconds."""
        with self._slots_lock:
            return {k: s.load_seconds for k, s in self._slots.items() if s.value is not None}

    def evict_idle(self) -> list[Hashable]:
        """Unload models unused for ``ttl_s`` seconds; returns the evicted keys."""
        if self.ttl_s <= 0:
            return []
        now = self._clock()
        evicted = []
        with self._slots_lock:
            slots = list(self._slots.items())
        for key, slot in slots:
            # Never block a request that is loading or using the model.
            if slot.value is not None and now - slot.last_used >= self.ttl_s and slot.lock.acquire(blocking=False):
                try:
                    if now - slot.last_used >= self.ttl_s:
                        slot.value = None
                        evicted.append(key)
                finally:
                    slot.lock.release()
        with self._slots_lock:
            for key in evicted:
                idle = self._slots.get(key)
                if idle is not None and idle.value is None and idle.users == 0:
                    del self._slots[key]
        if evicted:
            gc.collect()
            log.info("unloaded idle models %s", evicted)
        return evicted

    def clear(self) -> list[Hashable]:
        """Unload every model now (MT Photos ``/restart_v2``, tests)."""
        with self._slots_lock:
            slots = list(self._slots.items())
            self._slots = {}
        cleared = [k for k, s in slots if s.value is not None]
        for _, slot in slots:
            with slot.lock:
                slot.value = None
        gc.collect()
        return cleared


def _load_with_retry(name: str, loader: Callable[[], Any]) -> Any:
    try:
        return loader()
    except ModelLoadError as exc:  # the loader's own verdict (unknown name, missing file): final
        raise ModelLoadError(name, exc.reason) from exc
    except Exception as first:  # noqa: BLE001 - any other loader failure is retried once
        log.warning("loading %s failed (%s); retrying once", name, first)
        try:
            return loader()
        except ModelLoadError as exc:
            raise ModelLoadError(name, exc.reason) from exc
        except Exception as exc:  # noqa: BLE001 - details to the log, a plain reason to the client
            log.exception("loading %s failed again", name)
            raise ModelLoadError(name, f"loading failed ({type(exc).__name__}; see the plugin service log)") from exc


def _key_name(key: Hashable) -> str:
    return "/".join(str(p) for p in key) if isinstance(key, tuple) else str(key)


# mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_malloc(arena_max: int, mmap_threshold: int) -> bool:
    """Make glibc's malloc give memory back: few arenas, large blocks mmap'ed (0 = leave as is).

    Must run before the process starts its threads (arenas are created as threads first allocate).
    Returns False where the C library is not glibc (musl, macOS): nothing is changed there.
    """
    import ctypes
    import ctypes.util
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    ok = True
    if arena_max > 0:
        ok = libc.mallopt(_M_ARENA_MAX, arena_max) == 1 and ok
    if mmap_threshold > 0:
        ok = libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1 and ok
    return ok


def ort_providers(requested: str = "") -> list[str]:
    """onnxruntime execution providers: the requested ones that exist, else CUDA if present, then CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if requested:
        wanted = [p.strip() for p in requested.split(",") if p.strip()]
        chosen = [p for p in wanted if p in available]
        return chosen or ["CPUExecutionProvider"]
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def ort_session(
    path: str | os.PathLike[str],
    *,
    intra_op_threads: int = 0,
    inter_op_threads: int = 1,
    providers: str = "",
    memory_arena: bool = True,
    memory_pattern: bool = True,
):
    """An onnxruntime session with the service's thread, provider and memory settings."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.enable_cpu_mem_arena = memory_arena
    options.enable_mem_pattern = memory_pattern
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=ort_providers(providers))
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types
        log.warning("onnxruntime cannot load %s: %s", path, exc)
        # The model's name is filled in by ModelCache.get; the local path stays in the log.
        raise ModelLoadError(
            "", f"the ONNX graph {Path(path).parent.name}/{Path(path).name} could not be loaded"
        ) from exc
