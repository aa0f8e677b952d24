-- zh_search layer, part 2 (alembic revision 0002, applied only when the zhparser extension is
-- available): a second stored tsvector from zhparser (SCWS dictionary words) beside the bigrams.
-- Pitfalls handled here (../shared/research/zhparser-findings.md §4):
--  * the usual mapping (n,v,a,i,e,l,j) drops digits glued to Chinese (type u) and every custom
--    word (type x): map every token type except w (punctuation);
--  * zhparser's options are session settings whose effect is frozen into stored tsvectors: pin
--    them for the database (ALTER DATABASE, done by the migration) and set them in this session;
--  * a missing dictionary only raises a NOTICE and then yields empty vectors: the migration
--    refuses to continue and zh_search.health() reports it.

CREATE EXTENSION IF NOT EXISTS zhparser SCHEMA zh_search;

CREATE TEXT SEARCH CONFIGURATION zh_search.zh_ocr (PARSER = zh_search.zhparser);
ALTER TEXT SEARCH CONFIGURATION zh_search.zh_ocr
  ADD MAPPING FOR a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,x,y,z WITH simple;

-- Options the stored column is built with (also pinned per database by the migration).
SET zhparser.multi_short = on;
SET zhparser.punctuation_ignore = on;

CREATE FUNCTION zh_search.zhparser_health()
RETURNS TABLE(check_name text, ok boolean, detail text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
DECLARE
  vec tsvector := to_tsvector('zh_search.zh_ocr', '营业执照 北京');
BEGIN
  RETURN QUERY SELECT 'zhparser dictionary'::text, vec @@ '营业执照'::tsquery AND vec @@ '北京'::tsquery,
    CASE WHEN vec @@ '营业执照'::tsquery THEN format('segments 营业执照 北京 as %s', vec)
         ELSE format('DICTIONARY MISSING OR BROKEN: 营业执照 北京 -> %s (every Chinese word is lost; install the SCWS dictionary)', vec) END;
  RETURN QUERY SELECT 'zhparser options'::text,
    coalesce(current_setting('zhparser.multi_short', true), '') = 'on'
      AND coalesce(current_setting('zhparser.punctuation_ignore', true), '') = 'on',
    format('multi_short=%s punctuation_ignore=%s (must match what the stored column was built with: on, on)',
           current_setting('zhparser.multi_short', true), current_setting('zhparser.punctuation_ignore', true));
END $$;

DO $$
BEGIN
  IF NOT (SELECT ok FROM zh_search.zhparser_health() WHERE check_name = 'zhparser dictionary') THEN
    RAISE EXCEPTION 'zhparser is installed but its dictionary does not work: %',
      (SELECT detail FROM zh_search.zhparser_health() WHERE check_name = 'zhparser dictionary');
  END IF;
END $$;

ALTER TABLE zh_search.ocr_text
  ADD COLUMN tsv_zh tsvector GENERATED ALWAYS AS (to_tsvector('zh_search.zh_ocr'::regconfig, zh_search.normalize(text))) STORED;
CREATE INDEX ocr_text_tsv_zh_idx ON zh_search.ocr_text USING gin (tsv_zh);

-- Matches = bigram phrase OR zhparser words (AND); rank = sum of the two ts_ranks (separate sums
-- keep the grading that one concatenated vector would flatten). Substring path as in functions.sql.
CREATE OR REPLACE FUNCTION zh_search.ocr_search(query text, max_results integer DEFAULT 200)
RETURNS TABLE("assetId" uuid, rank real)
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
DECLARE
  q tsquery := zh_search.query_tsquery(left(query, 256));
  qz tsquery := plainto_tsquery('zh_search.zh_ocr', zh_search.normalize(left(query, 256)));
  n integer := 0;
BEGIN
  max_results := least(greatest(coalesce(max_results, 200), 0), 10000);
  IF numnode(qz) = 0 THEN qz := NULL; END IF;
  IF q IS NOT NULL OR qz IS NOT NULL THEN
    RETURN QUERY
      SELECT o."assetId", (coalesce(ts_rank(o.tsv, q), 0) + coalesce(ts_rank(o.tsv_zh, qz), 0))::real AS r
      FROM zh_search.ocr_text o
      WHERE o.tsv @@ q OR o.tsv_zh @@ qz ORDER BY r DESC, o."assetId" LIMIT max_results;
    GET DIAGNOSTICS n = ROW_COUNT;
  END IF;
  IF q IS NULL OR n = 0 OR (n < max_results AND lower(normalize(query, NFKC)) ~ '[0-9a-z]{3}') THEN
    RETURN QUERY
      SELECT o."assetId", 0.0001::real FROM zh_search.ocr_text o
      WHERE o.norm LIKE ALL (zh_search.query_patterns(left(query, 256)))
        AND NOT coalesce(o.tsv @@ q OR o.tsv_zh @@ qz, false)
      ORDER BY o."assetId" LIMIT max_results - n;
  END IF;
END $$;
