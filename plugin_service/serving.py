"""Where blocking inference runs.

Two thread pools: image work (OCR, faces, CLIP visual) shares one sized for
the machine; text work (CLIP textual: someone is waiting at the search box)
has its own so a queue of image embeddings never delays a search.  The event
loop itself only parses requests and answers ``/ping``.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")


@dataclass
class Executors:
    image: ThreadPoolExecutor
    text: ThreadPoolExecutor

    @classmethod
    def create(cls, image_threads: int, text_threads: int = 2) -> "Executors":
        return cls(
            image=ThreadPoolExecutor(max_workers=max(1, image_threads), thread_name_prefix="infer-image"),
            text=ThreadPoolExecutor(max_workers=max(1, text_threads), thread_name_prefix="infer-text"),
        )

    async def run(self, kind: str, fn: Callable[..., T], *args, **kwargs) -> T:
        pool = self.text if kind == "text" else self.image
        return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(fn, *args, **kwargs))

    def shutdown(self) -> None:
        self.image.shutdown(wait=False, cancel_futures=True)
        self.text.shutdown(wait=False, cancel_futures=True)
