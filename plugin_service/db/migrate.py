"""Alembic, driven from code: the migrations ship inside the installed package (``plugin_service.db.migrations``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text
from sqlalchemy.exc import OperationalError

from plugin_service.db import migrations

SCHEMA = migrations.SCHEMA


LOCK_TIMEOUT = "5s"
STATEMENT_TIMEOUT = "10min"


def alembic_config(
    url: str,
    immich_role: str | None = None,
    lock_timeout: str = LOCK_TIMEOUT,
    statement_timeout: str = STATEMENT_TIMEOUT,
) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations.PACKAGE_DIR))
    config.set_main_option("version_locations", str(migrations.PACKAGE_DIR / "versions"))
    config.set_main_option("path_separator", "os")
    config.attributes.update(
        url=url, immich_role=immich_role, lock_timeout=lock_timeout, statement_timeout=statement_timeout
    )
    return config


def _timeouts_explained(action: str, config: Config) -> contextlib.AbstractContextManager[None]:
    """lock_timeout / statement_timeout become one clear sentence (the migration rolled back)."""

    @contextlib.contextmanager
    def guard() -> Iterator[None]:
        try:
            yield
        except (OperationalError, psycopg.Error) as exc:  # raw driver errors from the .sql files too
            state = getattr(getattr(exc, "orig", exc), "sqlstate", None)
            if state == "55P03":
                raise RuntimeError(
                    f"zh_search {action} gave up after lock_timeout={config.attributes['lock_timeout']}: another "
                    "transaction (an Immich job?) holds a lock on a table it needs. Nothing of this step was changed; "
                    "run it again when Immich is idle, or raise --lock-timeout."
                ) from exc
            if state == "57014":
                raise RuntimeError(
                    f"zh_search {action} was cancelled after statement_timeout="
                    f"{config.attributes['statement_timeout']}. Nothing of this step was changed; raise "
                    "--statement-timeout and run it again."
                ) from exc
            raise

    return guard()


def upgrade(
    url: str,
    revision: str = "head",
    immich_role: str | None = None,
    lock_timeout: str = LOCK_TIMEOUT,
    statement_timeout: str = STATEMENT_TIMEOUT,
) -> None:
    config = alembic_config(url, immich_role, lock_timeout, statement_timeout)
    with _timeouts_explained("upgrade", config):
        command.upgrade(config, revision)


def downgrade(
    url: str, revision: str = "base", lock_timeout: str = LOCK_TIMEOUT, statement_timeout: str = STATEMENT_TIMEOUT
) -> None:
    """Downgrade; to base also drops the then empty schema (alembic's version table included)."""
    config = alembic_config(url, None, lock_timeout, statement_timeout)
    with _timeouts_explained("downgrade", config):
        command.downgrade(config, revision)
    if revision == "base":
        engine = create_engine(url, poolclass=pool.NullPool)
        with engine.begin() as conn:
            conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": lock_timeout})
            leftovers = conn.execute(
                text(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :s AND c.relname NOT IN ('alembic_version', 'alembic_version_pkc')"
                ),
                {"s": SCHEMA},
            ).scalar()
            functions = conn.execute(
                text(
                    "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :s"
                ),
                {"s": SCHEMA},
            ).scalar()
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
