"""zhparser words beside the bigrams, when the zhparser extension is available (else a no-op).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

from plugin_service.db.migrations import run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Written into the database's defaults so that every session that computes the stored column
# (Immich's OCR writes via the triggers included) segments the same way.
PINNED_OPTIONS = {"zhparser.multi_short": "on", "zhparser.punctuation_ignore": "on"}


def zhparser_available(bind) -> bool:
    return bool(bind.execute(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'zhparser'")).scalar())


def upgrade() -> None:
    bind = op.get_bind()
    if not zhparser_available(bind):
        return  # bigram index only; zh_search.health() says so
    database = bind.execute(text("SELECT current_database()")).scalar()
    for name, value in PINNED_OPTIONS.items():
        bind.exec_driver_sql(f'ALTER DATABASE "{database}" SET {name} = {value}')
    run_sql(bind, "zhparser.sql")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(text("SELECT to_regprocedure('zh_search.zhparser_health()')")).scalar() is None:
        return
    run_sql(bind, "zhparser_down.sql")
    run_sql(bind, "functions.sql")
    database = bind.execute(text("SELECT current_database()")).scalar()
    for name in PINNED_OPTIONS:
        bind.exec_driver_sql(f'ALTER DATABASE "{database}" RESET {name}')
