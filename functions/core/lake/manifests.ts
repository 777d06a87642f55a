import { z } from 'zod';
import { SOURCE_TABLE_NAMES } from '../contract/source-tables';
import { STAR_TABLE_NAMES } from '../contract/star-tables';
import { BATCH_ID_PATTERN } from './lake-layout';

/**
 * Manifests are the lake's source of truth: a batch exists only once its manifest does.
 * Both are parsed with zod whenever they are read, so a damaged manifest fails loudly.
 */

const batchId = z.string().regex(BATCH_ID_PATTERN, 'batch id');
const sourceTable = z.enum(SOURCE_TABLE_NAMES);
const starTable = z.enum(STAR_TABLE_NAMES);

/** A position in a table's (last_updated, primary key) order; last_updated as 'YYYY-MM-DD HH:MM:SS.mmm' UTC. */
export const Cursor = z.object({ lastUpdated: z.string(), id: z.number().int() });
export type Cursor = z.infer<typeof Cursor>;

/** A 64-bit transaction id (xid8) as decimal text. */
const xid8 = z.string().regex(/^\d{1,20}$/, 'a 64-bit transaction id');

/**
 * The source snapshot a batch read in, recorded so the next batch can rescue the versions that
 * committed after it below the cursors (functions/core/extract/late-commits.ts). Optional
 * (additive): manifests written before it have none, and the batch after such a manifest rescues
 * nothing.
 */
export const SourceSnapshot = z.object({
  /** pg_current_snapshot() of the batch's transaction: 'xmin:xmax:xip,…', 64-bit ids, top-level transactions only. */
  current: z.string().regex(/^\d+:\d+:(\d+(,\d+)*)?$/, "a pg_snapshot 'xmin:xmax:xip,…'"),
  /** Sub-transaction ids in flight at the snapshot (pg_current_snapshot() does not list them). */
  subxids: z.array(xid8),
  /**
   * Transactions in flight at the snapshot whose rows may be stamped below the next batch's band:
   * by id (older than half the lookback, prepared, or not attributable to a visible session), or
   * by session (pid and transaction start, 'YYYY-MM-DD HH:MM:SS.uuuuuu' UTC) when it had no id.
   */
  longInFlight: z.array(z.object({ xid: xid8.optional(), pid: z.number().int().optional(), xactStart: z.string().optional() })),
  /** The rescue band's width below the cursor, in seconds, that the next batch applies. */
  lookbackSeconds: z.number().nonnegative(),
  /** Each table's relfilenode in the snapshot: a table rewritten since (new xmin on every row) is not rescued. */
  filenodes: z.record(z.string(), z.number().int().nonnegative()).optional(),
});
export type SourceSnapshot = z.infer<typeof SourceSnapshot>;

export const RawFile = z.object({ key: z.string(), rows: z.number().int().nonnegative(), bytes: z.number().int().nonnegative() });
export type RawFile = z.infer<typeof RawFile>;

export const ExtractTable = z.object({
  /** Files of this batch for the table (none when nothing changed). */
  files: z.array(RawFile),
  rows: z.number().int().nonnegative(),
  /** Rows read lie strictly after `from` and strictly before `upperBound`. */
  window: z.object({ from: Cursor.nullable(), upperBound: z.string() }),
  /** Position after this batch: the last row read, or `from` when none was. */
  cursor: Cursor.nullable(),
  /** Newest source last_updated seen in the whole table so far (freshness). */
  maxLastUpdated: z.string().nullable(),
  /**
   * Key tally of the whole source table in this batch's snapshot (deletion detection, see
   * functions/core/extract/deletions.ts). Optional: manifests written before it have none.
   */
  keys: z
    .object({
      count: z.number().int().nonnegative(),
      sum: z.number().int(),
      max: z.number().int().nullable(),
      /**
       * Snapshot clock ('YYYY-MM-DD HH:MM:SS.mmm' UTC) of the last full tally this one derives from
       * (additive): a batch that skipped the tally carries it forward unchanged.
       */
      tallyAt: z.string().optional(),
      /**
       * The table's deletion signature read with this tally (additive): the tally is skipped while
       * it stays the same. `deletes` is pg_stat n_tup_del, `filenode` pg_class.relfilenode,
       * `statsReset` the database's statistics reset time.
       */
      signature: z
        .object({ deletes: z.number().int().nonnegative(), filenode: z.number().int().nonnegative(), statsReset: z.string().nullable() })
        .optional(),
    })
    .optional(),
  /**
   * Versions this batch read at or below the previous cursor because they committed after the
   * previous batch's snapshot (late-commits.ts); they are in `files` and counted in `rows`. Absent
   * when none.
   */
  rescued: z.object({ rows: z.number().int().positive(), reason: z.string() }).optional(),
  /**
   * Versions this batch read because the lake lacked them at or below the cursor (repair.ts: a
   * `totes run --repair`), excluding what its rescue read; absent when none.
   */
  repaired: z.object({ rows: z.number().int().positive(), reason: z.string() }).optional(),
  /** Deletion markers this batch found for the table (`deletions/<table>/…`); absent when none. */
  deletions: z.object({ key: z.string(), rows: z.number().int().positive(), ids: z.array(z.number().int()) }).optional(),
});
export type ExtractTable = z.infer<typeof ExtractTable>;

