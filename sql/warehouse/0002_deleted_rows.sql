-- Totes Lake warehouse, migration 0002: rows deleted in totesys.
--
-- totesys rarely deletes (foreign keys RESTRICT), and a deleted row leaves no version for the
-- extract's cursor to see; the extract finds deletions by comparing key tallies and lists them in
-- the batch manifests (functions/core/extract/deletions.ts). The warehouse keeps every fact version
-- and every dimension row it ever loaded, so a deletion is recorded here rather than applied:
-- analysts exclude (or flag) these ids when they want the source's current state.
-- One row per deleted source row (serial keys are never reused), written by the load in the same
-- transaction as the batch that carried it. `detected_at` is the extract snapshot's UTC clock.

CREATE TABLE deleted_rows (
  source_table text NOT NULL,
  source_id integer NOT NULL,
  detected_at timestamp(3) NOT NULL,
  batch_id text NOT NULL,
  PRIMARY KEY (source_table, source_id)
);
