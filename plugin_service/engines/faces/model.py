"""A face pack: detector + recogniser, and the one call adapters use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plugin_service.engines.faces.align import align_face
from plugin_service.engines.faces.recognition import Recogniser
from plugin_service.engines.faces.scrfd import Detection, ScrfdDetector


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 pixels, not clipped to the image
    score: float
    landmarks: np.ndarray  # (5, 2)
    embedding: np.ndarray | None  # (D,) unit vector, None when only detecting


class FaceModel:
    """Loaded once (see ``loader.py``), shared by threads: onnxruntime sessions are thread-safe."""

    def __init__(self, name: str, detector: ScrfdDetector, recogniser: Recogniser):
        self.name = name
        self.detector = detector
        self.recogniser = recogniser

    def detect(self, rgb: np.ndarray, min_score: float) -> list[Detection]:
        return self.detector.detect(rgb, min_score)

    def analyse(self, rgb: np.ndarray, min_score: float, *, embed: bool = True) -> list[Face]:
        """Detect faces in an H×W×3 uint8 RGB image and (optionally) embed each aligned face."""
        detections = self.detector.detect(rgb, min_score)
        embeddings: list[np.ndarray | None] = [None] * len(detections)
        if embed and detections:
            crops = np.stack([align_face(rgb, d.landmarks) for d in detections])
            embeddings = list(self.recogniser.embed(crops))
        return [
            Face(tuple(float(v) for v in d.box), d.score, d.landmarks, e)  # type: ignore[arg-type]
            for d, e in zip(detections, embeddings, strict=True)
        ]
