"""Where a face pack's two ONNX files are, in either layout it is shipped in.

* Immich's Hugging Face layout (``immich-app/<pack>``; also Immich ML's cache
  ``<cache>/facial-recognition/<pack>/``): ``detection/model.onnx`` and
  ``recognition/model.onnx``.
* InsightFace's zip layout (``~/.insightface/models/<pack>/``, the
  ``model-zoo/<pack>.zip`` release assets unpacked): ``det_10g.onnx`` +
  ``w600k_r50.onnx`` (buffalo_l), ``det_2.5g.onnx`` (buffalo_m),
  ``det_500m.onnx`` + ``w600k_mbf.onnx`` (buffalo_s/sc),
  ``scrfd_10g_bnkps.onnx`` + ``glintr100.onnx`` (antelopev2).  The landmark
  and gender/age models in those zips are not used.  Some zips unpack into a
  nested ``<pack>/<pack>/`` folder; that is found too.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

IMMICH_DETECTION = "detection/model.onnx"
IMMICH_RECOGNITION = "recognition/model.onnx"
# File-name patterns of InsightFace model-zoo detectors and recognisers.
DETECTOR_PATTERNS = ("det_*.onnx", "scrfd*.onnx")
RECOGNISER_PATTERNS = (
    "w600k*.onnx",
    "glint*.onnx",
    "*arcface*.onnx",
    "*r100*.onnx",
    "*r50*.onnx",
    "*r34*.onnx",
    "*r18*.onnx",
    "*mbf*.onnx",
)


class PackNotFound(FileNotFoundError):
    pass


@dataclass(frozen=True)
class PackFiles:
    directory: Path
    detector: Path
    recogniser: Path | None
    layout: str  # "immich" | "insightface"


def find_pack_files(directory: Path) -> PackFiles:
    """The detector and recogniser inside ``directory`` (raises ``PackNotFound`` saying what is missing)."""
    directory = Path(directory)
    for candidate in (directory, directory / directory.name):
        files = _immich_layout(candidate) or _insightface_layout(candidate)
        if files is not None:
            return files
    present = sorted(p.name for p in directory.glob("*")) if directory.is_dir() else []
    raise PackNotFound(
        f"no face pack in {directory}: expected {IMMICH_DETECTION} + {IMMICH_RECOGNITION} (Immich layout) "
        f"or det_*.onnx/scrfd*.onnx + w600k*/glint*.onnx (InsightFace layout); found {present or 'nothing'}"
    )


def _immich_layout(directory: Path) -> PackFiles | None:
    detector = directory / IMMICH_DETECTION
    if not detector.is_file():
        return None
    recogniser = directory / IMMICH_RECOGNITION
    return PackFiles(directory, detector, recogniser if recogniser.is_file() else None, "immich")


def _insightface_layout(directory: Path) -> PackFiles | None:
    if not directory.is_dir():
        return None
    onnx_files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix == ".onnx")
    detector = _first_match(onnx_files, DETECTOR_PATTERNS)
    if detector is None:
        return None
    recogniser = _first_match([p for p in onnx_files if p != detector], RECOGNISER_PATTERNS)
    return PackFiles(directory, detector, recogniser, "insightface")


def _first_match(paths: list[Path], patterns: tuple[str, ...]) -> Path | None:
    for pattern in patterns:
        for path in paths:
            if fnmatchcase(path.name.lower(), pattern):
                return path
    return None
