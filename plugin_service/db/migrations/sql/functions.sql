-- zh_search query functions (the contract the patched Immich calls; docs/search.md).
-- Re-run by migrations with CREATE OR REPLACE; zhparser.sql replaces ocr_search with a version
-- that adds the zhparser column's rank.

-- Ranked OCR matches, best first. rank = ts_rank over the bigram tsvector. A substring path over
-- the normalised text (pg_trgm index) adds, with a small constant rank after every token match,
-- what tokens cannot find: a number or word inside a longer one ('5678' in '12345678', 'phone' in
-- 'iphone'), queries without letters, digits or CJK, and anything when the token path found nothing.
CREATE OR REPLACE FUNCTION zh_search.ocr_search(query text, max_results integer DEFAULT 200)
RETURNS TABLE("assetId" uuid, rank real)
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
DECLARE
  q tsquery := zh_search.query_tsquery(left(query, 256));
  n integer := 0;
BEGIN
  max_results := least(greatest(coalesce(max_results, 200), 0), 10000);
  IF q IS NOT NULL THEN
    RETURN QUERY
      SELECT o."assetId", ts_rank(o.tsv, q) AS r FROM zh_search.ocr_text o
      WHERE o.tsv @@ q ORDER BY r DESC, o."assetId" LIMIT max_results;
    GET DIAGNOSTICS n = ROW_COUNT;
  END IF;
  IF q IS NULL OR n = 0 OR (n < max_results AND lower(normalize(query, NFKC)) ~ '[0-9a-z]{3}') THEN
    RETURN QUERY
      SELECT o."assetId", 0.0001::real FROM zh_search.ocr_text o
      WHERE o.norm LIKE ALL (zh_search.query_patterns(left(query, 256))) AND (q IS NULL OR NOT o.tsv @@ q)
      ORDER BY o."assetId" LIMIT max_results - n;
  END IF;
END $$;

-- Candidates for hybrid smart search: the max_results nearest CLIP embeddings (cosine = 1 - <=>)
-- UNION the max_results best OCR matches, each with both signals: cosine is NULL when the asset
-- has no embedding, text_rank is 0 when its OCR text does not match.
CREATE OR REPLACE FUNCTION zh_search.hybrid_candidates(query text, embedding vector, max_results integer DEFAULT 200)
RETURNS TABLE("assetId" uuid, cosine real, text_rank real)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
  max_results := least(greatest(coalesce(max_results, 200), 0), 10000);
  -- pgvector's HNSW returns at most ef_search rows; never fewer than asked for (transaction-local)
  IF current_setting('hnsw.ef_search', true) ~ '^\d+$' AND current_setting('hnsw.ef_search', true)::integer < max_results THEN
    PERFORM set_config('hnsw.ef_search', least(max_results, 1000)::text, true);
  END IF;
  RETURN QUERY
    WITH clip AS MATERIALIZED (
      SELECT s."assetId" FROM public.smart_search s ORDER BY s.embedding <=> hybrid_candidates.embedding LIMIT max_results
    ), txt AS MATERIALIZED (
      SELECT t."assetId", t.rank FROM zh_search.ocr_search(query, max_results) t
    ), ids AS (
      SELECT c."assetId" FROM clip c UNION SELECT t."assetId" FROM txt t
    )
    SELECT i."assetId", (1 - (s.embedding <=> hybrid_candidates.embedding))::real, coalesce(t.rank, 0)::real
    FROM ids i
    LEFT JOIN public.smart_search s ON s."assetId" = i."assetId"
    LEFT JOIN txt t ON t."assetId" = i."assetId";
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
