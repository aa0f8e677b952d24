-- Back to layer v5 (revision 0006): the v3 key and asset index, match_tokens planned freely.
ALTER FUNCTION zh_search.match_tokens(text, uuid[], uuid[], integer, integer) RESET enable_seqscan;
ALTER FUNCTION zh_search.match_tokens(text, uuid[], uuid[], integer, integer) RESET enable_indexscan;
ALTER TABLE zh_search.ocr_text DROP CONSTRAINT ocr_text_pkey,
  ADD CONSTRAINT ocr_text_pkey PRIMARY KEY ("ownerId", "assetId");
CREATE INDEX ocr_text_asset_idx ON zh_search.ocr_text ("assetId");
