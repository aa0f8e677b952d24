"""ArcFace-style recognition: aligned 112×112 crops → L2-normalised embeddings.

InsightFace's recognisers (w600k_r50, w600k_mbf, glintr100) take RGB
(x − 127.5) / 127.5 in NCHW and give 512 floats.  The colour order and the
normalisation are parameters so other recognisers trained on the same
alignment (SFace: BGR, raw 0–255) run through the same code in tests.
"""

from __future__ import annotations

import numpy as np

from plugin_service.engines.faces.align import ALIGNED_SIZE


class Recogniser:
    def __init__(self, session, *, mean: float = 127.5, std: float = 127.5, bgr: bool = False):
        self.session = session
        self.mean, self.std, self.bgr = mean, std, bgr
        node = session.get_inputs()[0]
        self._input_name = node.name
        self._raw_pixels = node.type == "tensor(uint8)"
        self._channels_last = self._raw_pixels and len(node.shape) == 4 and node.shape[-1] == 3
        batch = node.shape[0] if node.shape else None
        # Fixed-batch exports (batch 1) get one crop per run; dynamic ones get all at once.
        self._max_batch = batch if isinstance(batch, int) and batch > 0 else None
        size = node.shape[-2] if self._channels_last else node.shape[-1]
        if isinstance(size, int) and size != ALIGNED_SIZE:
            raise ValueError(
                f"recogniser input is {size}×{size}; ArcFace alignment needs {ALIGNED_SIZE}×{ALIGNED_SIZE}"
            )
        self.dimension = _output_dimension(session)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """(N, 112, 112, 3) uint8 RGB crops → (N, D) float32 unit vectors."""
        crops = np.asarray(crops)
        if len(crops) == 0:
            return np.zeros((0, self.dimension or 0), dtype=np.float32)
        blob = self._blob(crops)
        step = self._max_batch or len(blob)
        outputs = [self.session.run(None, {self._input_name: blob[i : i + step]})[0] for i in range(0, len(blob), step)]
        embeddings = np.concatenate(outputs, axis=0).reshape(len(crops), -1).astype(np.float32)
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise ValueError("the recogniser produced a zero or non-finite embedding")
        return embeddings / norms

    def _blob(self, crops: np.ndarray) -> np.ndarray:
        if self.bgr:
            crops = crops[..., ::-1]
        if self._raw_pixels:
            return np.ascontiguousarray(crops if self._channels_last else crops.transpose(0, 3, 1, 2))
        blob = (crops.astype(np.float32) - self.mean) / self.std
        return np.ascontiguousarray(blob.transpose(0, 3, 1, 2))


def _output_dimension(session) -> int | None:
    shape = session.get_outputs()[0].shape
    return shape[-1] if shape and isinstance(shape[-1], int) else None
