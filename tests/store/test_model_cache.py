"""Models load once, concurrently safe, retry once, and unload after the idle TTL."""

from __future__ import annotations

import threading
import time

import pytest

from plugin_service.errors import ModelLoadError
from plugin_service.runtime import ModelCache


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_loads_once_under_concurrency():
    cache = ModelCache(ttl_s=0)
    calls = []

    def loader():
        calls.append(1)
        time.sleep(0.05)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("m", loader))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1


def test_idle_models_unload_after_ttl_and_reload_on_use():
    clock = Clock()
    cache = ModelCache(ttl_s=300, clock=clock)
    loads = []
    cache.get("ocr", lambda: loads.append(1) or "model")
    clock.now = 299
    assert cache.evict_idle() == []
    cache.get("ocr", lambda: loads.append(1) or "model")  # use refreshes the TTL
    clock.now = 598
    assert cache.evict_idle() == []
    clock.now = 600
    assert cache.evict_idle() == ["ocr"]
    assert cache.loaded() == {}
    cache.get("ocr", lambda: loads.append(1) or "model")
    assert len(loads) == 2


def test_ttl_zero_never_unloads():
    clock = Clock()
    cache = ModelCache(ttl_s=0, clock=clock)
    cache.get("m", lambda: "x")
    clock.now = 10**9
    assert cache.evict_idle() == []


def test_failed_load_is_retried_once_then_reported():
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("half-written file")
        return "ok"

    assert ModelCache().get("a", flaky) == "ok"

    def broken():
        raise OSError("no such file")

    cache = ModelCache()
    with pytest.raises(ModelLoadError) as failure:
        cache.get(("b", "c"), broken, model="c")
    # The client reads the model's name and a plain reason; the OSError text (paths) stays in the log.
    assert (
        failure.value.immich_message == "Failed to load model 'c': loading failed (OSError; see the plugin service log)"
    )
    assert cache._slots == {}


def test_names_that_never_load_keep_no_slot():
    cache = ModelCache()

    def unknown():
        raise ModelLoadError("", "unknown model")

    for i in range(1000):
        with pytest.raises(ModelLoadError):
            cache.get(("ocr", f"junk-{i}" * 100), unknown, model=f"junk-{i}")
    assert cache._slots == {} and cache.loaded() == {}


def test_clear_unloads_everything():
    cache = ModelCache()
    cache.get("a", lambda: 1)
    cache.get("b", lambda: 2)
    assert sorted(cache.clear()) == ["a", "b"]
    assert cache.loaded() == {}
