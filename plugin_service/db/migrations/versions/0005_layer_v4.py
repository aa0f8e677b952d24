"""Layer v4: text lookups by asset id always by key, and a bounded text half for the hybrid query.

Same contract (v2, docs/search.md): ocr_search_user and hybrid_candidates_user gain an optional
`text_budget` argument; the index table is unchanged, so nothing is copied or backfilled.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

from plugin_service.db.migrations import immich_role, run_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    run_sql(bind, "layer_v4.sql")
    role = immich_role(bind)
    if role:
        bind.execute(text("SELECT zh_search.grant_to(:r)"), {"r": role})


def downgrade() -> None:
    bind = op.get_bind()
    run_sql(bind, "layer_v4_down.sql")
    role = immich_role(bind)
    if role:
        bind.execute(text("SELECT zh_search.grant_to(:r)"), {"r": role})
