-- zh_search layer v6 (alembic revision 0007): the same contract v2 (docs/search.md); the hybrid's text half
-- gets the same plan whatever the statistics of the user's partition say.
-- * A text budget is a LIMIT, and under a LIMIT the planner may prefer reading the partition in storage
--   order until it has found `budget` matches, on the assumption that matches are spread evenly. They are
--   not (a trip, a batch of receipts): at 1M assets this read half of a user's partition, testing every text
--   (19 ms instead of 1.6 ms); kept from that, it walked the primary key in order instead, testing every text
--   of the user as well. match_tokens reads no table or key in order: matches come from the GIN index as a
--   bitmap, and given asset ids from the primary key as a bitmap (the same key lookups).
ALTER FUNCTION zh_search.match_tokens(text, uuid[], uuid[], integer, integer)
  SET enable_seqscan = off SET enable_indexscan = off;

-- * When a partition holds several users, the planner combined the GIN index with the primary key's
--   ("ownerId", ...) prefix, reading every one of the user's keys (100k at 1M assets: 4 ms) to save heap
--   visits that the budget's LIMIT never makes. The key now leads with the asset id, which also serves every
--   lookup by asset id alone (Immich's cascade), so the separate asset index goes: one index less to write
--   on every OCR upsert.
ALTER TABLE zh_search.ocr_text DROP CONSTRAINT ocr_text_pkey,
  ADD CONSTRAINT ocr_text_pkey PRIMARY KEY ("assetId", "ownerId");
DROP INDEX zh_search.ocr_text_asset_idx;
