"""Immich's embedding wire format: a JSON *string* holding a compact float array.

Immich writes the string verbatim into a pgvector column, so it must be a
valid pgvector literal.  orjson's numpy serialisation is what Immich ML uses,
which gives the shortest float32 text (``-0.013126737``), not float64 noise.
"""

from __future__ import annotations

import numpy as np
import orjson


def embedding_string(vector: np.ndarray) -> str:
    """``[f,f,…]`` for one embedding (float32, C-contiguous)."""
    array = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(-1))
    return orjson.dumps(array, option=orjson.OPT_SERIALIZE_NUMPY).decode()
