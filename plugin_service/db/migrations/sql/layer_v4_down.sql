-- Undo layer_v4.sql: the v3 bodies of match_tokens and ocr_search_user (copied from layer_v3.sql) and the v2
-- bodies of match_substrings and hybrid_candidates_user (copied from layer_v2.sql), with their old signatures.
DROP FUNCTION IF EXISTS zh_search.hybrid_candidates_user(text, vector, uuid[], text[], boolean, timestamptz,
                                                         timestamptz, text, integer, integer);
DROP FUNCTION IF EXISTS zh_search.ocr_search_user(text, uuid[], text[], boolean, timestamptz, timestamptz, text,
                                                  integer, integer, real, uuid, integer);
DROP FUNCTION IF EXISTS zh_search.match_tokens(text, uuid[], uuid[], integer, integer);

CREATE OR REPLACE FUNCTION zh_search.match_tokens(query text, owner_ids uuid[], asset_ids uuid[] DEFAULT NULL,
                                                  top integer DEFAULT NULL)
RETURNS TABLE("assetId" uuid, rank real, text_score real)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
DECLARE
  q tsquery := zh_search.query_tsquery(query);
  qz tsquery;
  source text := CASE WHEN asset_ids IS NULL THEN 'zh_search.ocr_text o'
                      ELSE 'unnest($4) AS x(id) JOIN zh_search.ocr_text o ON o."assetId" = x.id' END;
  narrow text := CASE WHEN owner_ids IS NULL THEN '' ELSE ' AND o."ownerId" = ANY($2)' END;
  ordered text := CASE WHEN top IS NULL THEN '' ELSE ' ORDER BY 2 DESC, 1 LIMIT ' || greatest(top, 0) END;
BEGIN
  IF to_regprocedure('zh_search.zhparser_health()') IS NULL THEN
    IF q IS NULL THEN RETURN; END IF;
    RETURN QUERY EXECUTE
      'SELECT o."assetId", ts_rank(o.tsv, $3), 1.0::real FROM ' || source || ' WHERE o.tsv @@ $1' || narrow || ordered
      USING q, owner_ids, zh_search.rank_tsquery(q), asset_ids;
  ELSE
    qz := plainto_tsquery('zh_search.zh_ocr', zh_search.normalize(left(query, 256)));
    IF numnode(qz) = 0 THEN qz := NULL; END IF;
    IF q IS NULL AND qz IS NULL THEN RETURN; END IF;
    RETURN QUERY EXECUTE
      'SELECT o."assetId", (coalesce(ts_rank(o.tsv, $5), 0) + coalesce(ts_rank(o.tsv_zh, $3), 0))::real,
              CASE WHEN coalesce(o.tsv @@ $1, false) THEN 1.0 ELSE 0.6 END::real
       FROM ' || source || '
       WHERE (o.tsv @@ $1 OR o.tsv_zh @@ $3)' || narrow || ordered
      USING q, owner_ids, qz, asset_ids, zh_search.rank_tsquery(q);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION zh_search.match_substrings(query text, owner_ids uuid[], asset_ids uuid[] DEFAULT NULL)
RETURNS TABLE("assetId" uuid, rank real, text_score real)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
DECLARE
  patterns text[] := zh_search.query_patterns(query);
  q tsquery := zh_search.query_tsquery(query);
  zh boolean := to_regprocedure('zh_search.zhparser_health()') IS NOT NULL;
  qz tsquery;
  likes text;