/**
 * The raw lake through a batch, per source table that has had rows (lake/lake-history.ts): the row
 * versions of every batch up to and including it, and the newest batch with any.
 */
export const ExtractHistory = z.partialRecord(sourceTable, z.object({ versions: z.number().int().nonnegative(), lastBatch: batchId }));
export type ExtractHistory = z.infer<typeof ExtractHistory>;

export const ExtractManifest = z.object({
  kind: z.literal('extract'),
  version: z.literal(1),
  batchId,
  seq: z.number().int().positive(),
  previousBatchId: batchId.nullable(),
  startedAt: z.string(),
  finishedAt: z.string(),
  /** The snapshot's clock and the bound every window stops short of. */
  snapshotAt: z.string(),
  /** The snapshot the batch read in (additive; see SourceSnapshot). */
  source: SourceSnapshot.optional(),
  /** Set when the batch compared every table with the lake and read what it lacked (a repair; tables' `repaired`). */
  repair: z.boolean().optional(),
  tables: z.record(sourceTable, ExtractTable),
  /**
   * The raw lake through this batch (additive), so `totes status` reads this manifest instead of
   * the whole log. None after a manifest without one (a log begun before it): the status then reads the log.
   */
  history: ExtractHistory.optional(),
});
export type ExtractManifest = z.infer<typeof ExtractManifest>;

/**
 * Progress of a batch an extract could not finish within its time budget (a long first load in
 * Lambda). Never read as data: the next invocation resumes the batch from it, with the same batch
 * id and upper bound, and only the manifest, written when every table is done, publishes it.
 */
export const ExtractProgress = z.object({
  kind: z.literal('extract-progress'),
  version: z.literal(1),
  batchId,
  seq: z.number().int().positive(),
  attempt: z.number().int().positive(),
  startedAt: z.string(),
  snapshotAt: z.string(),
  upperBound: z.string(),
  /** The first attempt's snapshot: later attempts read only what it saw (additive). */
  source: SourceSnapshot.optional(),
  /** The batch compares the source with the lake and reads what the lake lacks (repair.ts); later attempts too. */
  repair: z.boolean().optional(),
  /** Tables finished, and the one in progress (its files so far and cursor), in contract order. */
  tables: z.partialRecord(sourceTable, ExtractTable.extend({ complete: z.boolean() })),
});
export type ExtractProgress = z.infer<typeof ExtractProgress>;

export const TransformOutput = z.object({
  kind: z.enum(['fact', 'dimension', 'current']),
  prefix: z.string(),
  files: z.array(z.string()),
  rows: z.number().int().nonnegative(),
  /** SQL file it was built from (`sql/transform/…`), or `generated` for current-state merges. */
  origin: z.string(),
  sqlHash: z.string(),
  bytesScanned: z.number().nonnegative(),
  elapsedMs: z.number().nonnegative(),
  /**
   * Set on a dimension this batch did not rebuild because none of its sources changed: the batch
   * whose output it carries forward (already published, and already loaded before this batch).
   */
  builtBy: z.string().regex(BATCH_ID_PATTERN).optional(),
  /**
   * Set on a rebuilt dimension that replaces an earlier version: its rows that are new or differ
   * from that version (the load upserts only these; the dimension itself stays whole for readers).
   */
  changes: z.object({ prefix: z.string(), files: z.array(z.string()), rows: z.number().int().nonnegative() }).optional(),
  /**
   * Set on a by-key dimension kept as base + deltas (transform/dimension-by-key.ts, additive): the
   * change sets of the batches since its base (`prefix`, `files`), oldest first, this batch's last
   * when it built one. Readers merge them onto the base, latest `_batch_id` per key
   * (`dimensionSegments`, `latestStarSql`); `rows` is then the merged dimension's row count.
   * Absent: `prefix` holds the whole dimension (every lake written before it).
   */
  deltas: z.array(z.object({ prefix: z.string(), files: z.array(z.string()), rows: z.number().int().nonnegative() })).optional(),
});
export type TransformOutput = z.infer<typeof TransformOutput>;

