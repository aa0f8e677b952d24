"""``plugin-service`` command line.

Sub-commands live in ``plugin_service.commands`` (the top layer: they may use
any part) except ``db``, which is the database layer's own and touches nothing
else.  Each is imported only when used, so ``plugin-service ocr`` never imports
SQLAlchemy and ``db`` never imports onnxruntime.
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command or group
SUBCOMMANDS: dict[str, str] = {
    "serve": "plugin_service.commands.serve:serve",
    "ocr": "plugin_service.commands.ocr:ocr",
    "models": "plugin_service.commands.models:models",
    "db": "plugin_service.db.cli:db",
    "clip": "plugin_service.commands.clip:clip",
    "gateway": "plugin_service.commands.gateway:gateway",
    "faces": "plugin_service.commands.faces:faces",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        try:
            return getattr(importlib.import_module(module_name), attribute)
        except ImportError as exc:
            # A missing optional part must not break every other command.
            message = f"'{name}' is not available in this installation: {exc}"

            @click.command(name=name, help=f"(unavailable: {exc})")
            def unavailable() -> None:
                raise click.ClickException(message)

            return unavailable


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Chinese OCR, Chinese-CLIP and faces for Immich: ML server, MT Photos API and gateway."""


if __name__ == "__main__":
    main()
