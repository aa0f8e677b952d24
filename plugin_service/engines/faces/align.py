"""5-point similarity alignment to the ArcFace 112×112 template.

The transform is Umeyama's least-squares similarity (rotation, uniform scale,
translation), the same estimate insightface takes from scikit-image and Immich
ports to numpy; every ArcFace-family recogniser (and SFace) was trained on
crops made this way, so the embedding quality depends on matching it.
"""

from __future__ import annotations

import cv2
import numpy as np

ALIGNED_SIZE = 112

# Left eye, right eye, nose tip, left mouth corner, right mouth corner (insightface ``arcface_dst``).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray = ARCFACE_TEMPLATE) -> np.ndarray:
    """2×3 matrix of the similarity that maps points ``src`` onto ``dst`` best (least squares)."""
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(covariance)
    # Reflections are not allowed: flip the smallest axis when the best orthogonal map mirrors.
    d = np.array([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ np.diag(d) @ vt
    variance = (src_c**2).sum() / len(src)
    scale = float((s * d).sum() / variance) if variance > 0 else 1.0
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """The ``size``×``size`` crop (same channels and dtype as ``image``) with the landmarks on the template."""
    template = ARCFACE_TEMPLATE * (size / ALIGNED_SIZE)
    matrix = similarity_transform(landmarks, template)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
