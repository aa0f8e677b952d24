"""``plugin-service models list | fetch NAME | verify``."""

from __future__ import annotations

import logging

import click

from plugin_service.config import load_settings


@click.group()
def models() -> None:
    """Inspect, download and verify model files."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")


@models.command("list")
@click.option("--task", default=None, help="Only this task (ocr, clip, facial-recognition).")
def list_models(task: str | None) -> None:
    """Every known model with the state of its files."""
    from plugin_service.catalog import all_models
    from plugin_service.store.store import ModelStore

    store = ModelStore(load_settings())
    for key, spec in all_models().specs.items():
        if task and spec.task != task:
            continue
        states = {s.state for s in store.status(spec)}
        state = "ready" if states == {"ok"} else ("corrupt" if "corrupt" in states else "not downloaded")
        click.echo(f"{key:50} {state:15} {spec.description}")


@models.command()
@click.argument("names", nargs=-1, required=True)
def fetch(names: tuple[str, ...]) -> None:
    """Download (or resume downloading) the named models and verify them."""
    from plugin_service.catalog import all_models
    from plugin_service.store.catalog import UnknownModelError
    from plugin_service.store.store import ModelStore, ModelUnavailableError

    store = ModelStore(load_settings())
    for name in names:
        try:
            spec = all_models().find(name)
            directory = store.ensure(spec)
        except (UnknownModelError, ModelUnavailableError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{spec.task}/{spec.name}: ready in {directory}")


@models.command()
def verify() -> None:
    """Check the sha256 of every model file present in the store."""
    from plugin_service.catalog import all_models
    from plugin_service.store.store import ModelStore

    store = ModelStore(load_settings())
    bad = 0
    for key, spec in all_models().specs.items():
        for status in store.status(spec):
            if status.state == "corrupt":
                bad += 1
                click.echo(f"CORRUPT {key}: {status.location}")
            elif status.state == "ok":
                click.echo(f"ok      {key}: {status.location}")
    if bad:
        raise click.ClickException(f"{bad} corrupt file(s); 'plugin-service models fetch NAME' downloads them again")


@models.command("export-clip", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def export_clip(ctx: click.Context) -> None:
    """Same as 'plugin-service clip export' (official Chinese-CLIP checkpoint → ONNX)."""
    from plugin_service.commands.clip import export

    export.main(args=ctx.args, prog_name="plugin-service models export-clip", standalone_mode=True)
