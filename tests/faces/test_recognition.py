"""Alignment and the recogniser: synthetic ArcFace-signature graphs for shapes and
normalisation, the real SFace recogniser (128-d) for embedding quality."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from plugin_service.engines.faces import ARCFACE_TEMPLATE, Recogniser, ScrfdDetector, align_face, similarity_transform
from tests.faces._models import scrfd_path
from tests.faces.conftest import load_rgb


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_similarity_transform_recovers_a_known_transform():
    angle, scale, shift = 0.3, 2.5, np.array([40.0, -7.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = (ARCFACE_TEMPLATE - shift) @ np.linalg.inv(scale * rotation).T  # template = scale·R·source + shift
    matrix = similarity_transform(source)
    np.testing.assert_allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_similarity_transform_never_mirrors():
    mirrored = ARCFACE_TEMPLATE * [-1, 1]
    assert np.linalg.det(similarity_transform(mirrored)[:, :2]) > 0


def test_align_face_puts_landmarks_on_the_template():
    rgb = np.zeros((400, 300, 3), np.uint8)
    landmarks = ARCFACE_TEMPLATE * 2 + [60, 90]
    for x, y in landmarks.round().astype(int):
        rgb[y - 2 : y + 3, x - 2 : x + 3] = 255
    crop = align_face(rgb, landmarks)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    for x, y in ARCFACE_TEMPLATE.round().astype(int):
        assert crop[y, x].min() > 100  # each bright dot lands on its template point


def test_embeddings_are_512_unit_vectors_for_any_number_of_faces(graphs):
    recogniser = Recogniser(_session(graphs["arcface"]))
    crops = np.random.default_rng(0).integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    embeddings = recogniser.embed(crops)
    assert recogniser.dimension == 512 and embeddings.shape == (5, 512) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(
        recogniser.embed(crops[2:3])[0], embeddings[2], rtol=1e-4, atol=1e-6
    )  # batching is invisible
    assert recogniser.embed(crops[:0]).shape == (0, 512)


def test_fixed_batch_graphs_run_one_face_at_a_time(graphs):
    crops = np.random.default_rng(1).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    fixed = Recogniser(_session(graphs["batch1"])).embed(crops)
    dynamic = Recogniser(_session(graphs["arcface"])).embed(crops)
    np.testing.assert_allclose(fixed, dynamic, rtol=1e-4, atol=1e-6)


def test_input_is_rgb_nchw_normalised_by_127_5(graphs):
    crop = np.zeros((1, 112, 112, 3), np.uint8)
    crop[..., 0], crop[..., 1], crop[..., 2] = 255, 0, 100  # red, green, blue planes
    crop[0, 0, :10, 0] = np.arange(10) * 20  # a ramp in the red plane's first row
    probe = Recogniser(_session(graphs["probe"])).embed(crop)[0]  # the first 512 fed values: red plane, rows 0..4
    fed = np.full(512, (255 - 127.5) / 127.5, np.float32)
    fed[:10] = (np.arange(10) * 20 - 127.5) / 127.5
    np.testing.assert_allclose(probe, fed / np.linalg.norm(fed), rtol=1e-5)


def test_a_recogniser_for_another_crop_size_is_refused(tmp_path):
    from tests.faces._models import arcface_signature_graph

    onnx = pytest.importorskip("onnx")
    path = arcface_signature_graph(tmp_path / "g.onnx", kind="probe")
    model = onnx.load(str(path))
    for dim in model.graph.input[0].type.tensor_type.shape.dim[2:]:
        dim.dim_value = 96
    onnx.save(model, str(path))
    with pytest.raises(ValueError, match="112"):
        Recogniser(_session(path))


def _auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Probability that a same-person pair scores above a different-person pair (ties count half)."""
    greater = (positives[:, None] > negatives[None, :]).mean()
    ties = (positives[:, None] == negatives[None, :]).mean()
    return float(greater + 0.5 * ties)


@pytest.mark.slow
def test_real_recogniser_separates_identities(sface, ground_truth):
    """SFace (real weights, same 5-point alignment) on the labelled identities: ROC AUC ≥ 0.99."""
    detector = ScrfdDetector(_session(scrfd_path()))
    recogniser = Recogniser(_session(sface), mean=0.0, std=1.0, bgr=True)  # SFace: BGR, raw 0–255
    groups = ("deepface", "face-api.js", "face_recognition", "FaceONNX")
    positives, negatives, report = [], [], {}
    for group in groups:
        embeddings, labels = [], []
        for relative, identity in ground_truth[group]["identities"].items():
            rgb = load_rgb(relative)
            if group == "face-api.js":  # tight crops: give the detector some context
                pad = max(rgb.shape[:2]) // 2
                rgb = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)))
            faces = detector.detect(rgb, 0.5)
            assert faces, relative
            largest = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
            embeddings.append(recogniser.embed(align_face(rgb, largest.landmarks)[None])[0])
            labels.append(identity)
        vectors, names = np.array(embeddings), np.array(labels)
        similarity = vectors @ vectors.T
        upper = np.triu_indices(len(names), 1)
        same = (names[:, None] == names[None, :])[upper]
        positives.append(similarity[upper][same])
        negatives.append(similarity[upper][~same])
        report[group] = _auc(positives[-1], negatives[-1])
    auc = _auc(np.concatenate(positives), np.concatenate(negatives))
    print(f"SFace verification ROC AUC: all {auc:.4f}, " + ", ".join(f"{g} {v:.4f}" for g, v in report.items()))
    assert auc >= 0.99 and min(report.values()) >= 0.99, report
