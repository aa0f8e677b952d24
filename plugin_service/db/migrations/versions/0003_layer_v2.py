"""Layer v2: per-user search (contract v2), failures recorded, Traditional -> Simplified folding, linear cost.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

from plugin_service.db.migrations import fold_function_sql, immich_role, run_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(fold_function_sql())
    run_sql(bind, "layer_v2.sql")
    # the stored vectors were built without folding and without owners: `plugin-service db upgrade`
    # (or `db backfill`) re-derives them right after this migration
    bind.execute(text("TRUNCATE zh_search.ocr_text"))
    role = immich_role(bind)
    if role:
        bind.execute(text("SELECT zh_search.grant_to(:r)"), {"r": role})


def downgrade() -> None:
    run_sql(op.get_bind(), "layer_v2_down.sql")
