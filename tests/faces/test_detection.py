"""SCRFD detection with the real det_500m / scrfd_2.5g detectors on shared/data/faces."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from plugin_service.engines.faces.scrfd import ScrfdDetector, anchor_centers, decode, letterbox, nms
from tests.faces._models import scrfd_path
from tests.faces.conftest import load_rgb


@pytest.fixture(scope="module", params=["det_500m.onnx", "scrfd_2.5g.onnx"])
def detector(request) -> ScrfdDetector:
    detector = ScrfdDetector(ort.InferenceSession(str(scrfd_path(request.param)), providers=["CPUExecutionProvider"]))
    detector.file_name = request.param  # type: ignore[attr-defined]
    return detector


def test_face_counts_match_ground_truth(detector, ground_truth):
    # The reference counts were taken with det_500m at threshold 0.5 (and YuNet agreeing).
    # The stronger 2.5G model finds the same faces plus more of the small ones in oscar.jpg's crowd.
    for item in ground_truth["detection"]["items"]:
        faces = detector.detect(load_rgb(item["file"]), 0.5)
        if detector.file_name == "det_500m.onnx" or "oscar" not in item["file"]:
            assert len(faces) == item["faces"], item["file"]
        else:
            assert item["faces"] <= len(faces) <= item["faces"] * 1.5, item["file"]


def test_boxes_and_landmarks_within_a_few_pixels_of_reference(detector, ground_truth):
    for item in ground_truth["detection"]["items"]:
        if "bbox_xyxy" not in item:
            continue
        (face,) = detector.detect(load_rgb(item["file"]), 0.5)
        reference = np.array(item["bbox_xyxy"], dtype=float)
        size = reference[2] - reference[0]
        # The reference is SCRFD-2.5G's own output (cospectrum/scrfd's test); 500M is a smaller network.
        same_network = "2.5g" in detector.file_name
        box_tolerance = 4 if same_network else max(6.0, 0.03 * size)
        kps_tolerance = 4 if same_network else 0.05 * size
        assert np.abs(np.round(face.box) - reference).max() <= box_tolerance, (item["file"], face.box, reference)
        landmarks = np.array(
            [item["kps"][k] for k in ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")], dtype=float
        )
        assert np.abs(face.landmarks - landmarks).max() <= kps_tolerance, (item["file"], face.landmarks)
        assert 0.5 <= face.score <= 1.0


def test_threshold_and_order(detector):
    rgb = load_rgb("faces/deepinsight__insightface/python-package/insightface/data/images/t1.jpg")
    loose = detector.detect(rgb, 0.3)
    scores = [f.score for f in loose]
    assert len(loose) >= 6 and scores == sorted(scores, reverse=True)
    threshold = float(np.median(scores))
    strict = detector.detect(rgb, threshold)
    assert 0 < len(strict) < len(loose)
    assert [f.score for f in strict] == [s for s in scores if s >= threshold]


def test_no_face_in_a_blank_image_and_tiny_images_work(detector):
    assert detector.detect(np.full((480, 640, 3), 127, np.uint8), 0.5) == []
    assert detector.detect(np.zeros((3, 2, 3), np.uint8), 0.5) == []


def test_boxes_are_not_clipped_to_the_image(detector):
    # selfie-many-people.jpg has a face cut by the left border: Immich keeps the full box (x1 < 0).
    faces = detector.detect(load_rgb("faces/serengil__deepface/tests/unit/dataset/selfie-many-people.jpg"), 0.5)
    assert min(f.box[0] for f in faces) < 0


def test_letterbox_keeps_aspect_and_places_top_left():
    rgb = np.full((100, 200, 3), 255, np.uint8)
    canvas, scale = letterbox(rgb, 640)
    assert scale == pytest.approx(3.2)
    assert canvas.shape == (640, 640, 3) and canvas[:320].min() == 255 and canvas[320:].max() == 0


def _synthetic_heads(size: int = 640, batch_dim: bool = False, shuffle: bool = False):
    """SCRFD-shaped outputs with one face: anchor 1 of cell (row 10, col 20) at stride 8."""
    heads = []
    for width in (1, 4, 10):
        for stride in (8, 16, 32):
            heads.append(np.zeros(((size // stride) ** 2 * 2, width), np.float32))
    index = (10 * (size // 8) + 20) * 2 + 1
    heads[0][index] = 0.9
    heads[3][index] = [2, 3, 4, 5]
    heads[6][index] = np.arange(10)
    if batch_dim:
        heads = [h[None] for h in heads]
    return heads[::-1] if shuffle else heads


@pytest.mark.parametrize("batch_dim,shuffle", [(False, False), (True, False), (False, True)])
def test_decode_anchor_geometry(batch_dim, shuffle):
    scores, boxes, kps = decode(_synthetic_heads(batch_dim=batch_dim, shuffle=shuffle), 640)
    best = int(np.argmax(scores))
    cx, cy = 20 * 8, 10 * 8  # centres are cell corners (no +0.5), as insightface and Immich
    assert scores[best] == pytest.approx(0.9)
    np.testing.assert_allclose(boxes[best], [cx - 16, cy - 24, cx + 32, cy + 40])
    np.testing.assert_allclose(kps[best], np.tile([cx, cy], 5) + np.arange(10) * 8)
    assert len(anchor_centers(640, 8)) == 80 * 80 * 2


def test_decode_rejects_outputs_of_another_size():
    with pytest.raises(ValueError, match="stride"):
        decode(_synthetic_heads(640), 320)


def test_nms_suppresses_overlaps_in_score_order():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]], np.float32)
    scores = np.array([0.8, 0.9, 0.7, 0.6], np.float32)
    assert nms(boxes, scores, 0.4) == [1, 2]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.4) == []


def test_input_size_is_configurable_and_checked():
    session = ort.InferenceSession(str(scrfd_path()), providers=["CPUExecutionProvider"])
    small = ScrfdDetector(session, input_size=320)
    rgb = load_rgb("faces/deepinsight__insightface/python-package/insightface/data/images/t1.jpg")
    assert small.input_size == 320 and len(small.detect(rgb, 0.5)) == 6
    with pytest.raises(ValueError, match="multiple of 32"):
        ScrfdDetector(session, input_size=650)
