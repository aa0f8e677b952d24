"""Immich ``facial-recognition`` task: SCRFD detection + ArcFace recognition.

Output exactly as Immich v3.1.0 ML:
``[{"boundingBox": {x1, y1, x2, y2}, "embedding": "[512 floats]", "score"}]``
with boxes rounded to whole pixels of the received image (kept as floats,
``690.0``, like Immich) and not clipped; ``[]`` when there is no face.
"""

from __future__ import annotations

import numpy as np

from plugin_service.context import ServiceContext
from plugin_service.engines.faces.align import align_face
from plugin_service.engines.faces.loader import get_face_model
from plugin_service.errors import BadRequest, InvalidRequestFormat, ModelError
from plugin_service.imaging import to_array
from plugin_service.immich.embedding import embedding_string
from plugin_service.immich.protocol import ImagePayload, ModelEntry, Payload

# Immich's face_search column is vector(512): anything else cannot be stored.
IMMICH_EMBEDDING_DIM = 512


def run(ctx: ServiceContext, types: dict[str, ModelEntry], payload: Payload) -> list | dict:
    if not isinstance(payload, ImagePayload):
        raise BadRequest("Facial recognition needs an image")
    detection = types.get("detection")
    if detection is None:  # parse_entries already refuses recognition alone
        raise BadRequest("Task facial-recognition/recognition depends on output of facial-recognition/detection")
    min_score = min_score_option(detection)
    detector = get_face_model(ctx, detection.modelName)
    rgb = to_array(payload.image)
    detections = detector.detect(rgb, min_score)
    recognition = types.get("recognition")
    if recognition is None:
        # Immich answers a detection-only request with the detector's own output.
        return {
            "boxes": [[float(v) for v in np.round(d.box)] for d in detections],
            "scores": [d.score for d in detections],
            "landmarks": [d.landmarks.tolist() for d in detections],
        }
    if not detections:
        return []
    model = detector if recognition.modelName == detection.modelName else get_face_model(ctx, recognition.modelName)
    embeddings = model.recogniser.embed(np.stack([align_face(rgb, d.landmarks) for d in detections]))
    if embeddings.shape[1] != IMMICH_EMBEDDING_DIM:
        raise ModelError(
            f"Face model '{recognition.modelName}' gives {embeddings.shape[1]}-d embeddings; "
            f"Immich stores {IMMICH_EMBEDDING_DIM}-d face vectors"
        )
    return [
        {
            "boundingBox": dict(zip(("x1", "y1", "x2", "y2"), (float(v) for v in np.round(d.box)), strict=True)),
            "embedding": embedding_string(embedding),
            "score": d.score,
        }
        for d, embedding in zip(detections, embeddings, strict=True)
    ]


def min_score_option(detection: ModelEntry) -> float:
    """``minScore`` is required, as in Immich v3.1.0 (the server always sends it; default 0.7)."""
    value = detection.options.get("minScore")
    if value is None:
        raise InvalidRequestFormat(
            "Invalid request format: facial-recognition.detection.options.minScore is required (Immich sends 0.7 "
            "by default)"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InvalidRequestFormat(
            f"Invalid request format: facial-recognition.detection.options.minScore must be a number between 0 and "
            f"1, got {value!r}"
        )
    return float(value)
