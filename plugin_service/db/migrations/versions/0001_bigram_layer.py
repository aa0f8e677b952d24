"""CJK bigram OCR text index, sync triggers on public.asset_ocr, query functions.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

from plugin_service.db.migrations import run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

IMMICH_TABLES = ("public.asset", "public.asset_ocr", "public.smart_search")


def upgrade() -> None:
    bind = op.get_bind()
    missing = [t for t in IMMICH_TABLES if bind.execute(text("SELECT to_regclass(:t)"), {"t": t}).scalar() is None]
    if missing:
        raise RuntimeError(
            f"Immich's tables {', '.join(missing)} are missing: start Immich v3.1.0 once so that it "
            "creates its schema, then run `plugin-service db upgrade` again"
        )
    if bind.execute(text("SELECT to_regtype('vector')")).scalar() is None:
        raise RuntimeError("type `vector` not found: Immich's vector extension (VectorChord/pgvector) is not installed")
    # Immich installs pg_trgm itself; a bare database (tests) may not have it yet
    bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    run_sql(bind, "layer.sql")
    run_sql(bind, "functions.sql")


def downgrade() -> None:
    run_sql(op.get_bind(), "layer_down.sql")
