"""Alembic migrations of the zh_search database layer (applied by ``plugin-service db upgrade``).

The SQL lives in ``sql/*.sql`` beside this file; migrations run those files through the driver connection so
that PostgreSQL sees them verbatim (no bind-parameter or ``%`` processing).
"""

from __future__ import annotations

from pathlib import Path

SCHEMA = "zh_search"
PACKAGE_DIR = Path(__file__).resolve().parent
SQL_DIR = PACKAGE_DIR / "sql"


def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


def run_sql(connection, name: str) -> None:
    """Execute a SQL file on an SQLAlchemy connection inside its current transaction."""
    connection.connection.driver_connection.execute(read_sql(name))
