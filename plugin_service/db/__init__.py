"""The zh_search database layer inside Immich's PostgreSQL: migrations, text model, queries, CLI."""
