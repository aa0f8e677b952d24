"""``plugin-service ocr FILE...``: read the text in images, for people."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import msgspec

from plugin_service.config import load_settings
from plugin_service.engines.ocr.model import OcrOptions


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", default=None, help="OCR model name (default: PLUGIN_SERVICE_OCR_DEFAULT_MODEL).")
@click.option("--json", "as_json", is_flag=True, help="Print Immich's /predict response shape instead of text.")
@click.option("--min-det-score", default=OcrOptions.det_min_score, show_default=True, type=float)
@click.option("--min-rec-score", default=OcrOptions.rec_min_score, show_default=True, type=float)
@click.option("--max-resolution", default=OcrOptions.max_resolution, show_default=True, type=int)
@click.option(
    "--exif/--no-exif", default=True, show_default=True, help="Apply EXIF orientation (photos straight from a camera)."
)
def ocr(files, model, as_json, min_det_score, min_rec_score, max_resolution, exif) -> None:
    """Print the text found in each image, one line per text line."""
    from plugin_service.context import ServiceContext
    from plugin_service.engines.ocr import OcrOptions, get_ocr_model
    from plugin_service.errors import ModelLoadError, ServiceError
    from plugin_service.imaging import decode_image, to_array
    from plugin_service.immich.tasks.ocr import immich_ocr_response

    settings = load_settings()
    ctx = ServiceContext.from_settings(settings)
    name = model or settings.ocr_default_model
    try:
        engine = get_ocr_model(ctx, name)
    except ModelLoadError as exc:
        raise click.ClickException(f"model '{exc.model}' cannot be used: {exc.reason}") from exc
    options = OcrOptions(
        det_min_score=min_det_score,
        rec_min_score=min_rec_score,
        max_resolution=max_resolution,
        single_line_fallback=True,
        use_angle_classifier=settings.ocr_use_angle_classifier,
    )
    failed = False
    for path in files:
        try:
            image = decode_image(path.read_bytes(), settings.max_image_pixels, exif_transpose=exif)
        except ServiceError as exc:
            click.echo(f"{path}: {exc.message}", err=True)
            failed = True
            continue
        lines = engine.read(to_array(image), options)
        if as_json:
            body = {
                "ocr": immich_ocr_response(lines, image.width, image.height),
                "imageHeight": image.height,
                "imageWidth": image.width,
            }
            click.echo(msgspec.json.encode(body).decode())
        else:
            if len(files) > 1:
                click.echo(f"== {path}")
            for line in lines:
                click.echo(line.text)
    if failed:
        sys.exit(1)
