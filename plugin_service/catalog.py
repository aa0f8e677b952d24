"""Every engine's models in one catalogue, for the ``models`` command and start-up checks."""

from __future__ import annotations

import functools

from plugin_service.engines.clip.catalog import CLIP_CATALOG
from plugin_service.engines.faces.catalog import FACE_CATALOG
from plugin_service.engines.ocr.catalog import OCR_CATALOG
from plugin_service.store.catalog import Catalog


@functools.cache
def all_models() -> Catalog:
    return OCR_CATALOG + CLIP_CATALOG + FACE_CATALOG
