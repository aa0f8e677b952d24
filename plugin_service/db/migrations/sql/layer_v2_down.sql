-- Undo layer_v2.sql: the v1 functions back (bodies copied from layer.sql), v2 objects removed.
-- The index is emptied (its vectors were built with folding); `plugin-service db backfill` refills it.
DROP FUNCTION IF EXISTS zh_search.hybrid_candidates_user(text, vector, uuid[], text[], boolean, timestamptz, timestamptz, text, integer);
DROP FUNCTION IF EXISTS zh_search.ocr_search_user(text, uuid[], text[], boolean, timestamptz, timestamptz, text, integer, integer, real, uuid);
DROP FUNCTION IF EXISTS zh_search.ocr_match(text, uuid[]);
DROP FUNCTION IF EXISTS zh_search.match_tokens(text, uuid[], uuid[]);
DROP FUNCTION IF EXISTS zh_search.match_substrings(text, uuid[], uuid[]);
DROP FUNCTION IF EXISTS zh_search.substring_wanted(text);
DROP FUNCTION IF EXISTS zh_search.search_owner_ids(uuid);
DROP FUNCTION IF EXISTS zh_search.contract_version();
DROP FUNCTION IF EXISTS zh_search.grant_to(name);
DROP FUNCTION IF EXISTS zh_search.immich_role();
DROP FUNCTION IF EXISTS zh_search.backfill_step(integer);
DROP FUNCTION IF EXISTS zh_search.health();
TRUNCATE zh_search.ocr_text;
DROP TABLE IF EXISTS zh_search.backfill_state;
DROP TABLE IF EXISTS zh_search.sync_failure;
DROP INDEX IF EXISTS zh_search.ocr_text_owner_idx;
ALTER TABLE zh_search.ocr_text DROP COLUMN IF EXISTS "ownerId";