BEGIN
  IF patterns IS NULL THEN RETURN; END IF;
  IF zh THEN
    qz := plainto_tsquery('zh_search.zh_ocr', zh_search.normalize(left(query, 256)));
    IF numnode(qz) = 0 THEN qz := NULL; END IF;
  END IF;
  SELECT string_agg(format('o.norm LIKE $1[%s]', i), ' AND ') INTO likes FROM generate_series(1, cardinality(patterns)) AS i;
  RETURN QUERY EXECUTE
    'SELECT o."assetId", 0.0001::real, 0.5::real FROM '
    || CASE WHEN asset_ids IS NULL THEN 'zh_search.ocr_text o'
            ELSE 'unnest($5) AS x(id) JOIN zh_search.ocr_text o ON o."assetId" = x.id' END
    || ' WHERE ' || likes
    || CASE WHEN owner_ids IS NULL THEN '' ELSE ' AND o."ownerId" = ANY($2)' END
    || CASE WHEN q IS NULL THEN '' ELSE ' AND NOT o.tsv @@ $3' END
    || CASE WHEN qz IS NULL THEN '' ELSE ' AND NOT coalesce(o.tsv_zh @@ $4, false)' END
    USING patterns, owner_ids, q, qz, asset_ids;
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
  fetched integer;
  top integer;
  tokens_all integer;
  m record;
BEGIN
  max_results := least(greatest(coalesce(max_results, 100), 0), 10000);
  skip := least(greatest(coalesce(skip, 0), 0), 100000);
  with_deleted := coalesce(with_deleted, false);
  IF query IS NULL OR owner_ids IS NULL OR cardinality(owner_ids) = 0 OR max_results = 0 THEN RETURN; END IF;
  -- Token matches, best first, each checked against Immich's filters until the page is full. Keyset paging
  -- (after_rank) walks every match; offset paging asks for skip + max_results + a margin first.
  top := CASE WHEN after_rank IS NULL THEN skip + max_results + greatest((skip + max_results) / 4, 50) END;
  LOOP
    n := 0; seen := 0; fetched := 0;
    FOR m IN EXECUTE
        'SELECT t."assetId" AS id, t.rank AS r, t.text_score AS s FROM zh_search.match_tokens($1, $2, NULL, $5) t
         WHERE $3::real IS NULL OR t.rank < $3 OR (t.rank = $3 AND t."assetId" > $4)
         ORDER BY t.rank DESC, t."assetId"'
        USING query, owner_ids, after_rank, after_id, top LOOP
      fetched := fetched + 1;
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
    EXIT WHEN top IS NULL OR fetched < top;
    -- the filters dropped more than the margin: the rows returned so far are the first of the full walk
    -- (same total order), so walk every match and return only what follows them
    top := NULL;
    skip := skip + n;
    max_results := max_results - n;
  END LOOP;
  -- The page reaches past the token matches: substring matches (rank 0.0001, below every token match)
  -- follow when the query wants them or the token path found nothing the user may see.
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

CREATE OR REPLACE FUNCTION zh_search.hybrid_candidates_user(
  query text,
  embedding vector,
  owner_ids uuid[],
  visibilities text[] DEFAULT ARRAY['archive', 'timeline', 'hidden'],
  with_deleted boolean DEFAULT false,
  taken_after timestamptz DEFAULT NULL,
  taken_before timestamptz DEFAULT NULL,
  asset_type text DEFAULT NULL,
  max_results integer DEFAULT 200)
RETURNS TABLE("assetId" uuid, cosine real, text_rank real, text_score real)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
DECLARE
  old_ef text := current_setting('hnsw.ef_search', true);
  old_iterative text := current_setting('hnsw.iterative_scan', true);
  clip_ids uuid[];
  clip_cosines real[];
  filters text;
