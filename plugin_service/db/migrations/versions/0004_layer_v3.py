"""Layer v3: the index partitioned by owner, texts normalised once per write, generic plans, a cheaper rank.

Same contract (v2, docs/search.md); the rows are copied, so no backfill is needed.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

from plugin_service.db.migrations import immich_role, run_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    run_sql(bind, "layer_v3.sql")
    role = immich_role(bind)
    if role:
        bind.execute(text("SELECT zh_search.grant_to(:r)"), {"r": role})


def downgrade() -> None:
    bind = op.get_bind()
    run_sql(bind, "layer_v3_down.sql")
    role = immich_role(bind)
    if role:
        bind.execute(text("SELECT zh_search.grant_to(:r)"), {"r": role})
