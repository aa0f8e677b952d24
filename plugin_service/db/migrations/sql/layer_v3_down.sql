-- Undo layer_v3.sql: the v2 table (not partitioned, norm and tsv generated) with the same rows, and the
-- v2 bodies of the functions v3 replaced (copied from layer_v2.sql).
ALTER TABLE zh_search.ocr_text RENAME TO ocr_text_v3;
ALTER INDEX zh_search.ocr_text_pkey RENAME TO ocr_text_v3_pkey;
ALTER INDEX zh_search.ocr_text_tsv_idx RENAME TO ocr_text_v3_tsv_idx;
ALTER INDEX zh_search.ocr_text_norm_trgm_idx RENAME TO ocr_text_v3_norm_trgm_idx;
ALTER INDEX zh_search.ocr_text_asset_idx RENAME TO ocr_text_v3_asset_idx;
ALTER INDEX IF EXISTS zh_search.ocr_text_tsv_zh_idx RENAME TO ocr_text_v3_tsv_zh_idx;

DROP FUNCTION IF EXISTS zh_search.match_tokens(text, uuid[], uuid[], integer);
DROP FUNCTION IF EXISTS zh_search.rank_tsquery(tsquery);
ALTER FUNCTION zh_search.fold_script(text) RESET plan_cache_mode;
ALTER FUNCTION zh_search.query_tsquery(text) RESET plan_cache_mode;
ALTER FUNCTION zh_search.query_patterns(text) RESET plan_cache_mode;
ALTER FUNCTION zh_search.ocr_search(text, integer) RESET plan_cache_mode;
ALTER FUNCTION zh_search.hybrid_candidates(text, vector, integer) RESET plan_cache_mode;
DROP FUNCTION IF EXISTS zh_search.doc_tsvector(text);
CREATE OR REPLACE FUNCTION zh_search.doc_tsvector(t text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN (SELECT coalesce(string_agg(format('%L:%s', d.token, least(d.pos, 16383)), ' '), '')::tsvector
          FROM zh_search.doc_tokens(zh_search.normalize(t)) AS d);
END $$;

CREATE OR REPLACE FUNCTION zh_search.refresh(ids uuid[]) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE changed integer;
BEGIN
  DELETE FROM zh_search.ocr_text o WHERE o."assetId" = ANY(ids)
    AND NOT EXISTS (SELECT 1 FROM public.asset_ocr a WHERE a."assetId" = o."assetId" AND a."isVisible");
  -- only rows whose text or owner changed reach the INSERT: an unchanged row costs no
  -- normalisation (Immich's upsert fires the delete and the insert trigger for the same asset)
  INSERT INTO zh_search.ocr_text AS o ("assetId", "ownerId", text)
    SELECT w."assetId", w."ownerId", w.text
    FROM (SELECT l."assetId", (SELECT s."ownerId" FROM public.asset s WHERE s.id = l."assetId") AS "ownerId",
                 left(string_agg(l.text, E'\n' ORDER BY l.y1, l.x1, l.id), zh_search.max_indexed_chars()) AS text
          FROM public.asset_ocr l WHERE l."assetId" = ANY(ids) AND l."isVisible"
          GROUP BY l."assetId") w
    LEFT JOIN zh_search.ocr_text cur ON cur."assetId" = w."assetId"
    WHERE cur."assetId" IS NULL OR cur.text IS DISTINCT FROM w.text OR cur."ownerId" IS DISTINCT FROM w."ownerId"
  ON CONFLICT ("assetId") DO UPDATE SET text = EXCLUDED.text, "ownerId" = EXCLUDED."ownerId"
    WHERE o.text IS DISTINCT FROM EXCLUDED.text OR o."ownerId" IS DISTINCT FROM EXCLUDED."ownerId";
  GET DIAGNOSTICS changed = ROW_COUNT;
  RETURN changed;
END $$;

CREATE OR REPLACE FUNCTION zh_search.backfill_step(batch integer)
RETURNS TABLE(done boolean, assets integer, changed integer, failed integer)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
DECLARE
  state zh_search.backfill_state;
  ids uuid[];
  one uuid;
  n integer := 0;
  bad integer := 0;
BEGIN
  SELECT * INTO state FROM zh_search.backfill_state WHERE id = 1 FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO zh_search.backfill_state DEFAULT VALUES RETURNING * INTO state;
  END IF;
  ids := ARRAY(SELECT DISTINCT a."assetId" FROM public.asset_ocr a
               WHERE state.last_id IS NULL OR a."assetId" > state.last_id ORDER BY 1 LIMIT greatest(batch, 1));
  IF cardinality(ids) = 0 THEN
    DELETE FROM zh_search.ocr_text o
      WHERE NOT EXISTS (SELECT 1 FROM public.asset_ocr a WHERE a."assetId" = o."assetId" AND a."isVisible");
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM zh_search.sync_failure f WHERE f.at < state.started_at;
    DELETE FROM zh_search.backfill_state;
    RETURN QUERY SELECT true, 0, n, 0;
    RETURN;
  END IF;
  BEGIN
    n := zh_search.refresh(ids);
  EXCEPTION WHEN query_canceled OR OTHERS THEN
    n := 0;
    FOREACH one IN ARRAY ids LOOP
      BEGIN
        n := n + zh_search.refresh(ARRAY[one]);
      EXCEPTION WHEN query_canceled OR OTHERS THEN
        bad := bad + 1;
        PERFORM zh_search.record_failure('backfill', ARRAY[one], SQLSTATE, SQLERRM);
      END;
    END LOOP;
  END;
  UPDATE zh_search.backfill_state SET last_id = ids[cardinality(ids)];
  RETURN QUERY SELECT false, cardinality(ids), n, bad;
END $$;

CREATE OR REPLACE FUNCTION zh_search.match_tokens(query text, owner_ids uuid[], asset_ids uuid[] DEFAULT NULL)
RETURNS TABLE("assetId" uuid, rank real, text_score real)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
DECLARE
  q tsquery := zh_search.query_tsquery(query);
  qz tsquery;
  -- given asset ids (the hybrid's CLIP neighbours): primary-key lookups, not an index scan per query
  source text := CASE WHEN asset_ids IS NULL THEN 'zh_search.ocr_text o'
                      ELSE 'unnest($4) AS x(id) JOIN zh_search.ocr_text o ON o."assetId" = x.id' END;
  narrow text := CASE WHEN owner_ids IS NULL THEN '' ELSE ' AND o."ownerId" = ANY($2)' END;
BEGIN
  IF to_regprocedure('zh_search.zhparser_health()') IS NULL THEN
    IF q IS NULL THEN RETURN; END IF;
    RETURN QUERY EXECUTE
      'SELECT o."assetId", ts_rank(o.tsv, $1), 1.0::real FROM ' || source || ' WHERE o.tsv @@ $1' || narrow
      USING q, owner_ids, NULL::tsquery, asset_ids;
  ELSE
    qz := plainto_tsquery('zh_search.zh_ocr', zh_search.normalize(left(query, 256)));
    IF numnode(qz) = 0 THEN qz := NULL; END IF;
    IF q IS NULL AND qz IS NULL THEN RETURN; END IF;
    RETURN QUERY EXECUTE
      'SELECT o."assetId", (coalesce(ts_rank(o.tsv, $1), 0) + coalesce(ts_rank(o.tsv_zh, $3), 0))::real,
              CASE WHEN coalesce(o.tsv @@ $1, false) THEN 1.0 ELSE 0.6 END::real
       FROM ' || source || '
       WHERE (o.tsv @@ $1 OR o.tsv_zh @@ $3)' || narrow
      USING q, owner_ids, qz, asset_ids;
  END IF;
END $$;

CREATE OR REPLACE FUNCTION zh_search.ocr_search_user(
  query text,
  owner_ids uuid[],
  visibilities text[] DEFAULT ARRAY['archive', 'timeline', 'hidden'],
  with_deleted boolean DEFAULT false,
  taken_after timestamptz DEFAULT NULL,
  taken_before timestamptz DEFAULT NULL,
  asset_type text DEFAULT NULL,
  max_results integer DEFAULT 100,
  skip integer DEFAULT 0,
  after_rank real DEFAULT NULL,
  after_id uuid DEFAULT NULL)
RETURNS TABLE("assetId" uuid, rank real, text_score real)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
DECLARE
  n integer := 0;
  seen integer := 0;
  tokens_all integer;
  m record;
BEGIN
  max_results := least(greatest(coalesce(max_results, 100), 0), 10000);
  skip := least(greatest(coalesce(skip, 0), 0), 100000);
  with_deleted := coalesce(with_deleted, false);
  IF query IS NULL OR owner_ids IS NULL OR cardinality(owner_ids) = 0 OR max_results = 0 THEN RETURN; END IF;
  -- Token matches: every match of these owners is ranked (the index narrows by owner), then walked
  -- best first and checked against Immich's filters one asset at a time until the page is full,
  -- so a page costs the ranking plus about skip + max_results primary-key lookups.
  FOR m IN EXECUTE
      'SELECT t."assetId" AS id, t.rank AS r, t.text_score AS s FROM zh_search.match_tokens($1, $2, NULL) t
       WHERE $3::real IS NULL OR t.rank < $3 OR (t.rank = $3 AND t."assetId" > $4)
       ORDER BY t.rank DESC, t."assetId"'
      USING query, owner_ids, after_rank, after_id LOOP
    PERFORM FROM public.asset a
      WHERE a.id = m.id AND a."ownerId" = ANY(owner_ids)
        AND (visibilities IS NULL OR a.visibility::text = ANY(visibilities))
        AND (with_deleted OR a."deletedAt" IS NULL)
        AND (taken_after IS NULL OR a."fileCreatedAt" >= taken_after)
        AND (taken_before IS NULL OR a."fileCreatedAt" <= taken_before)
        AND (asset_type IS NULL OR a.type::text = asset_type);
    CONTINUE WHEN NOT FOUND;
    seen := seen + 1;
    CONTINUE WHEN seen <= skip;
    "assetId" := m.id; rank := m.r; text_score := m.s;
    RETURN NEXT;
    n := n + 1;
    IF n >= max_results THEN RETURN; END IF;
  END LOOP;
  -- The page reaches past the token matches: substring matches (rank 0.0001, below every token
  -- match) follow when the query wants them or the token path found nothing the user may see.
  IF after_rank IS NULL THEN
    tokens_all := seen;
  ELSE
    SELECT count(*) INTO tokens_all FROM zh_search.match_tokens(query, owner_ids, NULL) t JOIN public.asset a ON a.id = t."assetId"
      WHERE a."ownerId" = ANY(owner_ids) AND (visibilities IS NULL OR a.visibility::text = ANY(visibilities))
        AND (with_deleted OR a."deletedAt" IS NULL)
        AND (taken_after IS NULL OR a."fileCreatedAt" >= taken_after)
        AND (taken_before IS NULL OR a."fileCreatedAt" <= taken_before)
        AND (asset_type IS NULL OR a.type::text = asset_type);
  END IF;
  IF tokens_all > 0 AND NOT zh_search.substring_wanted(query) THEN RETURN; END IF;
  RETURN QUERY
    SELECT t."assetId", t.rank, t.text_score FROM zh_search.match_substrings(query, owner_ids, NULL) t
    JOIN public.asset a ON a.id = t."assetId"
    WHERE a."ownerId" = ANY(owner_ids) AND (visibilities IS NULL OR a.visibility::text = ANY(visibilities))
      AND (with_deleted OR a."deletedAt" IS NULL)
      AND (taken_after IS NULL OR a."fileCreatedAt" >= taken_after)
      AND (taken_before IS NULL OR a."fileCreatedAt" <= taken_before)
      AND (asset_type IS NULL OR a.type::text = asset_type)
      AND (after_rank IS NULL OR t.rank < after_rank OR (t.rank = after_rank AND t."assetId" > after_id))
    ORDER BY t.rank DESC, t."assetId" LIMIT max_results - n OFFSET greatest(skip - seen, 0);
END $$;

CREATE TABLE zh_search.ocr_text (
  "assetId" uuid PRIMARY KEY,
  text text NOT NULL,
  norm text GENERATED ALWAYS AS (zh_search.normalize(text)) STORED,
  tsv tsvector GENERATED ALWAYS AS (zh_search.doc_tsvector(text)) STORED,
  "ownerId" uuid
);
DO $$
BEGIN
  IF to_regprocedure('zh_search.zhparser_health()') IS NOT NULL THEN
    ALTER TABLE zh_search.ocr_text ADD COLUMN tsv_zh tsvector
      GENERATED ALWAYS AS (to_tsvector('zh_search.zh_ocr'::regconfig, zh_search.normalize(text))) STORED;
    CREATE INDEX ocr_text_tsv_zh_idx ON zh_search.ocr_text USING gin (tsv_zh);
  END IF;
END $$;
INSERT INTO zh_search.ocr_text ("assetId", "ownerId", text)
  SELECT "assetId", "ownerId", text FROM zh_search.ocr_text_v3 ON CONFLICT ("assetId") DO NOTHING;
DROP TABLE zh_search.ocr_text_v3;
DROP FUNCTION IF EXISTS zh_search.norm_tsvector(text);
DROP FUNCTION IF EXISTS zh_search.partitions();
CREATE INDEX ocr_text_tsv_idx ON zh_search.ocr_text USING gin (tsv);
CREATE INDEX ocr_text_norm_trgm_idx ON zh_search.ocr_text USING gin (norm gin_trgm_ops);
CREATE INDEX ocr_text_owner_idx ON zh_search.ocr_text ("ownerId");
REVOKE ALL ON FUNCTION zh_search.refresh(uuid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION zh_search.backfill_step(integer) FROM PUBLIC;
