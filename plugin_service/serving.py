"""Where blocking inference runs, and how much image memory may be in flight.

Two thread pools: image work (OCR, faces, CLIP visual) shares one sized for
the machine; text work (CLIP textual: someone is waiting at the search box)
has its own so a queue of image embeddings never delays a search.  The event
loop itself only parses requests and answers ``/ping``: images are measured
and decoded in the image pool, never on the loop.

``PixelBudget`` is the admission control: an image is decoded only when the
pixels of every image being worked on, plus its own, fit the budget, so ten
huge uploads wait their turn instead of multiplying memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from PIL import Image

from plugin_service.imaging import decode_image

T = TypeVar("T")


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
    def create(cls, image_threads: int, text_threads: int = 2, pixel_budget: int = 100_000_000) -> Executors:
        return cls(
            image=ThreadPoolExecutor(max_workers=max(1, image_threads), thread_name_prefix="infer-image"),
            text=ThreadPoolExecutor(max_workers=max(1, text_threads), thread_name_prefix="infer-text"),
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


def declared_pixels(data: bytes) -> int:
    """Width × height from the image header (no pixel data is decoded); 0 when unreadable,
    and ``decode_image`` then says what is wrong."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return int(image.width) * int(image.height)
    except Exception:  # noqa: BLE001 - any unreadable header is decode_image's to report
        return 0
