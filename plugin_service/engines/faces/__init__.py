"""Face detection (SCRFD) and recognition (ArcFace) on onnxruntime + numpy.

No ``insightface`` package: the few pieces of geometry it provides (SCRFD
decoding, the 5-point similarity alignment) are small and live here, so the
pipeline matches Immich v3.1.0's own port (``facial_recognition/_ops.py``).
No HTTP in here: the Immich task and the MT Photos routes are thin adapters.
"""

from plugin_service.engines.faces.align import ARCFACE_TEMPLATE, align_face, similarity_transform
from plugin_service.engines.faces.model import Face, FaceModel
from plugin_service.engines.faces.recognition import Recogniser
from plugin_service.engines.faces.scrfd import Detection, ScrfdDetector

__all__ = [
    "ARCFACE_TEMPLATE",
    "Detection",
    "Face",
    "FaceModel",
    "Recogniser",
    "ScrfdDetector",
    "align_face",
    "similarity_transform",
]
