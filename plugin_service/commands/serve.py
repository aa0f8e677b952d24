"""``plugin-service serve``."""

from __future__ import annotations

import logging

import click

from plugin_service.config import load_settings


@click.command()
@click.option("--host", default=None, help="Bind address (default 127.0.0.1; PLUGIN_SERVICE_HOST).")
@click.option("--port", type=int, default=None, help="Port (default 3003; PLUGIN_SERVICE_PORT).")
@click.option("--model-dir", default=None, help="Model cache directory (PLUGIN_SERVICE_MODEL_DIR).")
@click.option("--offline", is_flag=True, default=None, help="Never download; fail fast when a model file is missing.")
@click.option("--preload", default=None, help="Comma-separated task:type:modelName to load at start.")
def serve(host, port, model_dir, offline, preload) -> None:
    """Run the ML server (Immich /predict, /ping; MT Photos API)."""
    from plugin_service.runtime import tune_malloc

    settings = load_settings(host=host, port=port, model_dir=model_dir, offline=offline, preload=preload)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Before any thread starts (uvicorn's loop, the inference pools): arenas are made per thread.
    if not tune_malloc(settings.malloc_arena_max, settings.malloc_mmap_threshold):
        logging.getLogger(__name__).info("malloc tuning not applied (not glibc)")

    from plugin_service.app import create_app
    from plugin_service.http_server import run

    if settings.host not in ("127.0.0.1", "localhost", "::1") and not (settings.client_allow or settings.shared_secret):
        logging.getLogger(__name__).warning(
            "listening on %s with neither PLUGIN_SERVICE_CLIENT_ALLOW nor PLUGIN_SERVICE_SHARED_SECRET: "
            "anyone who can reach the port can use it (docs/gateway.md)",
            settings.host,
        )
    run(create_app(settings), settings)