CREATE OR REPLACE FUNCTION zh_search.normalize(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN regexp_replace(regexp_replace(lower(normalize(t, NFKC)),
  '([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f])\s+(?=[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f])',
  '\1', 'g'),
  '(?<![0-9])([0-9])\s+(?=[0-9](?![0-9]))', '\1', 'g');

CREATE OR REPLACE FUNCTION zh_search.doc_tokens(norm text, OUT token text, OUT pos integer) RETURNS SETOF record
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  WITH runs AS (
    SELECT r.m[1] AS run, r.ord,
           r.m[1] ~ '^[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]' AS cjk,
           length(r.m[1]) AS len
    FROM regexp_matches(norm,
      '[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]+|[a-z\u00df-\u00f6\u00f8-\u024f\u0370-\u03ff\u0400-\u04ff]+|[0-9]+',
      'g') WITH ORDINALITY AS r(m, ord)
  ), placed AS (
    SELECT run, cjk, len,
           1 + coalesce(sum(CASE WHEN cjk AND len > 1 THEN len - 1 ELSE 1 END)
                 OVER (ORDER BY ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::integer AS first
    FROM runs
  )
  SELECT left(run, 100), first FROM placed WHERE NOT cjk OR len = 1
  UNION ALL
  SELECT substr(run, i, 2), first + i - 1 FROM placed, generate_series(1, len - 1) AS i WHERE cjk AND len > 1
  UNION ALL
  SELECT substr(run, len, 1), first + len - 2 FROM placed WHERE cjk AND len > 1
$$;

CREATE OR REPLACE FUNCTION zh_search.doc_tsvector(t text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (SELECT coalesce(string_agg(format('%L:%s', d.token, least(d.pos, 16383)), ' '), '')::tsvector
        FROM zh_search.doc_tokens(zh_search.normalize(t)) AS d);

CREATE OR REPLACE FUNCTION zh_search.query_tsquery(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  WITH terms AS (
    SELECT s.term, s.tord
    FROM regexp_split_to_table(regexp_replace(lower(normalize(q, NFKC)), '(?<![0-9])([0-9])\s+(?=[0-9](?![0-9]))', '\1', 'g'),
                               '\s+') WITH ORDINALITY AS s(term, tord)
    WHERE s.term <> ''
  ), runs AS (
    SELECT t.tord, r.ord, r.m[1] AS run, length(r.m[1]) AS len,
           r.m[1] ~ '^[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]' AS cjk,
           r.ord = max(r.ord) OVER (PARTITION BY t.tord) AS last
    FROM terms t, regexp_matches(t.term,
      '[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]+|[a-z\u00df-\u00f6\u00f8-\u024f\u0370-\u03ff\u0400-\u04ff]+|[0-9]+',
      'g') WITH ORDINALITY AS r(m, ord)
  ), parts AS (
    SELECT tord, ord,
           CASE WHEN cjk AND len > 1 THEN
                  (SELECT string_agg(quote_literal(substr(run, i, 2)), ' <-> ' ORDER BY i) FROM generate_series(1, len - 1) AS i)
                WHEN last THEN quote_literal(left(run, 100)) || ':*'
                ELSE quote_literal(left(run, 100)) END AS part
    FROM runs
  ), phrases AS (
    SELECT '(' || string_agg(part, ' <-> ' ORDER BY ord) || ')' AS phrase FROM parts GROUP BY tord
  )
  SELECT string_agg(phrase, ' & ' ORDER BY phrase)::tsquery FROM phrases
$$;

CREATE OR REPLACE FUNCTION zh_search.query_patterns(q text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (SELECT array_agg('%' || regexp_replace(zh_search.normalize(s.term), '([\\%_])', '\\\1', 'g') || '%')
        FROM regexp_split_to_table(regexp_replace(lower(normalize(q, NFKC)), '(?<![0-9])([0-9])\s+(?=[0-9](?![0-9]))', '\1', 'g'),
                                   '\s+') AS s(term) WHERE s.term <> '');

CREATE OR REPLACE FUNCTION zh_search.refresh(ids uuid[]) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE changed integer;
BEGIN
  DELETE FROM zh_search.ocr_text o WHERE o."assetId" = ANY(ids)
    AND NOT EXISTS (SELECT 1 FROM public.asset_ocr a WHERE a."assetId" = o."assetId" AND a."isVisible");
  INSERT INTO zh_search.ocr_text AS o ("assetId", text)
    SELECT a."assetId", string_agg(a.text, E'\n' ORDER BY a.y1, a.x1, a.id)
    FROM public.asset_ocr a WHERE a."assetId" = ANY(ids) AND a."isVisible"
    GROUP BY a."assetId"
  ON CONFLICT ("assetId") DO UPDATE SET text = EXCLUDED.text WHERE o.text IS DISTINCT FROM EXCLUDED.text;
  GET DIAGNOSTICS changed = ROW_COUNT;
  RETURN changed;
END $$;

CREATE OR REPLACE FUNCTION zh_search.sync(ids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM zh_search.refresh(ids);
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'zh_search: indexing OCR text of % asset(s) failed: % (%); run plugin-service db backfill',
    cardinality(ids), SQLERRM, SQLSTATE;
END $$;

CREATE OR REPLACE FUNCTION zh_search.sync_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM zh_search.sync(ARRAY(SELECT DISTINCT n."assetId" FROM new_rows n)); RETURN NULL; END $$;

CREATE OR REPLACE FUNCTION zh_search.sync_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM zh_search.sync(ARRAY(SELECT DISTINCT o."assetId" FROM old_rows o)); RETURN NULL; END $$;

CREATE OR REPLACE FUNCTION zh_search.sync_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM zh_search.sync(ARRAY(SELECT n."assetId" FROM new_rows n UNION SELECT o."assetId" FROM old_rows o));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION zh_search.sync_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  TRUNCATE zh_search.ocr_text;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'zh_search: clearing the OCR text index failed: % (%); run plugin-service db backfill', SQLERRM, SQLSTATE;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION zh_search.backfill_batch(after_id uuid, batch integer) RETURNS TABLE(last_id uuid, assets integer, changed integer)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
DECLARE ids uuid[];
BEGIN
  ids := ARRAY(SELECT DISTINCT a."assetId" FROM public.asset_ocr a
               WHERE after_id IS NULL OR a."assetId" > after_id ORDER BY 1 LIMIT batch);
  IF cardinality(ids) = 0 THEN
    -- rows whose asset lost all its OCR lines while the triggers were not installed
    DELETE FROM zh_search.ocr_text o
      WHERE NOT EXISTS (SELECT 1 FROM public.asset_ocr a WHERE a."assetId" = o."assetId" AND a."isVisible");
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN QUERY SELECT NULL::uuid, 0, changed;
    RETURN;
  END IF;
  RETURN QUERY SELECT ids[cardinality(ids)], cardinality(ids), zh_search.refresh(ids);
END $$;

-- Is the layer working? One row per check; `plugin-service db status` exits 1 when one is not ok.
CREATE OR REPLACE FUNCTION zh_search.health()
RETURNS TABLE(check_name text, ok boolean, detail text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
DECLARE
  v text;
  n integer;
BEGIN
  SELECT string_agg(version_num, ',') INTO v FROM zh_search.alembic_version;
  RETURN QUERY SELECT 'revision'::text, v IS NOT NULL, coalesce(v, 'no alembic revision recorded');

  RETURN QUERY SELECT 'bigram index'::text,
    zh_search.doc_tsvector('营业 执照 No.12') @@ zh_search.query_tsquery('营业执照 12'),
    'tokenizer and query builder agree'::text;

  SELECT count(*) INTO n FROM pg_trigger t
    WHERE t.tgrelid = 'public.asset_ocr'::regclass AND t.tgname LIKE 'zh\_search\_sync\_%' AND t.tgenabled <> 'D';
  RETURN QUERY SELECT 'sync triggers'::text, n = 4, format('%s of 4 enabled on public.asset_ocr', n);

  SELECT count(*) INTO n FROM zh_search.ocr_text;
  RETURN QUERY SELECT 'indexed assets'::text, true, n::text;

  IF to_regprocedure('zh_search.zhparser_health()') IS NULL THEN
    RETURN QUERY SELECT 'zhparser'::text, true,
      CASE WHEN EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'zhparser')
           THEN 'available but not enabled (plugin-service db downgrade 0001 && plugin-service db upgrade)'
           ELSE 'not installed: bigram index only' END;
  ELSE
    RETURN QUERY SELECT * FROM zh_search.zhparser_health();
  END IF;
END $$;

DROP FUNCTION IF EXISTS zh_search.record_failure(text, uuid[], text, text);
DROP FUNCTION IF EXISTS zh_search.query_text(text);
DROP FUNCTION IF EXISTS zh_search.max_indexed_chars();
DROP FUNCTION IF EXISTS zh_search.fold_script(text);