/** A star table whose SQL file differs from the version that built its published rows (transform/model-versions.ts). */
export const ModelChange = z.object({
  table: z.string(),
  origin: z.string(),
  /** The version that built the published table. */
  published: z.string(),
  /** The version in the SQL file now. */
  file: z.string(),
  /** What the batch did: a dimension is rebuilt; a fact with versions in the batch waits for its backfill. */
  action: z.enum(['rebuilt', 'waits']),
});
export type ModelChange = z.infer<typeof ModelChange>;

/**
 * The engine round trips of a batch's transform (transform/query-tally.ts): the statements sent,
 * the longest chain of them each sent only after the previous one finished, and the bytes the
 * engine scanned (null where it does not report them: DuckDB).
 */
export const EngineQueries = z.object({
  queries: z.number().int().nonnegative(),
  criticalPath: z.number().int().nonnegative(),
  bytesScanned: z.number().nonnegative().nullable(),
});
export type EngineQueries = z.infer<typeof EngineQueries>;

/**
 * The star lake through a batch, per star table a batch wrote (lake/lake-history.ts): the newest
 * batch that wrote it, and for a fact the rows of every batch up to and including this one.
 */
export const TransformHistory = z.partialRecord(starTable, z.object({ lastBatch: batchId, factRows: z.number().int().nonnegative().optional() }));
export type TransformHistory = z.infer<typeof TransformHistory>;

export const TransformManifest = z.object({
  kind: z.literal('transform'),
  version: z.literal(1),
  batchId,
  seq: z.number().int().positive(),
  engine: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  /** Location of the compacted base of every source table's current state after this batch (the catalog's `current_<table>`). */
  current: z.record(sourceTable, z.string()),
  /** Star tables this batch wrote. */
  star: z.record(starTable, TransformOutput),
  /** The compacted base of each current state (`current`), as written. */
  currentOutputs: z.record(sourceTable, TransformOutput),
  /**
   * Deltas of each current state since its base, in batch order (additive): each holds one later
   * batch's latest versions. The current state is base + deltas read through `latestVersionsSql`
   * (transform/current-state.ts); a table without an entry is its base alone.
   */
  currentDeltas: z.partialRecord(sourceTable, z.array(TransformOutput)).optional(),
  /** Write-audit-publish: the data tests run on the staged star tables before publishing (additive). */
  dataTests: z
    .array(z.object({ name: z.string(), table: z.string(), passed: z.boolean(), failures: z.number().int().nonnegative() }))
    .optional(),
  /**
   * The extract batch's snapshot clock and the bound it read up to (`extractBound`), copied from
   * its manifest so the load finds what it measures freshness from here (additive: a manifest
   * without it sends the reader to the extract manifest).
   */
  extract: z.object({ snapshotAt: z.string(), upperBound: z.string() }).optional(),
  /** Source rows this batch found deleted in totesys, per source table, copied from the extract manifest (the load records them in `deleted_rows`). */
  deletions: z.partialRecord(sourceTable, z.array(z.object({ id: z.number().int(), detectedAt: z.string() }))).optional(),
  /**
   * Raw versions this batch was built without (additive): they broke an input rule (an unparseable
   * date) and a later batch superseded them (transform/input-checks.ts). They stay in the raw lake.
   */
  /** Star tables this batch found built by another version of their SQL file, and rebuilt (additive). */
  modelChanges: z.array(ModelChange).optional(),
  /** The engine round trips of this batch's transform (additive: older manifests have none). */
  engineQueries: EngineQueries.optional(),
  /** The star lake through this batch (additive; as the extract manifest's `history`). */
  history: TransformHistory.optional(),
  rejected: z
    .array(
      z.object({
        table: sourceTable,
        id: z.number().int(),
        lastUpdated: z.string(),
        column: z.string(),
        value: z.string(),
        supersededBy: z.string().optional(),
      }),
    )
    .optional(),
});
export type TransformManifest = z.infer<typeof TransformManifest>;
