"""Alembic, driven from code: the migrations ship inside the installed package (``plugin_service.db.migrations``)."""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text

from plugin_service.db import migrations

SCHEMA = migrations.SCHEMA


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations.PACKAGE_DIR))
    config.set_main_option("version_locations", str(migrations.PACKAGE_DIR / "versions"))
    config.set_main_option("path_separator", "os")
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Downgrade; to base also drops the then empty schema (alembic's version table included)."""
    command.downgrade(alembic_config(url), revision)
    if revision == "base":
        engine = create_engine(url, poolclass=pool.NullPool)
        with engine.begin() as conn:
            leftovers = conn.execute(text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relname NOT IN ('alembic_version', 'alembic_version_pkc')"), {"s": SCHEMA}).scalar()
            functions = conn.execute(text(
                "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :s"),
                {"s": SCHEMA}).scalar()
            if leftovers == 0 and functions == 0:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        engine.dispose()


@dataclass(frozen=True)
class Revisions:
    current: tuple[str, ...]
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == (self.head,)


def revisions(url: str) -> Revisions:
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn, opts={"version_table_schema": SCHEMA}).get_current_heads()
    finally:
        engine.dispose()
    return Revisions(tuple(current), head or "")
