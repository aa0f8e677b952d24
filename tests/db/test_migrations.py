"""alembic round trips, nothing of ours in Immich's `public` schema, and the CLI against a real database."""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from plugin_service.cli import main
from plugin_service.db import migrate
from plugin_service.db.url import database_url
from tests.db._immich import new_asset, ocr_upsert, search
from tests.db.conftest import libpq

OBJECTS_IN_PUBLIC = """
SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
UNION ALL SELECT 'relation ' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public'
UNION ALL SELECT 'constraint ' || conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
  WHERE n.nspname = 'public'
UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal
UNION ALL SELECT 'schema ' || nspname FROM pg_namespace
  WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
UNION ALL SELECT 'extension ' || extname FROM pg_extension
"""


def snapshot(url: str) -> set[str]:
    with psycopg.connect(libpq(url)) as conn:
        return {row[0] for row in conn.execute(OBJECTS_IN_PUBLIC)}


def zhparser_available(url: str) -> bool:
    with psycopg.connect(libpq(url)) as conn:
        return bool(conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'zhparser'").fetchone()[0])


def test_upgrade_downgrade_upgrade_round_trip(immich_db):
    before = snapshot(immich_db)
    migrate.upgrade(immich_db)
    installed = snapshot(immich_db)
    # Immich's drift check tolerates extra triggers, not extra functions or constraints in public
    expected = {
        "schema zh_search",
        "trigger zh_search_sync_insert",
        "trigger zh_search_sync_update",
        "trigger zh_search_sync_delete",
        "trigger zh_search_sync_truncate",
    }
    if zhparser_available(immich_db):  # the extension itself, and its own schema for custom words
        expected |= {"extension zhparser", "schema zhparser"}
    assert installed - before == expected
    assert migrate.revisions(immich_db).up_to_date

    migrate.downgrade(immich_db, "0001")
    assert migrate.revisions(immich_db).current == ("0001",)
    migrate.downgrade(immich_db)
    assert snapshot(immich_db) == before  # nothing left, the schema included
    assert migrate.revisions(immich_db).current == ()

    with psycopg.connect(libpq(immich_db), autocommit=True) as conn:
        a = new_asset(conn)
        ocr_upsert(conn, a, ["发票号码"])  # Immich keeps working without the layer
        migrate.upgrade(immich_db)
        assert search(conn, "发票") == []  # not indexed until backfill
        runner = CliRunner()
        result = runner.invoke(main, ["db", "--database-url", immich_db, "backfill"])
        assert result.exit_code == 0, result.output
        assert [m[0] for m in search(conn, "发票")] == [a]
    assert snapshot(immich_db) == installed


def test_upgrade_refuses_a_database_without_immich(postgres):
    url = postgres.create_database("not_immich")
    with pytest.raises(RuntimeError, match="start Immich"):
        migrate.upgrade(url)
    result = CliRunner().invoke(main, ["db", "--database-url", url, "upgrade"])
    assert result.exit_code == 1 and "start Immich v3.1.0 once" in result.output
    result = CliRunner().invoke(main, ["db", "--database-url", "postgresql://nobody@127.0.0.1:1/x", "status"])
    assert result.exit_code == 1 and "database error" in result.output and "Traceback" not in result.output
    postgres.drop_database("not_immich")


def test_cli_upgrade_status_search_downgrade(immich_db):
    with psycopg.connect(libpq(immich_db), autocommit=True) as conn:
        a = new_asset(conn)
        ocr_upsert(conn, a, ["扫描二维码开具电子发票"])
    runner = CliRunner()
    # the URL from Immich's own variables, as the container would have them
    env = {"DB_URL": libpq(immich_db)}
    result = runner.invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert "[ok] sync triggers" in result.output and "indexed assets: 1" in result.output

    result = runner.invoke(main, ["db", "status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["current"] == [status["head"]] and all(c["ok"] for c in status["checks"])

    result = runner.invoke(main, ["db", "search", "二维码"], env=env)
    assert result.exit_code == 0 and str(a) in result.output
    result = runner.invoke(main, ["db", "search", "--json", "电子发票"], env=env)
    assert json.loads(result.output)[0]["assetId"] == str(a)

    result = runner.invoke(main, ["db", "downgrade"], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["db", "status"], env=env)
    assert result.exit_code == 1 and "not installed" in result.output


def test_database_url_from_immich_variables():
    assert database_url(env={"DB_URL": "postgres://u:p%40ss@db:5433/im"}) == "postgresql+psycopg://u:p%40ss@db:5433/im"
    url = make_url(
        database_url(env={"DB_HOSTNAME": "h", "DB_USERNAME": "me", "DB_PASSWORD": "a b@c:/", "DB_DATABASE_NAME": "x"})
    )
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg",
        "me",
        "a b@c:/",
        "h",
        5432,
        "x",
    )
    assert database_url(env={}) == "postgresql+psycopg://postgres:postgres@database:5432/immich"
    assert database_url("postgresql://x@y/z", env={"DB_URL": "postgres://ignored/db"}) == "postgresql+psycopg://x@y/z"


def test_alembic_by_hand_with_the_shipped_ini(immich_db):
    """`alembic -c plugin_service/db/migrations/alembic.ini -x url=... upgrade head`, as documented."""
    import subprocess
    import sys
    from pathlib import Path

    import plugin_service.db.migrations as shipped

    ini = Path(shipped.__file__).with_name("alembic.ini")
    for args in (["upgrade", "head"], ["downgrade", "0002"]):
        result = subprocess.run(
            [sys.executable, "-m", "alembic", "-c", str(ini), "-x", f"url={immich_db}", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    assert migrate.revisions(immich_db).current == ("0002",)
