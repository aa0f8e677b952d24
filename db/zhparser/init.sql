-- Run by the PostgreSQL image on a NEW data directory (/docker-entrypoint-initdb.d), in
-- $POSTGRES_DB (Immich's database). For an existing data directory run it once by hand:
--   docker exec -i immich_postgres psql -U postgres -d immich < db/zhparser/init.sql
-- It installs zhparser into the zh_search schema (never `public`: Immich's schema-drift check does
-- not tolerate extra functions there), pins the segmentation options for the database, and fails
-- loudly when the SCWS dictionary is missing (zhparser itself only raises a NOTICE and then
-- produces empty vectors). `plugin-service db upgrade` does the rest (tables, triggers, functions).
CREATE SCHEMA IF NOT EXISTS zh_search;
CREATE EXTENSION IF NOT EXISTS zhparser SCHEMA zh_search;

DO $$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET zhparser.multi_short = on', current_database());
  EXECUTE format('ALTER DATABASE %I SET zhparser.punctuation_ignore = on', current_database());
  -- without its dictionary SCWS emits every Chinese character alone, typed u
  IF NOT EXISTS (SELECT 1 FROM ts_parse('zh_search.zhparser', '营业执照 北京') WHERE length(token) > 1) THEN
    RAISE EXCEPTION 'zhparser cannot segment Chinese: the SCWS dictionary (dict.utf8.xdb in share/tsearch_data) is missing or unreadable';
  END IF;
END $$;
