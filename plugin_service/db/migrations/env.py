"""Alembic environment of the zh_search layer: online migrations only, version table in zh_search."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from plugin_service.db.migrations import SCHEMA

config = context.config


def _url() -> str:
    url = (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError("no database URL (plugin-service db --database-url, or alembic -x url=...)")
    return url


def _setting(name: str, default: str) -> str:
    return str(config.attributes.get(name) or context.get_x_argument(as_dictionary=True).get(name) or default)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    engine = None
    if connection is None:
        engine = create_engine(_url(), poolclass=pool.NullPool)
        connection = engine.connect()
    try:
        # Never queue behind Immich's transactions for long (a queued ALTER/DROP would block every
        # later Immich write on the same table): give up after lock_timeout with a clear message.
        connection.execute(text("SELECT set_config('lock_timeout', :v, false)"), {"v": _setting("lock_timeout", "5s")})
        connection.execute(
            text("SELECT set_config('statement_timeout', :v, false)"), {"v": _setting("statement_timeout", "10min")}
        )
        # alembic's own table lives in our schema too: nothing of ours in Immich's `public`
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        connection.commit()
        context.configure(
            connection=connection, target_metadata=None, version_table_schema=SCHEMA, transaction_per_migration=True
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        if engine is not None:
            connection.close()
            engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("the zh_search migrations run online only (they inspect the database)")
run_migrations_online()