BEGIN
  max_results := least(greatest(coalesce(max_results, 200), 0), 1000);
  with_deleted := coalesce(with_deleted, false);
  IF owner_ids IS NULL OR cardinality(owner_ids) = 0 OR max_results = 0 THEN RETURN; END IF;
  IF embedding IS NULL THEN  -- no query vector: the text half alone
    RETURN QUERY SELECT t."assetId", NULL::real, t.rank, t.text_score
      FROM zh_search.ocr_search_user(query, owner_ids, visibilities, with_deleted, taken_after, taken_before,
                                     asset_type, max_results) t;
    RETURN;
  END IF;
  IF coalesce(old_ef, '') ~ '^\d+$' AND old_ef::integer < max_results THEN
    PERFORM set_config('hnsw.ef_search', max_results::text, true);
  END IF;
  IF old_iterative IS NOT NULL THEN
    PERFORM set_config('hnsw.iterative_scan', 'strict_order', true);
  END IF;
  -- only the active filters, written as Immich writes them, so that the planner estimates the
  -- user's rows as it does for Immich's own smart search (and picks the vector index the same way)
  filters := 'a."ownerId" = ANY($2)'
    || CASE WHEN visibilities IS NULL THEN ''
            WHEN visibilities @> ARRAY['archive', 'timeline', 'hidden'] AND visibilities <@ ARRAY['archive', 'timeline', 'hidden']
            THEN ' AND a.visibility <> ''locked'''
            ELSE ' AND a.visibility::text = ANY($3)' END
    || CASE WHEN with_deleted THEN '' ELSE ' AND a."deletedAt" IS NULL' END
    || CASE WHEN taken_after IS NULL THEN '' ELSE ' AND a."fileCreatedAt" >= $4' END
    || CASE WHEN taken_before IS NULL THEN '' ELSE ' AND a."fileCreatedAt" <= $5' END
    || CASE WHEN asset_type IS NULL THEN '' ELSE ' AND a.type::text = $6' END;
  EXECUTE format(
    'SELECT array_agg(c.id ORDER BY c.ord), array_agg(c.cosine ORDER BY c.ord) FROM (
       SELECT s."assetId" AS id, (1 - (s.embedding <=> $1))::real AS cosine,
              row_number() OVER (ORDER BY s.embedding <=> $1, s."assetId") AS ord
       FROM (SELECT s."assetId", s.embedding FROM public.smart_search s JOIN public.asset a ON a.id = s."assetId"
             WHERE %s ORDER BY s.embedding <=> $1, s."assetId" LIMIT %s) s) c', filters, max_results)
    INTO clip_ids, clip_cosines
    USING embedding, owner_ids, visibilities, taken_after, taken_before, asset_type;
  PERFORM set_config('hnsw.ef_search', coalesce(old_ef, '40'), true);
  IF old_iterative IS NOT NULL THEN
    PERFORM set_config('hnsw.iterative_scan', old_iterative, true);
  END IF;
  RETURN QUERY
    WITH clip AS MATERIALIZED (
      SELECT c.id AS "assetId", c.cosine FROM unnest(clip_ids, clip_cosines) AS c(id, cosine)
    ), txt AS MATERIALIZED (
      SELECT t."assetId", t.rank, t.text_score
      FROM zh_search.ocr_search_user(query, owner_ids, visibilities, with_deleted, taken_after, taken_before,
                                     asset_type, max_results) t
    ), others AS MATERIALIZED (
      SELECT array_agg(c."assetId") AS ids FROM clip c WHERE NOT EXISTS (SELECT 1 FROM txt t WHERE t."assetId" = c."assetId")
    ), clip_text AS MATERIALIZED (
      -- the text signal of CLIP neighbours outside the text top-N (looked up by id, not by query)
      SELECT m.* FROM others, zh_search.match_tokens(query, owner_ids, others.ids) m WHERE others.ids IS NOT NULL
      UNION ALL
      SELECT m.* FROM others, zh_search.match_substrings(query, owner_ids, others.ids) m
      WHERE others.ids IS NOT NULL AND zh_search.substring_wanted(query)
    )
    SELECT c."assetId", c.cosine, coalesce(t.rank, ct.rank, 0)::real, coalesce(t.text_score, ct.text_score, 0)::real
    FROM clip c LEFT JOIN txt t ON t."assetId" = c."assetId" LEFT JOIN clip_text ct ON ct."assetId" = c."assetId"
    UNION ALL
    -- (a scalar subquery per text candidate: a primary-key lookup, never a join over smart_search)
    SELECT t."assetId",
           (SELECT (1 - (s.embedding <=> hybrid_candidates_user.embedding))::real
            FROM public.smart_search s WHERE s."assetId" = t."assetId"),
           t.rank, t.text_score
    FROM txt t
    WHERE NOT EXISTS (SELECT 1 FROM clip c WHERE c."assetId" = t."assetId");
END $$;
