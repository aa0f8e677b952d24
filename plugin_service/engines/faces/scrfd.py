"""SCRFD face detection: letterbox, run, decode anchors, threshold, NMS.

Semantics follow Immich v3.1.0 (``facial_recognition/detection.py``), which
follow insightface:

* the RGB image is scaled to fit ``input_size``×``input_size`` (640) keeping
  its aspect ratio (area-averaged when shrinking), placed top-left on a
  black canvas;
* pixels are normalised (x − 127.5) / 128;
* three FPN levels (strides 8/16/32), two anchors per cell, each with a
  score, a box as distances (l, t, r, b) and 5 keypoints, all in stride units;
* candidates with ``score >= min_score`` are kept, mapped back to the
  original image (not clipped: a face cut by the border keeps its full box),
  then greedy NMS at IoU 0.4 in score order.

The nine outputs are matched to levels by their shape (width 1/4/10, rows
per level), not by their position, so exports that order heads differently,
or add a batch dimension (Immich's re-exports), decode the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

STRIDES = (8, 16, 32)
ANCHORS_PER_CELL = 2
DEFAULT_INPUT_SIZE = 640
NMS_THRESHOLD = 0.4
MEAN, STD = 127.5, 128.0


@dataclass(frozen=True)
class Detection:
    box: np.ndarray  # (4,) float x1, y1, x2, y2 in pixels of the input image
    score: float
    landmarks: np.ndarray  # (5, 2) float


class ScrfdDetector:
    """A loaded SCRFD graph (any of det_500m / det_2.5g / det_10g / scrfd_10g_bnkps)."""

    def __init__(self, session, input_size: int = DEFAULT_INPUT_SIZE):
        self.session = session
        node = session.get_inputs()[0]
        self._input_name = node.name
        # A graph with the normalisation fused in takes raw uint8 pixels.
        self._raw_pixels = node.type == "tensor(uint8)"
        self._channels_last = self._raw_pixels and len(node.shape) == 4 and node.shape[-1] == 3
        # An export with a fixed input size (e.g. [1,3,640,640]) can only run at that size.
        fixed = node.shape[1] if self._channels_last else (node.shape[2] if len(node.shape) == 4 else None)
        self.input_size = fixed if isinstance(fixed, int) and fixed > 0 else input_size
        if self.input_size % 32:
            raise ValueError(f"SCRFD input size must be a multiple of 32 (the coarsest stride), got {self.input_size}")
        if len(session.get_outputs()) < 9:
            raise ValueError(
                f"not an SCRFD detector with keypoints: {len(session.get_outputs())} outputs, expected 9 "
                "(scores, boxes and 5-point landmarks for strides 8/16/32)"
            )

    def detect(self, rgb: np.ndarray, min_score: float) -> list[Detection]:
        """Faces in an H×W×3 uint8 RGB image, best first after NMS."""
        canvas, scale = letterbox(rgb, self.input_size)
        heads = self.session.run(None, {self._input_name: self._blob(canvas)})
        scores, boxes, landmarks = decode(heads, self.input_size)
        keep = scores >= min_score
        scores, boxes, landmarks = scores[keep], boxes[keep] / scale, landmarks[keep] / scale
        order = nms(boxes, scores, NMS_THRESHOLD)
        return [Detection(boxes[i], float(scores[i]), landmarks[i].reshape(5, 2)) for i in order]

    def _blob(self, canvas: np.ndarray) -> np.ndarray:
        if self._raw_pixels:
            return canvas[None] if self._channels_last else canvas.transpose(2, 0, 1)[None].copy()
        blob = (canvas.astype(np.float32) - MEAN) / STD
        return np.ascontiguousarray(blob.transpose(2, 0, 1)[None])


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """``rgb`` scaled to fit ``size``×``size`` (aspect kept), top-left on black; and the scale used."""
    height, width = rgb.shape[:2]
    if height > width:
        new_height, new_width = size, max(1, int(size * width / height))
    else:
        new_width, new_height = size, max(1, int(size * height / width))
    scale = new_height / height
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    # Area averaging when shrinking: small faces in a large photo keep their shape instead of
    # aliasing (with bilinear, two 0.52-score false faces appear in the crowd of oscar.jpg).
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas[:new_height, :new_width] = cv2.resize(rgb, (new_width, new_height), interpolation=interpolation)
    return canvas, scale


@lru_cache(maxsize=16)
def anchor_centers(size: int, stride: int) -> np.ndarray:
    cells = size // stride
    ys, xs = np.mgrid[:cells, :cells]
    centers = (np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride).astype(np.float32)
    return np.repeat(centers, ANCHORS_PER_CELL, axis=0)


def decode(heads: list[np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All anchors' scores (N,), boxes (N, 4) and landmarks (N, 10) in canvas pixels."""
    levels = _heads_by_level(heads, size)
    scores, boxes, landmarks = [], [], []
    for stride, (score, distance, offsets) in zip(STRIDES, levels, strict=True):
        centers = anchor_centers(size, stride)
        distance = distance * stride
        scores.append(score[:, 0])
        boxes.append(np.concatenate([centers - distance[:, :2], centers + distance[:, 2:]], axis=1))
        landmarks.append(np.tile(centers, 5) + offsets * stride)
    return np.concatenate(scores), np.concatenate(boxes), np.concatenate(landmarks)


def _heads_by_level(heads: list[np.ndarray], size: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    by_shape: dict[tuple[int, int], np.ndarray] = {}
    for head in heads:
        head = np.asarray(head, dtype=np.float32)
        head = head.reshape(-1, head.shape[-1])  # drop a leading batch dimension of 1
        by_shape[(head.shape[0], head.shape[1])] = head
    levels = []
    for stride in STRIDES:
        rows = (size // stride) ** 2 * ANCHORS_PER_CELL
        try:
            levels.append((by_shape[(rows, 1)], by_shape[(rows, 4)], by_shape[(rows, 10)]))
        except KeyError:
            shapes = sorted(by_shape)
            raise ValueError(
                f"SCRFD outputs {shapes} lack the {rows}-anchor level of stride {stride} for input {size}"
            ) from None
    return levels


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression, in descending score order (OpenCV's NMSBoxes, as Immich)."""
    if len(boxes) == 0:
        return []
    xywh = np.column_stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, threshold)
    return [int(i) for i in np.asarray(keep, dtype=np.intp).reshape(-1)]
