-- zh_search layer v3 (alembic revision 0004): the same contract v2 (docs/search.md), cheaper.
-- * The index table is partitioned by the asset's owner (hash, 32 partitions): a user's search reads the
--   GIN posting lists and heap pages of their own partition, not the whole household's (at 1M assets and
--   10 users a broad query read ~30k scattered pages).
-- * Every text is normalised once per write (norm and tsv are written by refresh(), no longer generated
--   columns computed twice by INSERT .. ON CONFLICT DO UPDATE), and the small functions run on generic plans
--   (their custom plans were re-planned on every call: 0.2 ms per Immich OCR write).
-- * rank = ts_rank over the query's tokens wherever they occur in a matching text (0.4 us a row instead of
--   2.9 us for an eight-bigram phrase); which texts match is unchanged.

-- ---------------------------------------------------------------------------------------------
-- Text model: vectors from the normalised text (refresh() normalises once and builds the vector from it).
CREATE OR REPLACE FUNCTION zh_search.norm_tsvector(norm text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  RETURN (SELECT coalesce(string_agg(format('%L:%s', d.token, least(d.pos, 16383)), ' '), '')::tsvector
          FROM zh_search.doc_tokens(norm) AS d);
END $$;

CREATE OR REPLACE FUNCTION zh_search.doc_tsvector(t text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  RETURN zh_search.norm_tsvector(zh_search.normalize(t));
END $$;

-- A plan that depends on a parameter's value was re-planned on every call (PL/pgSQL keeps choosing the
-- custom plan for a text argument); these functions' plans do not depend on it.
ALTER FUNCTION zh_search.fold_script(text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION zh_search.query_tsquery(text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION zh_search.query_patterns(text) SET plan_cache_mode = force_generic_plan;
-- The v1 functions (kept for the unpatched series and the CLI without --user-id) are the opposite: their
-- LIKE and LIMIT parameters decide the plan, and on the partitioned table the generic plan PL/pgSQL picks
-- after five calls never uses the trigram index (a mixed CJK+digit query: 2 ms custom, 80-110 ms generic).
ALTER FUNCTION zh_search.ocr_search(text, integer) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION zh_search.hybrid_candidates(text, vector, integer) SET plan_cache_mode = force_custom_plan;

-- The query's tokens OR-ed, for ranking only (matching still needs every phrase): ts_rank of a phrase of
-- k bigrams compares every pair of positions, of an OR each token once. Our lexemes hold only letters,
-- digits and CJK, so the operators can be replaced in the text form.
CREATE OR REPLACE FUNCTION zh_search.rank_tsquery(q tsquery) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN replace(replace(q::text, ' <-> ', ' | '), ' & ', ' | ')::tsquery;

-- ---------------------------------------------------------------------------------------------
-- How many partitions (by hash of the owner): 32 keeps a household's users mostly apart (10 users: about one
-- shared pair) while a query without owners (admin tools) still scans few enough of them.
CREATE OR REPLACE FUNCTION zh_search.partitions() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN 32;

-- The index table, partitioned by owner. The v2 rows are copied (their vectors are already v3's).
ALTER TABLE zh_search.ocr_text RENAME TO ocr_text_v2;
ALTER INDEX zh_search.ocr_text_pkey RENAME TO ocr_text_v2_pkey;
ALTER INDEX zh_search.ocr_text_tsv_idx RENAME TO ocr_text_v2_tsv_idx;
ALTER INDEX zh_search.ocr_text_norm_trgm_idx RENAME TO ocr_text_v2_norm_trgm_idx;
ALTER INDEX IF EXISTS zh_search.ocr_text_tsv_zh_idx RENAME TO ocr_text_v2_tsv_zh_idx;

CREATE TABLE zh_search.ocr_text (
  "assetId" uuid NOT NULL,
  "ownerId" uuid NOT NULL,
  text text NOT NULL,
  norm text NOT NULL,
  tsv tsvector NOT NULL,
  PRIMARY KEY ("ownerId", "assetId")
) PARTITION BY HASH ("ownerId");
DO $$
BEGIN
  FOR i IN 0..zh_search.partitions() - 1 LOOP
    EXECUTE format('CREATE TABLE zh_search.ocr_text_p%s PARTITION OF zh_search.ocr_text '
                   'FOR VALUES WITH (MODULUS %s, REMAINDER %s)', lpad(i::text, 2, '0'), zh_search.partitions(), i);
  END LOOP;
  IF to_regprocedure('zh_search.zhparser_health()') IS NOT NULL THEN  -- migration 0002 installed zhparser
    ALTER TABLE zh_search.ocr_text ADD COLUMN tsv_zh tsvector
      GENERATED ALWAYS AS (to_tsvector('zh_search.zh_ocr'::regconfig, zh_search.normalize(text))) STORED;
  END IF;
END $$;

INSERT INTO zh_search.ocr_text ("assetId", "ownerId", text, norm, tsv)
  SELECT "assetId", "ownerId", text, norm, tsv FROM zh_search.ocr_text_v2 WHERE "ownerId" IS NOT NULL;
DROP TABLE zh_search.ocr_text_v2;

CREATE INDEX ocr_text_tsv_idx ON zh_search.ocr_text USING gin (tsv);
CREATE INDEX ocr_text_norm_trgm_idx ON zh_search.ocr_text USING gin (norm gin_trgm_ops);
-- rows whose asset is gone (Immich's cascade) are found by asset id alone
CREATE INDEX ocr_text_asset_idx ON zh_search.ocr_text ("assetId");
DO $$
BEGIN
  IF to_regprocedure('zh_search.zhparser_health()') IS NOT NULL THEN
    CREATE INDEX ocr_text_tsv_zh_idx ON zh_search.ocr_text USING gin (tsv_zh);
  END IF;
END $$;

-- ---------------------------------------------------------------------------------------------
-- Sync: one statement per owner. Rows are addressed by (owner, asset), so each lookup reads one partition;
-- only the rows of deleted assets (owner unknown) are looked up in every partition.
CREATE OR REPLACE FUNCTION zh_search.refresh(ids uuid[]) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  changed integer := 0;
  n integer;
  own uuid;
  mine uuid[];
  gone uuid[];
  upsert_ids uuid[];
  upsert_texts text[];
BEGIN
  -- The assets by owner; those without an asset row were deleted with their lines (Immich's cascade): their
  -- owner is unknown, so their rows are looked up in every partition (ocr_text_asset_idx). One pass per owner
  -- (usually one) with the owner a parameter, so that the executor keeps that owner's partition only.
  FOR own, mine IN SELECT s."ownerId", array_agg(x.id) FROM unnest(ids) AS x(id)
                   LEFT JOIN public.asset s ON s.id = x.id GROUP BY s."ownerId" LOOP
    IF own IS NULL THEN
      DELETE FROM zh_search.ocr_text o WHERE o."assetId" = ANY(mine);
      GET DIAGNOSTICS n = ROW_COUNT;
      changed := changed + n;
      CONTINUE;
    END IF;
    -- what changed: rows to drop (no visible line left) and texts to write. Nothing changed (the second of
    -- the two triggers of Immich's upsert): no write statement runs at all.
    SELECT array_agg(c."assetId") FILTER (WHERE v."assetId" IS NULL),
           array_agg(v."assetId") FILTER (WHERE v."assetId" IS NOT NULL),
           array_agg(v.text) FILTER (WHERE v."assetId" IS NOT NULL)
      INTO gone, upsert_ids, upsert_texts
      FROM (SELECT l."assetId", left(string_agg(l.text, E'\n' ORDER BY l.y1, l.x1, l.id), zh_search.max_indexed_chars()) AS text
            FROM public.asset_ocr l WHERE l."assetId" = ANY(mine) AND l."isVisible" GROUP BY l."assetId") v
      FULL JOIN (SELECT o."assetId", o.text FROM zh_search.ocr_text o WHERE o."ownerId" = own AND o."assetId" = ANY(mine)) c
        ON c."assetId" = v."assetId"
      WHERE c."assetId" IS NULL OR v."assetId" IS NULL OR c.text IS DISTINCT FROM v.text;
    IF gone IS NOT NULL THEN
      DELETE FROM zh_search.ocr_text o WHERE o."ownerId" = own AND o."assetId" = ANY(gone);
      GET DIAGNOSTICS n = ROW_COUNT;
      changed := changed + n;
    END IF;
    IF upsert_ids IS NOT NULL THEN
      -- each text normalised once (OFFSET 0 keeps the subquery from being flattened into two calls)
      INSERT INTO zh_search.ocr_text AS o ("assetId", "ownerId", text, norm, tsv)
        SELECT u.id, own, u.text, u.norm, zh_search.norm_tsvector(u.norm)
        FROM (SELECT x.id, x.text, zh_search.normalize(x.text) AS norm FROM unnest(upsert_ids, upsert_texts) AS x(id, text) OFFSET 0) u
      ON CONFLICT ("ownerId", "assetId") DO UPDATE SET text = EXCLUDED.text, norm = EXCLUDED.norm, tsv = EXCLUDED.tsv;
      GET DIAGNOSTICS n = ROW_COUNT;
      changed := changed + n;
    END IF;
  END LOOP;
  RETURN changed;
END $$;
REVOKE ALL ON FUNCTION zh_search.refresh(uuid[]) FROM PUBLIC;

-- Backfill's last step also drops rows whose asset changed owner while the triggers were absent.
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
      WHERE NOT EXISTS (SELECT 1 FROM public.asset_ocr a WHERE a."assetId" = o."assetId" AND a."isVisible")
         OR NOT EXISTS (SELECT 1 FROM public.asset s WHERE s.id = o."assetId" AND s."ownerId" = o."ownerId");
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
REVOKE ALL ON FUNCTION zh_search.backfill_step(integer) FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- Matching (ocr_match keeps its v2 body, which calls match_tokens without `top`). owner_ids narrow to their
-- partitions (plan-time pruning: the statements are EXECUTEd with the values); given asset ids (the hybrid's
-- CLIP neighbours) are looked up by (owner, asset). `top`, when given, keeps only that many best rows (a
-- top-N sort instead of returning and sorting every match).
DROP FUNCTION IF EXISTS zh_search.match_tokens(text, uuid[], uuid[]);
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

-- ocr_search_user: as v2, but the token matches come back as a top-N (the page plus a margin for the
-- assets Immich's filters drop), and only when the filters drop more than the margin is every match fetched.
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
