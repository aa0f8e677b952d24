-- zh_search layer v2 (alembic revision 0003): never breaks Immich, follows every OCR change,
-- per-user search (contract v2, docs/search.md), Traditional -> Simplified folding, linear cost.
-- zh_search.fold_script (the OpenCC table) is created by the migration before this file runs.

-- ---------------------------------------------------------------------------------------------
-- Text model v2: NFKC, lower case, Traditional -> Simplified, then the v1 whitespace joins.
CREATE OR REPLACE FUNCTION zh_search.normalize(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN regexp_replace(regexp_replace(zh_search.fold_script(lower(normalize(t, NFKC))),
  '([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f])\s+(?=[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f])',
  '\1', 'g'),
  '(?<![0-9])([0-9])\s+(?=[0-9](?![0-9]))', '\1', 'g');

-- (token, position) of a normalised document, linear in its length: characters come from one
-- string_to_array pass and bigrams from lead() (v1 used substr(run, i, 2), which rescans the UTF-8
-- run from its start for every i: quadratic, 1.7 s for 16k characters).
-- Not STRICT, so that it is inlined into doc_tsvector's cached plan (NULL gives no rows anyway).
CREATE OR REPLACE FUNCTION zh_search.doc_tokens(norm text, OUT token text, OUT pos integer) RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  WITH runs AS (
    SELECT r.m[1] AS run, r.ord,
           r.m[1] ~ '^[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]' AS cjk,
           length(r.m[1]) AS len
    FROM regexp_matches(norm,
      '[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]+|[a-z\u00df-\u00f6\u00f8-\u024f\u0370-\u03ff\u0400-\u04ff]+|[0-9]+',
      'g') WITH ORDINALITY AS r(m, ord)
  ), placed AS (
    SELECT ord, run, cjk, len,
           1 + coalesce(sum(CASE WHEN cjk AND len > 1 THEN len - 1 ELSE 1 END)
                 OVER (ORDER BY ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::integer AS first
    FROM runs
  ), chars AS (
    SELECT p.first, p.len, c.ch, c.i, lead(c.ch) OVER (PARTITION BY p.ord ORDER BY c.i) AS nxt
    FROM placed p, unnest(string_to_array(p.run, NULL)) WITH ORDINALITY AS c(ch, i)
    WHERE p.cjk AND p.len > 1
  )
  SELECT left(run, 100), first FROM placed WHERE NOT cjk OR len = 1
  UNION ALL
  SELECT ch || nxt, first + i::integer - 1 FROM chars WHERE nxt IS NOT NULL
  UNION ALL
  SELECT ch, first + len - 2 FROM chars WHERE i = len
$$;

-- PL/pgSQL wrappers: the statement is planned once per session and cached (a SQL function's body
-- is planned again for every statement that calls it: ~1 ms per Immich OCR write).
CREATE OR REPLACE FUNCTION zh_search.doc_tsvector(t text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN (SELECT coalesce(string_agg(format('%L:%s', d.token, least(d.pos, 16383)), ' '), '')::tsvector
          FROM zh_search.doc_tokens(zh_search.normalize(t)) AS d);
END $$;

-- The query side folds the same way (v1 body otherwise).
CREATE OR REPLACE FUNCTION zh_search.query_text(q text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN regexp_replace(zh_search.fold_script(lower(normalize(left(q, 256), NFKC))),
                      '(?<![0-9])([0-9])\s+(?=[0-9](?![0-9]))', '\1', 'g');

CREATE OR REPLACE FUNCTION zh_search.query_tsquery(q text) RETURNS tsquery
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
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

CREATE OR REPLACE FUNCTION zh_search.query_patterns(q text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
BEGIN
  RETURN (SELECT array_agg('%' || regexp_replace(zh_search.normalize(s.term), '([\\%_])', '\\\1', 'g') || '%')
          FROM regexp_split_to_table(zh_search.query_text(q), '\s+') AS s(term) WHERE s.term <> '');
END $fn$;

-- ---------------------------------------------------------------------------------------------
-- Tables: the owner beside the text (per-user search narrows by it before ranking), the
-- failures the triggers and backfill recorded, and the resumable backfill's cursor.
ALTER TABLE zh_search.ocr_text ADD COLUMN "ownerId" uuid;
CREATE INDEX ocr_text_owner_idx ON zh_search.ocr_text ("ownerId");

CREATE TABLE zh_search.sync_failure (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  operation text NOT NULL,          -- insert, update, delete, truncate, backfill
  sqlstate text,
  message text,
  asset_ids uuid[] NOT NULL DEFAULT '{}'   -- at most the first 1000 of the statement
);

CREATE TABLE zh_search.backfill_state (
  id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  last_id uuid,
  started_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Characters of visible OCR text indexed per asset; the rest is not searchable (docs/search.md).
CREATE OR REPLACE FUNCTION zh_search.max_indexed_chars() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN 20000;

-- ---------------------------------------------------------------------------------------------
-- Sync. refresh() re-derives the given assets' rows from public.asset_ocr (visible lines only).
DROP FUNCTION IF EXISTS zh_search.sync(uuid[]);
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

-- Records what the layer could not do (never raises: a last resort is a WARNING in the server log).
CREATE OR REPLACE FUNCTION zh_search.record_failure(operation text, ids uuid[], state text, message text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RAISE WARNING 'zh_search: % of % asset(s) failed: % (%); run plugin-service db backfill',
    operation, coalesce(cardinality(ids), 0), message, state;
  BEGIN
    INSERT INTO zh_search.sync_failure (operation, sqlstate, message, asset_ids)
      VALUES (operation, state, left(message, 2000), coalesce(ids[1:1000], '{}'));
  EXCEPTION WHEN query_canceled OR OTHERS THEN
    RAISE WARNING 'zh_search: could not record the failure either: % (%)', SQLERRM, SQLSTATE;
  END;
END $$;

-- The trigger functions: SECURITY DEFINER (Immich's role needs no rights on zh_search), search_path
-- pinned, a short lock_timeout (a lock held on the layer's table never stalls Immich's write for
-- long), and every error caught, QueryCanceled (statement_timeout, lock_timeout, cancel) included,
-- which WHEN OTHERS does not catch. The failure is recorded inline, with no call into other layer
-- functions that could be missing; Immich's statement always goes on.
CREATE OR REPLACE FUNCTION zh_search.sync_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public SET lock_timeout = '1s' AS $$
DECLARE ids uuid[];
BEGIN
  BEGIN
    ids := ARRAY(SELECT DISTINCT n."assetId" FROM new_rows n);
    IF cardinality(ids) > 0 THEN PERFORM zh_search.refresh(ids); END IF;  -- no lock taken for nothing
  EXCEPTION WHEN query_canceled OR OTHERS THEN
    BEGIN
      PERFORM zh_search.record_failure('insert', ids, SQLSTATE, SQLERRM);
    EXCEPTION WHEN query_canceled OR OTHERS THEN
      RAISE WARNING 'zh_search: indexing inserted OCR text failed: %; run plugin-service db backfill', SQLERRM;
    END;
  END;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION zh_search.sync_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public SET lock_timeout = '1s' AS $$
DECLARE ids uuid[];
BEGIN
  BEGIN
    ids := ARRAY(SELECT DISTINCT o."assetId" FROM old_rows o);
    IF cardinality(ids) > 0 THEN PERFORM zh_search.refresh(ids); END IF;
  EXCEPTION WHEN query_canceled OR OTHERS THEN
    BEGIN
      PERFORM zh_search.record_failure('delete', ids, SQLSTATE, SQLERRM);
    EXCEPTION WHEN query_canceled OR OTHERS THEN
      RAISE WARNING 'zh_search: un-indexing deleted OCR text failed: %; run plugin-service db backfill', SQLERRM;
    END;
  END;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION zh_search.sync_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public SET lock_timeout = '1s' AS $$
DECLARE ids uuid[];
BEGIN
  BEGIN
    ids := ARRAY(SELECT n."assetId" FROM new_rows n UNION SELECT o."assetId" FROM old_rows o);
    IF cardinality(ids) > 0 THEN PERFORM zh_search.refresh(ids); END IF;
  EXCEPTION WHEN query_canceled OR OTHERS THEN
    BEGIN
      PERFORM zh_search.record_failure('update', ids, SQLSTATE, SQLERRM);
    EXCEPTION WHEN query_canceled OR OTHERS THEN
      RAISE WARNING 'zh_search: re-indexing updated OCR text failed: %; run plugin-service db backfill', SQLERRM;
    END;
  END;
  RETURN NULL;
END $$;

-- TRUNCATE asset_ocr (Immich's "all assets" OCR run) fires no row trigger. TRUNCATE of our table
-- needs an exclusive lock, which a running search holds off: after lock_timeout, DELETE instead.
CREATE OR REPLACE FUNCTION zh_search.sync_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public SET lock_timeout = '1s' AS $$
BEGIN
  BEGIN
    BEGIN
      TRUNCATE zh_search.ocr_text;
    EXCEPTION WHEN lock_not_available THEN
      DELETE FROM zh_search.ocr_text;
    END;
  EXCEPTION WHEN query_canceled OR OTHERS THEN
    BEGIN
      PERFORM zh_search.record_failure('truncate', '{}', SQLSTATE, SQLERRM);
    EXCEPTION WHEN query_canceled OR OTHERS THEN
      RAISE WARNING 'zh_search: clearing the OCR text index failed: %; run plugin-service db backfill', SQLERRM;
    END;
  END;
  RETURN NULL;
END $$;

-- Resumable backfill: one batch per call (the CLI commits after each), cursor in backfill_state.
-- A batch that fails is retried asset by asset; a bad asset is recorded and skipped. The pass ends
-- by removing rows whose asset lost its lines while the triggers were absent, and the failures
-- recorded before the pass started (this pass re-derived their assets).
DROP FUNCTION IF EXISTS zh_search.backfill_batch(uuid, integer);
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

-- ---------------------------------------------------------------------------------------------
-- Contract v2 (docs/search.md). Matching is shared by every entry point.
CREATE OR REPLACE FUNCTION zh_search.contract_version() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN 2;

CREATE OR REPLACE FUNCTION zh_search.search_owner_ids(user_id uuid) RETURNS uuid[]
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  SELECT ARRAY[user_id] || coalesce(array_agg(p."sharedById" ORDER BY p."sharedById"), '{}')
  FROM public.partner p WHERE p."sharedWithId" = user_id AND p."inTimeline" AND p."sharedById" <> user_id
$$;

-- Every asset of owner_ids (NULL: all) whose OCR text matches, with rank and text_score.
-- Token path: bigram phrase (plus zhparser words where installed). Substring path (rank 0.0001,
-- text_score 0.5): when the query has no token, has a letter/digit run of 3+ characters, or the
-- token path found nothing for these owners. `want_substring` false skips it (ocr_search_user
-- adds it only when its page reaches past the token matches).
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

-- Substring matches that the token path does not find (one LIKE per term, so the trigram index serves).
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

CREATE OR REPLACE FUNCTION zh_search.substring_wanted(query text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN zh_search.query_tsquery(query) IS NULL OR zh_search.query_text(query) ~ '[0-9a-z]{3}';

CREATE OR REPLACE FUNCTION zh_search.ocr_match(query text, owner_ids uuid[] DEFAULT NULL)
RETURNS TABLE("assetId" uuid, rank real, text_score real)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
DECLARE n integer;
BEGIN
  IF query IS NULL OR (owner_ids IS NOT NULL AND cardinality(owner_ids) = 0) THEN RETURN; END IF;
  RETURN QUERY SELECT * FROM zh_search.match_tokens(query, owner_ids, NULL);
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n = 0 OR zh_search.substring_wanted(query) THEN
    RETURN QUERY SELECT * FROM zh_search.match_substrings(query, owner_ids, NULL);
  END IF;
END $$;

-- ocr_search_user: the filters of contract v2 exactly as Immich's searchAssetBuilder applies them,
-- on the user's matches, before the order and the limit. (Bodies are strings, not SQL-standard
-- bodies, so that no dependency on Immich's columns is recorded: Immich's migrations stay free.)
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

-- Per-user hybrid candidates: the user's nearest CLIP embeddings through the vector index
-- (pgvector HNSW: ef_search raised and iterative scan on for this query only, so the filter is
-- applied inside the index scan and max_results rows come back) UNION the user's best text
-- matches; every candidate carries cosine, text_rank and text_score. The CLIP query is planned
-- with its actual values (EXECUTE): a generic plan would not know the LIMIT and could choose an
-- exact scan of the user's embeddings.
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

-- ---------------------------------------------------------------------------------------------
-- Rights for Immich's role (called by the migration and by every `plugin-service db upgrade`):
-- use the schema, read the index, call the contract. The writing functions stay the owner's.
CREATE OR REPLACE FUNCTION zh_search.grant_to(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
BEGIN
  IF role_name IS NULL OR NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
    RAISE EXCEPTION 'role % does not exist (plugin-service db upgrade --immich-role NAME)', role_name;
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA zh_search TO %I', role_name);
  EXECUTE format('GRANT SELECT ON zh_search.ocr_text TO %I', role_name);
END $$;
REVOKE ALL ON FUNCTION zh_search.refresh(uuid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION zh_search.record_failure(text, uuid[], text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION zh_search.backfill_step(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION zh_search.grant_to(name) FROM PUBLIC;

-- Who Immich's role is, for health() and the default of --immich-role.
CREATE OR REPLACE FUNCTION zh_search.immich_role() RETURNS name
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = to_regclass('public.asset')
$$;

-- ---------------------------------------------------------------------------------------------
-- Is the layer working? One row per check; `plugin-service db status` exits 1 when one is not ok.
-- SECURITY DEFINER (read-only) so that Immich's role sees the same answer as the operator.
DROP FUNCTION IF EXISTS zh_search.health();
CREATE FUNCTION zh_search.health()
RETURNS TABLE(check_name text, ok boolean, detail text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v text;
  n integer;
  role_name name := zh_search.immich_role();
  cursor_row zh_search.backfill_state;
BEGIN
  SELECT string_agg(version_num, ',') INTO v FROM zh_search.alembic_version;
  RETURN QUERY SELECT 'revision'::text, v IS NOT NULL, coalesce(v, 'no alembic revision recorded');

  RETURN QUERY SELECT 'bigram index'::text,
    zh_search.doc_tsvector('營業 執照 No.12') @@ zh_search.query_tsquery('营业执照 12'),
    'tokenizer, Traditional/Simplified folding and query builder agree'::text;

  SELECT count(*) INTO n FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE t.tgrelid = 'public.asset_ocr'::regclass AND t.tgname LIKE 'zh\_search\_sync\_%' AND t.tgenabled <> 'D'
      AND p.prosecdef;
  RETURN QUERY SELECT 'sync triggers'::text, n = 4, format('%s of 4 enabled on public.asset_ocr (SECURITY DEFINER)', n);

  SELECT count(*) INTO n FROM zh_search.sync_failure;
  RETURN QUERY SELECT 'sync failures'::text, n = 0,
    CASE WHEN n = 0 THEN 'none recorded'
         ELSE format('%s recorded, last %s: %s; assets %s; run plugin-service db backfill', n,
                     (SELECT max(f.at) FROM zh_search.sync_failure f),
                     (SELECT f.operation || ' ' || coalesce(f.sqlstate, '') || ' ' || coalesce(f.message, '')
                        FROM zh_search.sync_failure f ORDER BY f.id DESC LIMIT 1),
                     (SELECT coalesce(string_agg(x::text, ', '), '-') FROM
                        (SELECT DISTINCT unnest(f.asset_ids) AS x FROM zh_search.sync_failure f LIMIT 5) ids)) END;

  SELECT * INTO cursor_row FROM zh_search.backfill_state;
  RETURN QUERY SELECT 'backfill'::text, NOT FOUND,
    CASE WHEN FOUND THEN format('running or interrupted since %s (after asset %s): plugin-service db backfill resumes it',
                               cursor_row.started_at, coalesce(cursor_row.last_id::text, '-'))
         ELSE 'complete' END;

  RETURN QUERY SELECT 'immich role'::text,
    role_name IS NOT NULL AND has_schema_privilege(role_name, 'zh_search', 'USAGE')
      AND has_table_privilege(role_name, 'zh_search.ocr_text', 'SELECT'),
    CASE WHEN role_name IS NULL THEN 'public.asset not found'
         WHEN has_schema_privilege(role_name, 'zh_search', 'USAGE') AND has_table_privilege(role_name, 'zh_search.ocr_text', 'SELECT')
         THEN format('%s may call the search functions', role_name)
         ELSE format('%s lacks USAGE on zh_search or SELECT on zh_search.ocr_text: plugin-service db upgrade --immich-role %s',
                     role_name, role_name) END;

  SELECT count(*) INTO n FROM zh_search.ocr_text;
  RETURN QUERY SELECT 'indexed assets'::text, true, n::text;

  IF to_regprocedure('zh_search.zhparser_health()') IS NULL THEN
    RETURN QUERY SELECT 'zhparser'::text, true,
      CASE WHEN EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'zhparser')
           THEN 'available but not enabled (plugin-service db downgrade --revision 0001 && plugin-service db upgrade)'
           ELSE 'not installed: bigram index only' END;
  ELSE
    RETURN QUERY SELECT * FROM zh_search.zhparser_health();
  END IF;
END $$;
