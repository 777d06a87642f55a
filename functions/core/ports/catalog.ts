/**
 * The catalog names the lake's tables and says where each one's current data lives.
 *
 * Glue in the cloud (`aws/glue-catalog.ts`); locally a small JSON pointer per table in the
 * processed store, which the DuckDB engine binds as CTEs through `lakeBindings` (`local/folder-catalog.ts`, `core/transform/lake-bindings.ts`).
 * Rebuilt tables (dimensions, current-state tables) are published by {@link Catalog.repoint}:
 * one call that moves a table to a new location, so readers see the old version or the new
 * one, never a mix. The old location is kept (objects are never deleted by the pipeline).
 */
export interface Catalog {
  /** Where the table's data currently lives (a URI prefix), or undefined if never published. */
  location(table: string): Promise<TableLocation | undefined>;

  /** Points the table at a new location in one step, recording what built it. */
  repoint(table: string, location: TableLocation): Promise<void>;

  /**
   * Publishes one batch of a fact table: a partition `batch_id=<batchId>` whose data lives at
   * `location.prefix`. Idempotent: publishing the same batch again changes nothing, and so does
   * publishing a batch a compacted month already holds (its `batchId` is that batch or a later one).
   */
  addPartition(table: string, location: TableLocation): Promise<void>;

  /** Published partitions of a fact table: its compacted months (by month), then its batches (oldest first). */
  partitions(table: string): Promise<TableLocation[]>;

  /**
   * Replaces every partition of a fact table in one step (a backfill publishing the fact rebuilt
   * by a new SQL version: transform/backfill.ts): readers see the old partitions or the new ones,
   * never a mix. Offered only by a catalog that can do it atomically — the folder catalog rewrites
   * its one pointer; Glue, which changes partitions one call at a time, builds a new table of them
   * and switches the fact's view to it in one UpdateTable (aws/fact-view.ts). A catalog without it
   * makes the backfill refuse.
   */
  replacePartitions?(table: string, locations: TableLocation[]): Promise<void>;

  /**
   * Publishes a compaction of a fact (transform/fact-compaction.ts) in one step: the partitions
   * `from` (the batches compacted and the months rewritten, exactly as {@link partitions} gave
   * them) give way to `to` (the rewritten months). Readers see every version once, before or after.
   * Refused, changing nothing, when the published partitions no longer include all of `from`.
   * The folder catalog rewrites its one pointer; Glue switches the fact's view to a new months table
   * in one UpdateTable (aws/fact-view.ts). A catalog that cannot do this atomically does not offer
   * it, and the transform then leaves its facts uncompacted.
   */
  publishCompaction?(table: string, from: readonly TableLocation[], to: readonly TableLocation[]): Promise<void>;
}

export interface TableLocation {
  /** Key prefix in the processed store, ending with '/'. */
  prefix: string;
  /** Batch whose transform wrote it. */
  batchId: string;
  /** Content hash of the SQL (or generated statement) that built it. */
  sqlHash: string;
  /**
   * A by-key dimension kept as base + deltas (core/transform/dimension-by-key.ts): `prefix` is its
   * base and these its change sets since, oldest first; readers take the latest row per key.
   */
  deltas?: string[];
  /**
   * A fact's compacted month (transform/fact-compaction.ts): the versions, of every batch up to and
   * including `batchId`, whose `created_date` falls in this month ('YYYY-MM'). Absent on a batch's partition.
   */
  month?: string;
}
