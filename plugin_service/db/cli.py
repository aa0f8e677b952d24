"""``plugin-service db``: install, inspect and query the zh_search layer in Immich's database."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

import click

from plugin_service.db.url import database_url as resolve_url
from plugin_service.db.url import redacted

F = TypeVar("F", bound=Callable[..., Any])


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


_URL_HELP = (
    "PostgreSQL URL of Immich's database (accepted before or after the subcommand). Default: "
    "PLUGIN_SERVICE_DATABASE_URL, else Immich's DB_URL, else DB_HOSTNAME, DB_PORT, DB_USERNAME, DB_PASSWORD, "
    "DB_DATABASE_NAME."
)


def _set_url(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """`--database-url` after the subcommand overrides the one before it (or the environment)."""
    if value:
        # the subcommand's obj is the `db` group's dict (click hands it down), set before this runs
        ctx.ensure_object(dict)["url"] = resolve_url(value)


def database_url_option(command: F) -> F:
    return click.option(
        "--database-url", default=None, expose_value=False, callback=_set_url, is_eager=False, help=_URL_HELP
    )(command)


@click.group(cls=_DbGroup)
@click.option("--database-url", envvar="PLUGIN_SERVICE_DATABASE_URL", default=None, help=_URL_HELP)
@click.pass_context
def db(ctx: click.Context, database_url: str | None) -> None:
    """The zh_search layer: Chinese OCR full-text search inside Immich's PostgreSQL."""
    ctx.obj = {"url": resolve_url(database_url)}


_LOCK_HELP = "Give up (and change nothing) when a lock is not granted within this time (PostgreSQL interval)."
_STATEMENT_HELP = "Give up (and change nothing) when one migration statement runs longer than this."


@db.command()
@database_url_option
@click.option("--revision", default="head", show_default=True)
@click.option("--no-backfill", is_flag=True, help="Do not index the OCR text that already exists.")
@click.option(
    "--immich-role",
    default=None,
    help="Role Immich's server connects as, granted the search functions. Default: owner of public.asset.",
)
@click.option("--lock-timeout", default="5s", show_default=True, help=_LOCK_HELP)
@click.option("--statement-timeout", default="10min", show_default=True, help=_STATEMENT_HELP)
@click.pass_context
def upgrade(
    ctx: click.Context,
    revision: str,
    no_backfill: bool,
    immich_role: str | None,
    lock_timeout: str,
    statement_timeout: str,
) -> None:
    """Create or update the layer (schema zh_search), grant Immich's role, index existing OCR text, show status."""
    from plugin_service.db import migrate, queries

    url = ctx.obj["url"]
    click.echo(f"upgrading zh_search in {redacted(url)} to {revision}")
    migrate.upgrade(
        url, revision, immich_role=immich_role, lock_timeout=lock_timeout, statement_timeout=statement_timeout
    )
    engine = _engine(ctx)
    with engine.connect() as conn:
        if queries.contract_version(conn):
            role = queries.grant(conn, immich_role)
            click.echo(f"granted the search functions to role {role}")
    engine.dispose()
    if not no_backfill:
        ctx.invoke(backfill)
    ctx.invoke(status)


@db.command()
@database_url_option
@click.option(
    "--revision",
    default="base",
    show_default=True,
    help="'base' removes the layer completely (triggers, functions, table, schema).",
)
@click.option("--lock-timeout", default="5s", show_default=True, help=_LOCK_HELP)
@click.option("--statement-timeout", default="10min", show_default=True, help=_STATEMENT_HELP)
@click.pass_context
def downgrade(ctx: click.Context, revision: str, lock_timeout: str, statement_timeout: str) -> None:
    """Remove the layer (or step back to REVISION). Immich's own tables are never touched."""
    from plugin_service.db import migrate

    migrate.downgrade(ctx.obj["url"], revision, lock_timeout=lock_timeout, statement_timeout=statement_timeout)
    click.echo(f"zh_search downgraded to {revision}")


