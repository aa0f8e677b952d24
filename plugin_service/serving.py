"""Where blocking inference runs, and how much image memory may be in flight.

Two thread pools: image work (OCR, faces, CLIP visual) shares one sized for
the machine; text work (CLIP textual: someone is waiting at the search box)
has its own so a queue of image embeddings never delays a search.  The event
loop itself only parses requests and answers ``/ping``: images are measured
and decoded in the image pool, never on the loop.

Both pools run at a lower CPU priority (``inference_nice``) than the event
loop: when inference keeps every core busy, the kernel still gives the loop
the CPU as soon as a request arrives, so ``/ping`` answers in milliseconds
(Immich marks the server unhealthy after a 2 s ping timeout).  Models are
loaded in these threads, and onnxruntime's own worker threads, created with
the session, inherit the lower priority from the thread that created them.

``PixelBudget`` is the admission control: an image is decoded only when the
pixels of every image being worked on, plus its own, fit the budget, so ten
huge uploads wait their turn instead of multiplying memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from PIL import Image

from plugin_service.imaging import decode_image

T = TypeVar("T")

log = logging.getLogger(__name__)


class PixelBudget:
    def __init__(self, limit: int):
        self.limit = max(1, limit)
        self.in_use = 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, pixels: int) -> AsyncIterator[None]:
        pixels = min(max(pixels, 0), self.limit)  # one image over the budget still runs, alone
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_use + pixels <= self.limit)
            self.in_use += pixels
        try:
            yield
        finally:
            async with self._changed:
                self.in_use -= pixels
                self._changed.notify_all()


@dataclass
class Executors:
    image: ThreadPoolExecutor
    text: ThreadPoolExecutor
    pixels: PixelBudget = field(default_factory=lambda: PixelBudget(100_000_000))

    @classmethod
    def create(
        cls, image_threads: int, text_threads: int = 2, pixel_budget: int = 100_000_000, nice: int = 0
    ) -> Executors:
        """Pools whose threads run at ``nice`` (0 = the process's own priority)."""
        initializer = functools.partial(lower_thread_priority, nice)
        return cls(
            image=ThreadPoolExecutor(
                max_workers=max(1, image_threads), thread_name_prefix="infer-image", initializer=initializer
            ),
            text=ThreadPoolExecutor(
                max_workers=max(1, text_threads), thread_name_prefix="infer-text", initializer=initializer
            ),
            pixels=PixelBudget(pixel_budget),
        )

    async def run(self, kind: str, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        pool = self.text if kind == "text" else self.image
        return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(fn, *args, **kwargs))

    @contextlib.asynccontextmanager
    async def admitted_image(self, data: bytes, max_pixels: int) -> AsyncIterator[Image.Image]:
        """Decode ``data`` once the pixel budget has room; the image counts against the budget
        until the ``async with`` block ends (``decode_image``'s 400/413 errors pass through)."""
        pixels = await self.run("image", declared_pixels, data)
        async with self.pixels.hold(pixels):
            yield await self.run("image", decode_image, data, max_pixels)

    def shutdown(self) -> None:
        self.image.shutdown(wait=False, cancel_futures=True)
        self.text.shutdown(wait=False, cancel_futures=True)


def lower_thread_priority(nice: int) -> None:
    """Run the calling thread at ``nice`` (never raising its priority above what it has).

    Linux keeps a nice value per thread and a new thread starts with its creator's, so threads this
    one starts later (onnxruntime's intra-op pool, created with a session) run at ``nice`` too.
    """
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, thread) < nice:
            os.setpriority(os.PRIO_PROCESS, thread, min(nice, 19))
    except OSError as exc:  # a sandbox that forbids it: inference then competes with /ping as equals
        log.warning("cannot lower the priority of inference thread %s to nice %s: %s", thread, nice, exc)


def declared_pixels(data: bytes) -> int:
    """Width × height from the image header (no pixel data is decoded); 0 when unreadable,
    and ``decode_image`` then says what is wrong."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return int(image.width) * int(image.height)
    except Exception:  # noqa: BLE001 - any unreadable header is decode_image's to report
        return 0
