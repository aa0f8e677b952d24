"""``plugin-service clip export | import-mtphotos | encode``."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import click

from plugin_service.config import load_settings
from plugin_service.engines.clip.architectures import ARCHITECTURES


@click.group()
def clip() -> None:
    """Chinese-CLIP models: export official checkpoints to ONNX, import MT Photos files."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")


@clip.command()
@click.argument("name", type=click.Choice(sorted(ARCHITECTURES)))
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Official .pt checkpoint (default: download it).",
)
@click.option(
    "--random-weights", is_flag=True, help="Keep cn_clip's random initialisation (tests and benchmarks only)."
)
@click.option(
    "--precision", "precisions", multiple=True, type=click.Choice(["int8", "fp16"]), help="Also write quantised copies."
)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Target directory (default: the model store)."
)
def export(
    name: str, checkpoint: Path | None, random_weights: bool, precisions: tuple[str, ...], out: Path | None
) -> None:
    """Convert a Chinese-CLIP checkpoint into visual/ and textual/ ONNX models (needs torch + cn_clip)."""
    from plugin_service.engines.clip.catalog import CLIP_CATALOG, checkpoint_spec
    from plugin_service.store.store import ModelStore, ModelUnavailableError

    store = ModelStore(load_settings())
    if checkpoint is None and not random_weights:
        spec = checkpoint_spec(name)
        try:
            checkpoint = store.ensure(spec) / spec.files[0].path
        except ModelUnavailableError as exc:
            raise click.ClickException(f"{exc}; or pass --checkpoint FILE") from exc
    try:
        from plugin_service.engines.clip.export import export_architecture
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise click.ClickException(f"export needs the torch extra: pip install '.[torch]' ({exc})") from exc
    target = out or store.model_dir(CLIP_CATALOG.find(name, "clip"))
    paths = export_architecture(name, target, None if random_weights else checkpoint, precisions)
    for label, path in paths.items():
        click.echo(f"{label:14} {path} ({path.stat().st_size / 1e6:.0f} MB)")


@clip.command("import-mtphotos")
@click.option(
    "--image",
    "image_model",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="vit-b-16.img.fp32.onnx",
)
@click.option(
    "--text",
    "text_model",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="vit-b-16.txt.fp32.onnx",
)
@click.option(
    "--name", default="chinese-clip-vit-base-patch16", type=click.Choice(sorted(ARCHITECTURES)), show_default=True
)
def import_mtphotos(image_model: Path, text_model: Path, name: str) -> None:
    """Use the ONNX files MT Photos users already have (official export recipe) for NAME."""
    import onnxruntime as ort

    from plugin_service.engines.clip.catalog import CLIP_CATALOG, TEXTUAL, VISUAL
    from plugin_service.store.store import ModelStore

    arch = ARCHITECTURES[name]
    for path, expected in ((image_model, "image"), (text_model, "text")):
        try:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types
            raise click.ClickException(f"{path} is not a loadable ONNX model: {exc}") from exc
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if inputs[0].name != expected or outputs[0].shape[-1] != arch.embed_dim:
            raise click.ClickException(
                f"{path}: expected input '{expected}' and {arch.embed_dim}-d output for {name}, "
                f"found input '{inputs[0].name}' and output shape {outputs[0].shape}"
            )
    target = ModelStore(load_settings()).model_dir(CLIP_CATALOG.find(name, "clip"))
    for source, relpath in ((image_model, VISUAL), (text_model, TEXTUAL)):
        destination = target / relpath
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = destination.with_name(destination.name + ".part")
        shutil.copyfile(source, tmp)
        tmp.replace(destination)
        extra = source.with_name(source.name + ".extra_file")
        if extra.exists():  # fp16 exports keep weights in a sidecar the .onnx refers to by name
            shutil.copyfile(extra, destination.with_name(extra.name))
        click.echo(f"{relpath}: {destination}")
    click.echo(f"{name} is ready; Immich can now use it for smart search.")


@clip.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--model", default="chinese-clip-vit-base-patch16", show_default=True)
def encode(texts: tuple[str, ...], model: str) -> None:
    """Print text embeddings (a quick check that a model loads and answers)."""
    from plugin_service.context import ServiceContext
    from plugin_service.engines.clip.loader import text_encoder
    from plugin_service.errors import ModelLoadError
    from plugin_service.immich.embedding import embedding_string

    ctx = ServiceContext.from_settings(load_settings())
    try:
        vectors = text_encoder(ctx, model).encode(list(texts))
    except ModelLoadError as exc:
        raise click.ClickException(f"model '{exc.model}' cannot be used: {exc.reason}") from exc
    for text, vector in zip(texts, vectors, strict=True):
        click.echo(f"{text}\t{embedding_string(vector)[:80]}… ({len(vector)} floats)")
