"""``plugin-service db``: install, inspect and query the zh_search layer in Immich's database."""

from __future__ import annotations

import json
import sys

import click

from plugin_service.db.url import database_url as resolve_url, redacted


def _engine(ctx: click.Context):
    from sqlalchemy import create_engine, pool

    return create_engine(ctx.obj["url"], poolclass=pool.NullPool)


class _DbGroup(click.Group):
    """Turns database errors into one-line messages instead of tracebacks."""

    def invoke(self, ctx: click.Context):
        from sqlalchemy.exc import DBAPIError

        try:
            return super().invoke(ctx)
        except DBAPIError as exc:
            url = (ctx.obj or {}).get("url", "")
            raise click.ClickException(f"database error ({redacted(url) if url else 'no URL'}): {exc.orig}") from exc
        except RuntimeError as exc:  # e.g. Immich's tables are missing
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_DbGroup)
@click.option("--database-url", envvar="PLUGIN_SERVICE_DATABASE_URL", default=None,
              help="PostgreSQL URL of Immich's database. Default: Immich's DB_URL, else DB_HOSTNAME, DB_PORT, "
                   "DB_USERNAME, DB_PASSWORD, DB_DATABASE_NAME.")
@click.pass_context
def db(ctx: click.Context, database_url: str | None) -> None:
    """The zh_search layer: Chinese OCR full-text search inside Immich's PostgreSQL."""
    ctx.obj = {"url": resolve_url(database_url)}


@db.command()
@click.option("--revision", default="head", show_default=True)
@click.option("--no-backfill", is_flag=True, help="Do not index the OCR text that already exists.")
@click.pass_context
def upgrade(ctx: click.Context, revision: str, no_backfill: bool) -> None:
    """Create or update the layer (schema zh_search), then index existing OCR text."""
    from plugin_service.db import migrate

    url = ctx.obj["url"]
    click.echo(f"upgrading zh_search in {redacted(url)} to {revision}")
    migrate.upgrade(url, revision)
    if not no_backfill:
        ctx.invoke(backfill)
    ctx.invoke(status)


@db.command()
@click.option("--revision", default="base", show_default=True,
              help="'base' removes the layer completely (triggers, functions, table, schema).")
@click.pass_context
def downgrade(ctx: click.Context, revision: str) -> None:
    """Remove the layer (or step back to REVISION). Immich's own tables are never touched."""
    from plugin_service.db import migrate

    migrate.downgrade(ctx.obj["url"], revision)
    click.echo(f"zh_search downgraded to {revision}")


@db.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Revision and health checks; exits 1 when a check fails."""
    from plugin_service.db import migrate, queries

    revs = migrate.revisions(ctx.obj["url"])
    engine = _engine(ctx)
    with engine.connect() as conn:
        checks = queries.health(conn)
    engine.dispose()
    if as_json:
        click.echo(json.dumps({"current": list(revs.current), "head": revs.head,
                               "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks]},
                              ensure_ascii=False))
    else:
        click.echo(f"revision: {','.join(revs.current) or '(none)'} (head {revs.head})")
        for c in checks:
            click.echo(f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}")
    if not all(c.ok for c in checks) or not revs.up_to_date:
        sys.exit(1)


@db.command()
@click.option("--batch-size", default=2000, show_default=True)
@click.pass_context
def backfill(ctx: click.Context, batch_size: int) -> None:
    """Index OCR text that Immich stored before the layer existed (idempotent)."""
    from plugin_service.db import queries

    engine = _engine(ctx)
    with engine.connect() as conn:
        done = queries.backfill(conn, batch_size,
                                lambda p: click.echo(f"  {p.assets} assets scanned, {p.changed} rows written", err=True))
    engine.dispose()
    click.echo(f"backfill: {done.assets} assets with OCR text, {done.changed} rows written or removed")


@db.command()
@click.argument("query")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def search(ctx: click.Context, query: str, limit: int, as_json: bool) -> None:
    """Ranked OCR matches for QUERY, as the patched Immich gets them (zh_search.ocr_search)."""
    from plugin_service.db import queries

    engine = _engine(ctx)
    with engine.connect() as conn:
        matches = queries.ocr_search(conn, query, limit)
    engine.dispose()
    if as_json:
        click.echo(json.dumps([{"assetId": str(m.asset_id), "rank": m.rank} for m in matches]))
        return
    for m in matches:
        click.echo(f"{m.rank:.4f}\t{m.asset_id}")
    if not matches:
        click.echo("no matches", err=True)
