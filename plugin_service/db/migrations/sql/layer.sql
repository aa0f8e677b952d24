-- zh_search layer, part 1 (alembic revision 0001): Chinese OCR text index that follows Immich's
-- asset_ocr table. Everything lives in schema zh_search; the only objects touching Immich's schema
-- are the four sync triggers on public.asset_ocr (Immich's drift check ignores extra triggers).
--
-- Text model (docs/search.md): NFKC + lower case, whitespace between two CJK characters removed
-- (OCR splits words with spaces and line breaks) and between single spaced-out digits, then CJK runs become overlapping bigrams and
-- Latin words and digit runs stay tokens. Each CJK run's last character is also emitted as a
-- unigram at the position of the run's last bigram, so a one-character query is a prefix query
-- ('中':*) that finds the character anywhere, and a query like 'B1' finds 'AB1'.
-- The tsvector is built from a literal, never from the text-search parser, so it is the same under
-- every locale and no user text can inject tsquery syntax (tokens are letters, digits, CJK only).

-- CJK: kana, CJK ext A, unified ideographs, Hangul syllables, compatibility ideographs, ext B-G.
-- WORD: Latin (incl. accented), Greek, Cyrillic letters.

-- Also joins single digits that OCR spaced out ('0 0 8 8' -> '0088'); runs of 2+ digits stay apart.
CREATE FUNCTION zh_search.normalize(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN regexp_replace(regexp_replace(lower(normalize(t, NFKC)),
  '([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f])\s+(?=[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f])',
  '\1', 'g'),
  '(?<![0-9])([0-9])\s+(?=[0-9](?![0-9]))', '\1', 'g');

-- (token, position) of a normalised document.
CREATE FUNCTION zh_search.doc_tokens(norm text, OUT token text, OUT pos integer) RETURNS SETOF record
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

CREATE FUNCTION zh_search.doc_tsvector(t text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (SELECT coalesce(string_agg(format('%L:%s', d.token, least(d.pos, 16383)), ' '), '')::tsvector
        FROM zh_search.doc_tokens(zh_search.normalize(t)) AS d);

-- The user's query: whitespace separates terms (AND), except between single digits ('0 0 8 8'); within a term, tokens form a phrase
-- (adjacent bigrams = substring). The last token of a term is a prefix unless it is a CJK run of
-- two or more characters (a word, a number or a single CJK character can continue in the text).
-- NULL when the query has no letters, digits or CJK characters.
CREATE FUNCTION zh_search.query_tsquery(q text) RETURNS tsquery
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

-- LIKE patterns of the query terms, for the substring path (escaped: the query is plain text).
CREATE FUNCTION zh_search.query_patterns(q text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (SELECT array_agg('%' || regexp_replace(zh_search.normalize(s.term), '([\\%_])', '\\\1', 'g') || '%')
        FROM regexp_split_to_table(regexp_replace(lower(normalize(q, NFKC)), '(?<![0-9])([0-9])\s+(?=[0-9](?![0-9]))', '\1', 'g'),
                                   '\s+') AS s(term) WHERE s.term <> '');

-- One row per asset with visible OCR lines, in reading order (top to bottom, left to right).
CREATE TABLE zh_search.ocr_text (
  "assetId" uuid PRIMARY KEY,
  text text NOT NULL,
  norm text GENERATED ALWAYS AS (zh_search.normalize(text)) STORED,
  tsv tsvector GENERATED ALWAYS AS (zh_search.doc_tsvector(text)) STORED
);
CREATE INDEX ocr_text_tsv_idx ON zh_search.ocr_text USING gin (tsv);
CREATE INDEX ocr_text_norm_trgm_idx ON zh_search.ocr_text USING gin (norm gin_trgm_ops);

-- Re-derive the rows of the given assets from public.asset_ocr (visible lines only, as Immich's
-- own search after an edit). SECURITY DEFINER: Immich's role writes asset_ocr, the layer's owner
-- writes ocr_text.
CREATE FUNCTION zh_search.refresh(ids uuid[]) RETURNS integer
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

-- A failure of the layer must never fail Immich's own OCR write: it is logged as a WARNING (the
-- subtransaction rolls back only our part) and `plugin-service db backfill` repairs the index.
CREATE FUNCTION zh_search.sync(ids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM zh_search.refresh(ids);
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'zh_search: indexing OCR text of % asset(s) failed: % (%); run plugin-service db backfill',
    cardinality(ids), SQLERRM, SQLSTATE;
END $$;

CREATE FUNCTION zh_search.sync_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM zh_search.sync(ARRAY(SELECT DISTINCT n."assetId" FROM new_rows n)); RETURN NULL; END $$;
CREATE FUNCTION zh_search.sync_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM zh_search.sync(ARRAY(SELECT DISTINCT o."assetId" FROM old_rows o)); RETURN NULL; END $$;
CREATE FUNCTION zh_search.sync_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM zh_search.sync(ARRAY(SELECT n."assetId" FROM new_rows n UNION SELECT o."assetId" FROM old_rows o));
  RETURN NULL;
END $$;
CREATE FUNCTION zh_search.sync_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  TRUNCATE zh_search.ocr_text;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'zh_search: clearing the OCR text index failed: % (%); run plugin-service db backfill', SQLERRM, SQLSTATE;
  RETURN NULL;
END $$;

-- Statement-level with transition tables: Immich's OCR upsert deletes and inserts all lines of an
-- asset in one statement, so each asset is re-derived once per statement, not once per line.
-- Deleting an asset cascades to asset_ocr and fires the delete trigger.
CREATE TRIGGER zh_search_sync_insert AFTER INSERT ON public.asset_ocr
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION zh_search.sync_inserted();
CREATE TRIGGER zh_search_sync_update AFTER UPDATE ON public.asset_ocr
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION zh_search.sync_updated();
CREATE TRIGGER zh_search_sync_delete AFTER DELETE ON public.asset_ocr
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION zh_search.sync_deleted();
CREATE TRIGGER zh_search_sync_truncate AFTER TRUNCATE ON public.asset_ocr
  FOR EACH STATEMENT EXECUTE FUNCTION zh_search.sync_truncated();

-- Assets with OCR lines but no (or stale) row: what `plugin-service db backfill` walks through.
CREATE FUNCTION zh_search.backfill_batch(after_id uuid, batch integer) RETURNS TABLE(last_id uuid, assets integer, changed integer)
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
