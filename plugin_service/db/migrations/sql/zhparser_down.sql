-- Undo zhparser.sql (the migration then re-runs functions.sql for the bigram-only ocr_search).
DROP INDEX IF EXISTS zh_search.ocr_text_tsv_zh_idx;
ALTER TABLE zh_search.ocr_text DROP COLUMN IF EXISTS tsv_zh;
DROP FUNCTION IF EXISTS zh_search.zhparser_health();
DROP TEXT SEARCH CONFIGURATION IF EXISTS zh_search.zh_ocr;
DROP EXTENSION IF EXISTS zhparser;
