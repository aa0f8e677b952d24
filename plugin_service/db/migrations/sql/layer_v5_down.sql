-- Undo layer_v5.sql: the v3 bodies of norm_tsvector and rank_tsquery and the v2 body of query_tsquery
-- (copied, with the plan_cache_mode v3 gave it), the v4 body of ocr_search_user (copied), and the texts with
-- glued words indexed as v4 did.
CREATE OR REPLACE FUNCTION zh_search.norm_tsvector(norm text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  RETURN (SELECT coalesce(string_agg(format('%L:%s', d.token, least(d.pos, 16383)), ' '), '')::tsvector
          FROM zh_search.doc_tokens(norm) AS d);
END $$;

CREATE OR REPLACE FUNCTION zh_search.query_tsquery(q text) RETURNS tsquery
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET plan_cache_mode = force_generic_plan AS $fn$
BEGIN
  RETURN (
  WITH terms AS (
    SELECT s.term, s.tord
    FROM regexp_split_to_table(zh_search.query_text(q), '\s+') WITH ORDINALITY AS s(term, tord)
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
  SELECT string_agg(phrase, ' & ' ORDER BY phrase)::tsquery FROM phrases);
END $fn$;

CREATE OR REPLACE FUNCTION zh_search.rank_tsquery(q tsquery) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN replace(replace(q::text, ' <-> ', ' | '), ' & ', ' | ')::tsquery;

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
  after_id uuid DEFAULT NULL,
  text_budget integer DEFAULT NULL)
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
  IF text_budget IS NOT NULL THEN text_budget := greatest(text_budget, skip + max_results); END IF;
  IF query IS NULL OR owner_ids IS NULL OR cardinality(owner_ids) = 0 OR max_results = 0 THEN RETURN; END IF;
  -- Token matches, best first, each checked against Immich's filters until the page is full. Keyset paging
  -- (after_rank) walks every match; offset paging asks for skip + max_results + a margin first.
  top := CASE WHEN after_rank IS NULL THEN skip + max_results + greatest((skip + max_results) / 4, 50) END;
  LOOP
    n := 0; seen := 0; fetched := 0;
    FOR m IN EXECUTE
        'SELECT t."assetId" AS id, t.rank AS r, t.text_score AS s FROM zh_search.match_tokens($1, $2, NULL, $5, $6) t
         WHERE $3::real IS NULL OR t.rank < $3 OR (t.rank = $3 AND t."assetId" > $4)
         ORDER BY t.rank DESC, t."assetId"'
        USING query, owner_ids, after_rank, after_id, top, text_budget LOOP
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
    SELECT count(*) INTO tokens_all FROM zh_search.match_tokens(query, owner_ids, NULL, NULL, text_budget) t
      JOIN public.asset a ON a.id = t."assetId"
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

UPDATE zh_search.ocr_text SET tsv = zh_search.norm_tsvector(norm) WHERE zh_search.has_glued_words(norm);
DROP FUNCTION zh_search.doc_tokens_glued(text);
DROP FUNCTION zh_search.has_glued_words(text);
