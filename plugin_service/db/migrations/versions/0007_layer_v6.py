"""Layer v6: the hybrid's text half is planned the same way whatever the statistics of a user's partition.

Same contract (v2, docs/search.md). match_tokens never reads a partition whole under a text budget, and the
primary key leads with the asset id (replacing the asset index), so a partition shared by several users is
never scanned through every key of one of them. Rebuilds the key of zh_search.ocr_text (1M assets: 2 s).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

from plugin_service.db.migrations import run_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(op.get_bind(), "layer_v6.sql")


def downgrade() -> None:
    run_sql(op.get_bind(), "layer_v6_down.sql")
