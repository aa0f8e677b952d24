"""Which database: an explicit URL, else Immich's own DB_URL or DB_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote

from sqlalchemy.engine import make_url


def database_url(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """SQLAlchemy URL (postgresql+psycopg://...) for the given URL or Immich's environment.

    Immich reads DB_URL, or DB_HOSTNAME (database), DB_PORT (5432), DB_USERNAME (postgres),
    DB_PASSWORD (postgres) and DB_DATABASE_NAME (immich)."""
    env = os.environ if env is None else env
    raw = explicit or env.get("DB_URL")
    if not raw:
        user = quote(env.get("DB_USERNAME", "postgres"), safe="")
        password = quote(env.get("DB_PASSWORD", "postgres"), safe="")
        host = env.get("DB_HOSTNAME", "database")
        port = env.get("DB_PORT", "5432")
        name = env.get("DB_DATABASE_NAME", "immich")
        raw = f"postgresql://{user}:{password}@{host}:{port}/{name}"
    url = make_url(raw)
    if url.drivername in ("postgres", "postgresql", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
