-- Undo layer.sql and functions.sql. The schema itself and alembic's version table stay until
-- alembic has recorded the downgrade; `plugin-service db downgrade` then drops the empty schema.
DROP TRIGGER IF EXISTS zh_search_sync_insert ON public.asset_ocr;
DROP TRIGGER IF EXISTS zh_search_sync_update ON public.asset_ocr;
DROP TRIGGER IF EXISTS zh_search_sync_delete ON public.asset_ocr;
DROP TRIGGER IF EXISTS zh_search_sync_truncate ON public.asset_ocr;
DROP FUNCTION IF EXISTS zh_search.health();
DROP FUNCTION IF EXISTS zh_search.hybrid_candidates(text, vector, integer);
DROP FUNCTION IF EXISTS zh_search.ocr_search(text, integer);
DROP FUNCTION IF EXISTS zh_search.backfill_batch(uuid, integer);
DROP FUNCTION IF EXISTS zh_search.sync_inserted();
DROP FUNCTION IF EXISTS zh_search.sync_deleted();
DROP FUNCTION IF EXISTS zh_search.sync_updated();
DROP FUNCTION IF EXISTS zh_search.sync_truncated();
DROP FUNCTION IF EXISTS zh_search.sync(uuid[]);
DROP FUNCTION IF EXISTS zh_search.refresh(uuid[]);
DROP TABLE IF EXISTS zh_search.ocr_text;
DROP FUNCTION IF EXISTS zh_search.query_patterns(text);
DROP FUNCTION IF EXISTS zh_search.query_tsquery(text);
DROP FUNCTION IF EXISTS zh_search.doc_tsvector(text);
DROP FUNCTION IF EXISTS zh_search.doc_tokens(text);
DROP FUNCTION IF EXISTS zh_search.normalize(text);
