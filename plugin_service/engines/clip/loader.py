"""Model name → loaded CLIP encoders, through the model store and the model cache.

Image and text encoders are cached separately: a search box needs only the
text tower (about half the memory), a library scan only the image tower.
"""

from __future__ import annotations

import logging
from pathlib import Path

from plugin_service.context import ServiceContext
from plugin_service.engines.clip.architectures import ClipArchitecture, UnknownClipModel, parse_aliases, resolve
from plugin_service.engines.clip.catalog import CLIP_CATALOG, TEXTUAL, VISUAL
from plugin_service.engines.clip.encoder import ImageEncoder, TextEncoder
from plugin_service.errors import ModelLoadError
from plugin_service.store.store import ModelUnavailableError

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "int8", "fp16")


def architecture_for(ctx: ServiceContext, model_name: str) -> ClipArchitecture:
    try:
        return resolve(model_name, parse_aliases(ctx.settings.clip_aliases))
    except UnknownClipModel as exc:
        raise ModelLoadError(model_name, str(exc)) from exc


def image_encoder(ctx: ServiceContext, model_name: str) -> ImageEncoder:
    arch = architecture_for(ctx, model_name)
    return ctx.models.get(
        ("clip", "visual", arch.name),
        lambda: ImageEncoder(ctx.onnx_session(_model_file(ctx, arch, VISUAL)), arch),
        model=model_name,
    )


def text_encoder(ctx: ServiceContext, model_name: str) -> TextEncoder:
    arch = architecture_for(ctx, model_name)
    return ctx.models.get(
        ("clip", "textual", arch.name),
        lambda: TextEncoder(ctx.onnx_session(_model_file(ctx, arch, TEXTUAL)), arch),
        model=model_name,
    )


def _model_file(ctx: ServiceContext, arch: ClipArchitecture, relpath: str) -> Path:
    spec = CLIP_CATALOG.find(arch.name, "clip")
    precision = ctx.settings.clip_precision
    if precision not in PRECISIONS:
        raise ModelLoadError(
            arch.name, f"PLUGIN_SERVICE_CLIP_PRECISION must be one of {', '.join(PRECISIONS)}, not {precision!r}"
        )
    if precision != "fp32":
        variant = ctx.store.model_dir(spec) / relpath.replace("model.onnx", f"model.{precision}.onnx")
        if not variant.exists():
            raise ModelLoadError(
                arch.name,
                f"{relpath.replace('model.onnx', f'model.{precision}.onnx')} is missing; create it with "
                f"'plugin-service clip export {arch.name} --precision {precision}'",
            )
        return variant
    file = next(f for f in spec.files if f.path == relpath)
    if not file.sources and not (ctx.store.model_dir(spec) / relpath).exists():
        raise ModelLoadError(
            arch.name,
            f"{relpath} is missing and no ready ONNX export is published for it; create it with "
            f"'plugin-service clip export {arch.name}' (needs the torch extra)",
        )
    try:
        return ctx.store.file_path(spec, relpath)
    except ModelUnavailableError as exc:
        raise ModelLoadError(arch.name, str(exc)) from exc
