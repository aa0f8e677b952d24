"""Pack name → loaded ``FaceModel``: a local pack directory first, else the model store."""

from __future__ import annotations

import logging
from pathlib import Path

from plugin_service.context import ServiceContext
from plugin_service.engines.faces.catalog import FACE_CATALOG
from plugin_service.engines.faces.model import FaceModel
from plugin_service.engines.faces.pack import PackFiles, PackNotFound, find_pack_files
from plugin_service.engines.faces.recognition import Recogniser
from plugin_service.engines.faces.scrfd import ScrfdDetector
from plugin_service.errors import ModelLoadError
from plugin_service.store.catalog import UnknownModelError
from plugin_service.store.store import ModelUnavailableError

log = logging.getLogger(__name__)
TASK = "facial-recognition"


def get_face_model(ctx: ServiceContext, name: str) -> FaceModel:
    return ctx.models.get((TASK, name), lambda: load_face_model(ctx, name), model=name)


def local_pack(ctx: ServiceContext, name: str) -> PackFiles | None:
    """A pack already on disk: ``face_pack_dir/<name>``, ``face_pack_dir/facial-recognition/<name>``, or an
    InsightFace zip unpacked into the store's own folder for it."""
    candidates = []
    if ctx.settings.face_pack_dir:
        root = Path(ctx.settings.face_pack_dir).expanduser()
        candidates += [root / name, root / TASK / name]
    candidates.append(Path(ctx.settings.model_dir).expanduser() / TASK / name)
    for directory in candidates:
        if directory.is_dir():
            try:
                files = find_pack_files(directory)
            except PackNotFound:
                continue
            # A half-downloaded store folder (detector only) is completed by the store instead.
            if files.recogniser is not None:
                return files
    return None


def load_face_model(ctx: ServiceContext, name: str) -> FaceModel:
    if "/" in name or "\\" in name or name.startswith("."):
        raise ModelLoadError(name, "not a face pack name")
    files = local_pack(ctx, name)
    if files is None:
        try:
            spec = FACE_CATALOG.find(name, TASK)
        except UnknownModelError as exc:
            raise ModelLoadError(
                name,
                "unknown face pack and none found on disk (known: buffalo_l, buffalo_m, buffalo_s, antelopev2; "
                f"or put a pack in PLUGIN_SERVICE_FACE_PACK_DIR/{name}/)",
            ) from exc
        try:
            files = find_pack_files(ctx.store.ensure(spec))
        except (ModelUnavailableError, PackNotFound) as exc:
            raise ModelLoadError(
                name,
                f"{exc}. Face packs can also be used from disk: "
                f"set PLUGIN_SERVICE_FACE_PACK_DIR to a folder holding {name}/ (docs/faces.md)",
            ) from exc
    if files.recogniser is None:
        raise ModelLoadError(name, "the pack has a detector but no recognition model")
    log.info(
        "face pack %s: %s layout, detector %s, recogniser %s",
        name,
        files.layout,
        files.detector.name,
        files.recogniser.name,
    )
    try:
        detector = ScrfdDetector(ctx.onnx_session(files.detector), input_size=ctx.settings.face_detection_size)
        recogniser = Recogniser(ctx.onnx_session(files.recogniser))
    except ValueError as exc:
        raise ModelLoadError(name, str(exc)) from exc
    return FaceModel(name, detector, recogniser)