@db.command()
@database_url_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Revision, health checks and recorded failures; exits 1 when a check fails (failures included)."""
    from plugin_service.db import migrate, queries

    revs = migrate.revisions(ctx.obj["url"])
    engine = _engine(ctx)
    with engine.connect() as conn:
        checks = queries.health(conn)
        failures = queries.failures(conn)
    engine.dispose()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "current": list(revs.current),
                    "head": revs.head,
                    "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
                    "failures": [
                        {
                            "at": f.at.isoformat(),
                            "operation": f.operation,
                            "sqlstate": f.sqlstate,
                            "message": f.message,
                            "assetIds": [str(a) for a in f.asset_ids],
                        }
                        for f in failures
                    ],
                },
                ensure_ascii=False,
            )
        )
    else:
        click.echo(f"revision: {','.join(revs.current) or '(none)'} (head {revs.head})")
        for c in checks:
            click.echo(f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}")
        for f in failures:
            ids = ", ".join(str(a) for a in f.asset_ids[:10]) + (" ..." if len(f.asset_ids) > 10 else "")
            click.echo(
                f"  failure {f.at:%Y-%m-%d %H:%M:%S} {f.operation} [{f.sqlstate}] {f.message} assets: {ids or '-'}"
            )
    if not all(c.ok for c in checks) or not revs.up_to_date:
        sys.exit(1)


@db.command()
@database_url_option
@click.option("--batch-size", default=2000, show_default=True)
@click.option("--restart", is_flag=True, help="Start from the first asset instead of resuming an interrupted run.")
@click.pass_context
def backfill(ctx: click.Context, batch_size: int, restart: bool) -> None:
    """Index OCR text the layer missed (before it existed, or recorded failures); resumable and idempotent."""
    from plugin_service.db import queries

    engine = _engine(ctx)
    with engine.connect() as conn:
        done = queries.backfill(
            conn,
            batch_size,
            lambda p: click.echo(
                f"  {p.assets} assets scanned, {p.changed} rows written, {p.failed} skipped", err=True
            ),
            restart=restart,
        )
    engine.dispose()
    click.echo(
        f"backfill: {done.assets} assets with OCR text, {done.changed} rows written or removed, "
        f"{done.failed} skipped (recorded; see plugin-service db status)"
    )


@db.command()
@database_url_option
@click.argument("query")
@click.option(
    "--user-id",
    "user_ids",
    multiple=True,
    type=click.UUID,
    help="Search as this user (repeatable: several owners). Without it: every user's assets.",
)
@click.option("--with-partners", is_flag=True, help="Add the partners who share their timeline with --user-id.")
@click.option(
    "--visibility",
    "visibilities",
    multiple=True,
    type=click.Choice(["archive", "timeline", "hidden", "locked"]),
    help="Repeatable. Default: archive, timeline, hidden (Immich's 'not locked').",
)
@click.option("--with-deleted", is_flag=True, help="Include trashed assets.")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def search(
    ctx: click.Context,
    query: str,
    user_ids: tuple[UUID, ...],
    with_partners: bool,
    visibilities: tuple[str, ...],
    with_deleted: bool,
    limit: int,
    as_json: bool,
) -> None:
    """What a user sees for QUERY, best first (zh_search.ocr_search_user, as the patched Immich calls it)."""
    from plugin_service.db import queries

    engine = _engine(ctx)
    with engine.connect() as conn:
        if not user_ids:
            matches = sorted(queries.ocr_match(conn, query, None), key=lambda m: (-m.rank, str(m.asset_id)))[:limit]
        else:
            owners = list(dict.fromkeys(user_ids))
            if with_partners:
                for user in user_ids:
                    owners += [o for o in queries.search_owner_ids(conn, user) if o not in owners]
            where = queries.AssetFilter(
                tuple(owners),
                visibilities=tuple(visibilities) or ("archive", "timeline", "hidden"),
                with_deleted=with_deleted,
            )
            matches = queries.ocr_search_user(conn, query, where, limit)
    engine.dispose()
    if as_json:
        click.echo(
            json.dumps([{"assetId": str(m.asset_id), "rank": m.rank, "textScore": m.text_score} for m in matches])
        )
        return
    for m in matches:
        click.echo(f"{m.rank:.4f}\t{m.text_score:.2f}\t{m.asset_id}")
    if not matches:
        click.echo("no matches", err=True)
