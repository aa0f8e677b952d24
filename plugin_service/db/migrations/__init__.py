"""Alembic migrations of the zh_search database layer (applied by ``plugin-service db upgrade``).

The SQL lives in ``sql/*.sql`` beside this file; migrations run those files through the driver connection so
that PostgreSQL sees them verbatim (no bind-parameter or ``%`` processing).
"""

from __future__ import annotations

import json
from pathlib import Path

from alembic import context
from sqlalchemy import text

SCHEMA = "zh_search"
PACKAGE_DIR = Path(__file__).resolve().parent
SQL_DIR = PACKAGE_DIR / "sql"


def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


def run_sql(connection, name: str) -> None:
    """Execute a SQL file on an SQLAlchemy connection inside its current transaction."""
    connection.connection.driver_connection.execute(read_sql(name))


def fold_table() -> dict[str, str]:
    """Traditional -> Simplified characters (OpenCC; see opencc_t2s.py)."""
    return json.loads((PACKAGE_DIR / "t2s.json").read_text(encoding="utf-8"))["map"]


def fold_function_sql() -> str:
    """zh_search.fold_script(text): one jsonb lookup per character, so linear in the text's length.
    PL/pgSQL so that the statement with the table (a 60 kB jsonb constant) is planned once per session,
    not once per Immich statement as a SQL function's body would be."""
    literal = json.dumps(fold_table(), ensure_ascii=False).replace("'", "''")
    return (
        "CREATE OR REPLACE FUNCTION zh_search.fold_script(t text) RETURNS text\n"
        "LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fold$\n"
        "BEGIN\n"
        "  IF t !~ '[\\u3400-\\U0003134f]' THEN RETURN t; END IF;\n"
        "  RETURN coalesce((\n"
        f"    SELECT string_agg(coalesce('{literal}'::jsonb ->> u.c, u.c), '' ORDER BY u.i)\n"
        "    FROM unnest(string_to_array(t, NULL)) WITH ORDINALITY AS u(c, i)), '');\n"
        "END $fold$"
    )


def immich_role(connection) -> str | None:
    """The role to grant the search functions to: `-x immich_role=NAME` / the CLI's --immich-role,
    else the owner of public.asset (the role Immich's server connects as)."""
    explicit = context.config.attributes.get("immich_role") or context.get_x_argument(as_dictionary=True).get(
        "immich_role"
    )
    if explicit:
        return str(explicit)
    return connection.execute(
        text("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass('public.asset')")
    ).scalar()
