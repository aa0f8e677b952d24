"""``plugin-service faces FILE...``: find faces with a pack, and compare people across photos."""

from __future__ import annotations

from pathlib import Path

import click

from plugin_service.config import load_settings


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--model", default="buffalo_l", show_default=True, help="Face pack name (docs/faces.md says where packs come from)."
)
@click.option("--min-score", default=0.7, show_default=True, type=float, help="Detection threshold (Immich's default).")
@click.option(
    "--compare", is_flag=True, help="Also print the cosine similarity of the largest face of each photo to every other."
)
def faces(files, model, min_score, compare) -> None:
    """Print each face's box and score; with --compare, who looks like whom."""
    import numpy as np

    from plugin_service.context import ServiceContext
    from plugin_service.engines.faces.loader import get_face_model
    from plugin_service.errors import ModelLoadError, ServiceError
    from plugin_service.imaging import decode_image, to_array

    settings = load_settings()
    try:
        engine = get_face_model(ServiceContext.from_settings(settings), model)
    except ModelLoadError as exc:
        raise click.ClickException(f"model '{exc.model}' cannot be used: {exc.reason}") from exc
    largest: dict[str, np.ndarray] = {}
    for path in files:
        try:
            rgb = to_array(decode_image(path.read_bytes(), settings.max_image_pixels))
        except ServiceError as exc:
            click.echo(f"{path}: {exc.message}", err=True)
            continue
        found = engine.analyse(rgb, min_score)
        click.echo(f"{path}: {len(found)} face(s)")
        for face in found:
            x1, y1, x2, y2 = (round(v) for v in face.box)
            click.echo(f"  box {x1},{y1},{x2},{y2}  score {face.score:.3f}")
        if found:
            biggest = max(found, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
            if biggest.embedding is not None:
                largest[str(path)] = biggest.embedding
    if compare and len(largest) > 1:
        names = list(largest)
        vectors = np.stack([largest[n] for n in names])
        similarity = vectors @ vectors.T
        click.echo("cosine similarity of the largest faces:")
        for i, name in enumerate(names):
            click.echo(f"  {name}: " + "  ".join(f"{similarity[i, j]:+.3f}" for j in range(len(names))))
