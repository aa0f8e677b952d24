"""PP-OCR text detection and recognition on onnxruntime.  No HTTP in here.

Semantics follow Immich v3.1.0's ML server so results stored by Immich mean
the same thing whichever server produced them:

* detection input: the shorter side scaled to at most ``max_resolution``
  (never upscaled), both sides rounded to multiples of 32; images with a side
  under 32 px have no text;
* DB post-processing with ``box_thresh = det_min_score`` (RapidOCR's
  ``DBPostProcess``, thresh 0.3, unclip 1.6, dilation on);
* lines kept when ``text_score > rec_min_score`` (strictly greater);
* boxes as TL, TR, BR, BL corners in reading order (rows whose top-left y
  differ by < 10 px form one line, sorted by x).

The engine holds no per-request state, so one loaded model serves many
threads at once (onnxruntime sessions are thread-safe).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rapidocr.ch_ppocr_det.utils import DBPostProcess
from rapidocr.ch_ppocr_rec.utils import CTCLabelDecode

MIN_SIDE = 32
REC_HEIGHT = 48
REC_BASE_WIDTH = 320


@dataclass(frozen=True)
class OcrOptions:
    """The one place OCR defaults live.  Detection defaults are Immich ML's; the recognition
    threshold is ours (0.8 measured best on the real images, docs/ocr.md); the Immich adapter
    applies Immich's own 0.9 when Immich leaves it out."""

    det_min_score: float = 0.5
    max_resolution: int = 736
    rec_min_score: float = 0.8
    # Immich never uses the 0°/180° classifier; it helps upside-down text at ~10 % extra cost.
    use_angle_classifier: bool = False
    # A cropped single text line (a screenshot of one line, a label) has no
    # room for the detector; read it whole instead of returning nothing.
    # Off for Immich, whose previews are never that small and whose ML server
    # returns nothing for images under 32 px.
    single_line_fallback: bool = False


@dataclass(frozen=True)
class TextLine:
    box: tuple[tuple[float, float], ...]  # 4 corners in pixels: TL, TR, BR, BL
    box_score: float
    text: str
    text_score: float


