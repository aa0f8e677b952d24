-- The part of Immich v3.1.0's schema the zh_search layer touches, as Immich's migrations create it
-- (server/src/schema/tables/{asset,asset-ocr,asset-ocr-audit,ocr-search,smart-search}.table.ts,
-- functions.ts; migrations 1758705774125, 1758705789125). asset keeps only the columns tests use.
-- Run as Immich's own (unprivileged) role: tests/db/conftest.py creates the extensions as the
-- superuser first, as a hardened installation's administrator does, then this file as `immich`.

CREATE OR REPLACE FUNCTION f_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN unaccent('unaccent', $1);

CREATE TYPE asset_visibility_enum AS ENUM ('archive', 'timeline', 'hidden', 'locked');

CREATE TABLE "user" (
  id uuid NOT NULL DEFAULT uuid_generate_v4() PRIMARY KEY,
  email character varying NOT NULL DEFAULT gen_random_uuid()::text
);

CREATE TABLE partner (
  "sharedById" uuid NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
  "sharedWithId" uuid NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
  "inTimeline" boolean NOT NULL DEFAULT false,
  PRIMARY KEY ("sharedById", "sharedWithId")
);

CREATE TABLE asset (
  id uuid NOT NULL DEFAULT uuid_generate_v4() PRIMARY KEY,
  "ownerId" uuid NOT NULL REFERENCES "user" (id) ON UPDATE CASCADE ON DELETE CASCADE,
  type character varying NOT NULL DEFAULT 'IMAGE',
  "originalPath" character varying NOT NULL DEFAULT '',
  "fileCreatedAt" timestamp with time zone NOT NULL DEFAULT now(),
  "localDateTime" timestamp with time zone NOT NULL DEFAULT now(),
  "createdAt" timestamp with time zone NOT NULL DEFAULT now(),
  visibility asset_visibility_enum NOT NULL DEFAULT 'timeline',
  "deletedAt" timestamp with time zone
);
CREATE INDEX "asset_ownerId_idx" ON asset ("ownerId");
CREATE INDEX "asset_fileCreatedAt_idx" ON asset ("fileCreatedAt");
CREATE INDEX asset_id_timeline_notdeleted_idx ON asset (id) WHERE visibility = 'timeline' AND "deletedAt" IS NULL;

CREATE TABLE asset_ocr (
  "id" uuid NOT NULL DEFAULT uuid_generate_v4(), "assetId" uuid NOT NULL,
  "x1" real NOT NULL, "y1" real NOT NULL, "x2" real NOT NULL, "y2" real NOT NULL,
  "x3" real NOT NULL, "y3" real NOT NULL, "x4" real NOT NULL, "y4" real NOT NULL,
  "boxScore" real NOT NULL, "textScore" real NOT NULL, "text" text NOT NULL,
  "isVisible" boolean NOT NULL DEFAULT true,
  "updateId" uuid NOT NULL DEFAULT gen_random_uuid()
);
ALTER TABLE asset_ocr ADD CONSTRAINT asset_ocr_pkey PRIMARY KEY (id);
ALTER TABLE asset_ocr ADD CONSTRAINT "asset_ocr_assetId_fkey" FOREIGN KEY ("assetId") REFERENCES asset (id) ON UPDATE CASCADE ON DELETE CASCADE;
CREATE INDEX "asset_ocr_assetId_idx" ON asset_ocr ("assetId");
CREATE INDEX "asset_ocr_updateId_idx" ON asset_ocr ("updateId");

CREATE TABLE asset_ocr_audit (
  id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  "assetId" uuid NOT NULL,
  "deletedAt" timestamp with time zone NOT NULL DEFAULT clock_timestamp()
);
CREATE OR REPLACE FUNCTION asset_ocr_delete_audit() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO asset_ocr_audit ("assetId") SELECT "assetId" FROM OLD;
  RETURN NULL;
END $$;
CREATE TRIGGER asset_ocr_delete_audit AFTER DELETE ON asset_ocr REFERENCING OLD TABLE AS "old"
  FOR EACH STATEMENT WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION asset_ocr_delete_audit();

CREATE TABLE ocr_search ("assetId" uuid NOT NULL, "text" text NOT NULL);
ALTER TABLE ocr_search ADD CONSTRAINT ocr_search_pkey PRIMARY KEY ("assetId");
ALTER TABLE ocr_search ADD CONSTRAINT "ocr_search_assetId_fkey" FOREIGN KEY ("assetId") REFERENCES asset (id) ON UPDATE CASCADE ON DELETE CASCADE;
CREATE INDEX idx_ocr_search_text ON ocr_search USING gin (f_unaccent("text") gin_trgm_ops);

CREATE TABLE smart_search ("assetId" uuid NOT NULL, embedding vector(512) NOT NULL);
ALTER TABLE smart_search ADD CONSTRAINT smart_search_pkey PRIMARY KEY ("assetId");
ALTER TABLE smart_search ADD CONSTRAINT "smart_search_assetId_fkey" FOREIGN KEY ("assetId") REFERENCES asset (id) ON DELETE CASCADE;
ALTER TABLE smart_search ALTER COLUMN embedding SET STORAGE EXTERNAL;
-- Immich creates this for pgvector installations (VectorChord installations get a vchordrq index)
CREATE INDEX clip_index ON smart_search USING hnsw (embedding vector_cosine_ops) WITH (ef_construction = 300, m = 16);
