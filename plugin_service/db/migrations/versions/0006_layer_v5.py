"""Layer v5: letters and digits side by side are also indexed as one glued word (`G1234`, `12F`, `iPhone 15`).

Same contract (v2, docs/search.md). A query term such as a train number becomes one index lookup instead of
a phrase of common tokens re-checked on every text holding both. The texts that have such words are
re-indexed in place (27% of the texts at 1M assets, 36 s); the downgrade re-indexes them as v4 did.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

from plugin_service.db.migrations import immich_role, run_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    run_sql(bind, "layer_v5.sql")
    role = immich_role(bind)
    if role:
        bind.execute(text("SELECT zh_search.grant_to(:r)"), {"r": role})


def downgrade() -> None:
    bind = op.get_bind()
    run_sql(bind, "layer_v5_down.sql")
    role = immich_role(bind)
    if role:
        bind.execute(text("SELECT zh_search.grant_to(:r)"), {"r": role})