class OcrModel:
    """A loaded detector + recogniser (+ optional angle classifier)."""

    def __init__(
        self, detector, recogniser, *, keys_path: Path | None = None, classifier=None, rec_batch_size: int = 6
    ):
        self.detector = detector
        self.recogniser = recogniser
        self.classifier = classifier
        self.rec_batch_size = max(1, rec_batch_size)
        self._det_input = detector.get_inputs()[0].name
        self._rec_input = recogniser.get_inputs()[0].name
        meta = recogniser.get_modelmeta().custom_metadata_map
        # Recent exports embed the character list; older ones need the keys file.
        if "character" in meta:
            self.decoder = CTCLabelDecode(character=meta["character"].splitlines())
        elif keys_path is not None:
            self.decoder = CTCLabelDecode(character_path=keys_path)
        else:
            raise ValueError("the recognition model has no embedded character list and no keys file was given")

    def read(self, rgb: np.ndarray, options: OcrOptions = OcrOptions()) -> list[TextLine]:
        """Detect and recognise text in an RGB uint8 image (H×W×3)."""
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # PP-OCR was trained on OpenCV (BGR) images
        boxes, box_scores = self.detect(bgr, options)
        if len(boxes) == 0 and options.single_line_fallback and looks_like_one_line(bgr):
            h, w = bgr.shape[:2]
            boxes = np.array([[[0, 0], [w, 0], [w, h], [0, h]]], dtype=np.float32)
            box_scores = np.ones(1, dtype=np.float32)
        if len(boxes) == 0:
            return []
        crops = [crop_line(bgr, box) for box in boxes]
        if options.use_angle_classifier and self.classifier is not None:
            crops = self._upright(crops)
        texts, text_scores = self.recognise(crops)
        return [
            TextLine(tuple(map(tuple, box.tolist())), float(bs), text, float(ts))
            for box, bs, text, ts in zip(boxes, box_scores, texts, text_scores, strict=True)
            if ts > options.rec_min_score and text.strip()
        ]

    def detect(self, bgr: np.ndarray, options: OcrOptions) -> tuple[np.ndarray, np.ndarray]:
        height, width = bgr.shape[:2]
        if height < MIN_SIDE or width < MIN_SIDE:
            return np.empty((0, 4, 2), np.float32), np.empty(0, np.float32)
        tensor = detection_input(bgr, options.max_resolution)
        prob_map = self.detector.run(None, {self._det_input: tensor})[0]
        # A fresh post-processor per call: its threshold is per-request state.
        post = DBPostProcess(
            thresh=0.3,
            box_thresh=options.det_min_score,
            max_candidates=1000,
            unclip_ratio=1.6,
            use_dilation=True,
            score_mode="fast",
        )
        boxes, scores = post(prob_map, (height, width))
        if len(boxes) == 0:
            return np.empty((0, 4, 2), np.float32), np.empty(0, np.float32)
        boxes = np.asarray(boxes, dtype=np.float32)
        order = reading_order(boxes)
        return boxes[order], np.asarray(scores, dtype=np.float32)[order]

    def recognise(self, crops: list[np.ndarray]) -> tuple[list[str], list[float]]:
        texts: list[str] = [""] * len(crops)
        scores: list[float] = [0.0] * len(crops)
        # Batches of similar aspect ratio waste less padding.
        order = np.argsort([c.shape[1] / c.shape[0] for c in crops])
        for start in range(0, len(order), self.rec_batch_size):
            batch = order[start : start + self.rec_batch_size]
            max_ratio = max(REC_BASE_WIDTH / REC_HEIGHT, *(crops[i].shape[1] / crops[i].shape[0] for i in batch))
            tensor = np.stack([recognition_input(crops[i], max_ratio) for i in batch])
            logits = self.recogniser.run(None, {self._rec_input: tensor})[0]
            results, _ = self.decoder(logits)
            for index, (text, score) in zip(batch, results, strict=True):
                texts[index], scores[index] = text, float(score)
        return texts, scores

    def _upright(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        name = self.classifier.get_inputs()[0].name
        out = []
        for start in range(0, len(crops), self.rec_batch_size):
            batch = crops[start : start + self.rec_batch_size]
            tensor = np.stack([classifier_input(c) for c in batch])
            probs = self.classifier.run(None, {name: tensor})[0]
            for crop, p in zip(batch, probs, strict=True):
                rotated = int(np.argmax(p)) == 1 and float(np.max(p)) > 0.9
                out.append(cv2.rotate(crop, cv2.ROTATE_180) if rotated else crop)
        return out


def looks_like_one_line(image: np.ndarray, max_height: int = 96) -> bool:
    height, width = image.shape[:2]
    return 8 <= height <= max_height and width >= height


def detection_input(bgr: np.ndarray, max_resolution: int) -> np.ndarray:
    height, width = bgr.shape[:2]
    ratio = min(1.0, float(max_resolution) / min(height, width))
    new_h = max(MIN_SIDE, int(round(int(height * ratio) / 32) * 32))
    new_w = max(MIN_SIDE, int(round(int(width * ratio) / 32) * 32))
    resized = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR)
    tensor = (resized.astype(np.float32) / 255.0 - 0.5) / 0.5
    return tensor.transpose(2, 0, 1)[np.newaxis]


def recognition_input(crop: np.ndarray, max_ratio: float) -> np.ndarray:
    target_w = int(REC_HEIGHT * max_ratio)
    h, w = crop.shape[:2]
    resized_w = min(target_w, int(math.ceil(REC_HEIGHT * w / float(h))))
    resized = cv2.resize(crop, (max(1, resized_w), REC_HEIGHT)).astype(np.float32)
    resized = (resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    padded = np.zeros((3, REC_HEIGHT, target_w), dtype=np.float32)
    padded[:, :, : resized.shape[2]] = resized
    return padded


def classifier_input(crop: np.ndarray, shape: tuple[int, int] = (48, 192)) -> np.ndarray:
    h, w = crop.shape[:2]
    target_h, target_w = shape
    resized_w = min(target_w, int(math.ceil(target_h * w / float(h))))
    resized = cv2.resize(crop, (max(1, resized_w), target_h)).astype(np.float32)
    resized = (resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    padded = np.zeros((3, target_h, target_w), dtype=np.float32)
    padded[:, :, :resized_w] = resized
    return padded


def crop_line(bgr: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Perspective-crop one text quadrilateral; tall crops are vertical text, turned to horizontal."""
    width = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    height = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(box.astype(np.float32), target)
    crop = cv2.warpPerspective(bgr, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if height / width >= 1.5:
        crop = np.rot90(crop)
    return np.ascontiguousarray(crop)


def reading_order(boxes: np.ndarray, line_gap: float = 10.0) -> np.ndarray:
    """Indices of ``boxes`` (N×4×2) top-to-bottom, then left-to-right within a line."""
    if len(boxes) == 0:
        return np.empty(0, dtype=np.int64)
    by_y = np.argsort(boxes[:, 0, 1], kind="stable")
    y_sorted = boxes[by_y, 0, 1]
    line_ids = np.concatenate([[0], np.cumsum(np.abs(np.diff(y_sorted)) >= line_gap)])
    key = line_ids * 1e6 + boxes[by_y, 0, 0]
    return by_y[np.argsort(key, kind="stable")]
