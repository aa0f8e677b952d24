-- Undo layer_v5.sql: the v3 bodies of norm_tsvector and rank_tsquery and the v2 body of query_tsquery
-- (copied, with the plan_cache_mode v3 gave it), and the texts with glued words indexed as v4 did.
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

UPDATE zh_search.ocr_text SET tsv = zh_search.norm_tsvector(norm) WHERE zh_search.has_glued_words(norm);
DROP FUNCTION zh_search.doc_tokens_glued(text);
DROP FUNCTION zh_search.has_glued_words(text);
