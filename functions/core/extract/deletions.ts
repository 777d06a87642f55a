import { createGzip } from 'node:zlib';
import { Readable } from 'node:stream';
import type pg from 'pg';
import type { SourceTable, SourceTableName } from '../contract/source-tables';
import { deletionKey, deletionsPrefix, parseBatchId, parseDeletionKey } from '../lake/lake-layout';
import { readExtractManifest } from '../lake/manifest-log';
import { lakeRows } from './lake-versions';
import type { ExtractManifest, ExtractTable } from '../lake/manifests';
import { PGLITE_VERSION_PATTERN } from '../database-connection';
import type { PipelineContext } from '../pipeline-context';
import { quoteIdent } from '../sql/sql-text';

/**
 * Deletion detection: totesys rows are rarely deleted (foreign keys RESTRICT), but a deleted row
 * leaves no version behind for a `last_updated` cursor to see. So an extract keeps, per table, a
 * tally of the table's keys — `count(*)`, `sum(pk)`, `max(pk)` — and compares a fresh one, taken in
 * its snapshot, with the previous batch's:
 *
 *   every key the previous snapshot held and that is still there has pk <= previous max, so
 *   (count, sum) over `pk <= previous max` equals the previous tally unless a row was deleted
 *   (or a key at or below the previous max committed late, which is harmless).
 *
 * Only when the tallies disagree (or the previous manifest predates tallies) does the extract pay
 * for a full comparison: the source's key list (same snapshot) against the lake's key list
 * (current state of the newest transformed batch ∪ raw files of later batches ∪ this batch, read
 * from the files themselves: the extract needs no query engine),
 * minus rows already marked deleted. Keys in the lake but not in the source were deleted: they get
 * a deletion marker row version `{<pk>, _deleted: true, deleted_detected_at, _batch_id}` in
 * `deletions/<table>/dt=…/<batch_id>.ndjson.gz` (a prefix of its own, so the raw tables' format and
 * Glue locations are untouched), listed in the manifest under `tables.<t>.deletions`.
 * Serial keys are never reused, so a deleted key stays deleted.
 *
 * **Skipping the tally.** The tally scans the whole table (~65 ms for 1M sales orders, ~260 ms for
 * the four big tables), every five minutes, for deletions that almost never happen. So it runs only
 * when the database says something may have been deleted ({@link tallyReason}): the table's
 * *deletion signature* — cumulative deletes (`n_tup_del`), the storage file (`relfilenode`: TRUNCATE
 * swaps it) and the database's statistics reset time — differs from the one stored beside the
 * previous tally, or the statistics look unusable, or the last full tally is older than
 * {@link DEFAULT_TALLY_MAX_AGE_SECONDS}. Otherwise the previous tally is carried forward, extended
 * by the keys above its max (an index range scan over the new keys only):
 *
 * - Carrying a tally forward keeps the comparison valid because the comparison never needed the
 *   tally to be recent, only true of *some* earlier snapshot: every key that snapshot held with
 *   pk <= its max must still be there unless it was deleted, whenever we look. A key committed
 *   late below the max only makes the source count larger, which triggers the full comparison
 *   (correct, just slower).
 * - The extension is what keeps keys *newer* than the carried max covered: without it a row
 *   inserted, extracted and then deleted between two full tallies would lie above the carried max,
 *   outside every later comparison, and never be found. With it, every key in the lake lies at or
 *   below the stored max — it existed in the snapshot that extracted it, which the extension of
 *   that batch (or its tally) counted.
 * - The signature is read *before* the snapshot is taken (statistics are not transactional): a
 *   deletion it shows committed before the snapshot, so the tally sees it; one it does not show yet
 *   changes a later signature, and the tally then runs against a carried tally that still holds
 *   the deleted key.
 *
 * What the statistics can miss: a backend reports its counts to the shared statistics at most once
 * a second, at the latest after ~10–60 s idle, and always when it exits, so a deletion is found by
 * the first extract after its statistics arrive. Deletes lost in a crash before their statistics
 * were flushed, a writer with `track_counts` off, or a reset landing on the same value leave the
 * signature unchanged: the maximum-age tally finds those. Embedded PGlite serves every session
 * from one backend that flushes only when asked, so there the extract asks first.
 */

/** A full tally at most this old may be carried forward; older, it is taken again (the safety net). */
export const DEFAULT_TALLY_MAX_AGE_SECONDS = 3600;

export type KeyTally = NonNullable<ExtractTable['keys']>;
export type DeletionSignature = NonNullable<KeyTally['signature']>;

/** What the source's cumulative statistics say about one table, read before the snapshot. */
export interface TableStatistics {
  /** Absent when the table was not found (the schema-drift check reports that). */
  signature?: DeletionSignature;
  /** Any of n_tup_ins, n_tup_upd, n_tup_del, n_live_tup is non-zero: the counters have moved. */
  moving: boolean;
  /** `track_counts` is on for the extract's session (a hint that the server counts at all). */
  trackCounts: boolean;
  /** The table's size on disk (`pg_relation_size`), by which the extract orders its reads (largest first). */
  bytes?: number;
}

export interface DeletionCheck {
  keys: KeyTally;
  /** Keys found deleted by this batch (empty when none). */
  deleted: number[];
  /** True when the full key comparison ran. */
  compared: boolean;
  /** Why the full tally ran; undefined when the previous tally was carried forward. */
  tallied?: string;
}

export interface DeletionCheckOptions {
  /** Snapshot clock of this batch ('YYYY-MM-DD HH:MM:SS.mmm' UTC): the tally's time, and "now" for its age. */
  snapshotAt: string;
  /** The table's statistics, read before the snapshot ({@link readTableStatistics}). */
  statistics: TableStatistics | undefined;
  /** Default {@link DEFAULT_TALLY_MAX_AGE_SECONDS}; 0 tallies every time. */
  maxAgeSeconds?: number;
}

/**
 * Reads the deletion signature and counter state of `tables` in one statement. Call it outside
 * (before) the extract's snapshot transaction: see the module comment for why the order matters.
 * On PGlite, where all sessions share one backend whose counts reach the shared statistics only
 * when asked, it first asks (`pg_stat_force_next_flush`, flushed when that statement ends).
 */
export async function readTableStatistics(client: pg.Client, tables: readonly SourceTable[]): Promise<Map<SourceTableName, TableStatistics>> {
  let rows = await queryStatistics(client, tables);
  if (rows[0]?.pglite) {
    await client.query('SELECT pg_stat_force_next_flush()');
    rows = await queryStatistics(client, tables);
  }
  return new Map(
    rows.map((r) => [
      r.name as SourceTableName,
      {
        signature: r.filenode === null ? undefined : { deletes: Number(r.deletes), filenode: Number(r.filenode), statsReset: r.stats_reset },
        moving: r.moving,
        trackCounts: r.track_counts,
        bytes: Number(r.bytes ?? 0),
      },
    ]),
  );
}

interface StatisticsRow {
  name: string;
  filenode: string | null;
  deletes: string | null;
  moving: boolean;
  stats_reset: string | null;
  track_counts: boolean;
  bytes: string | null;
  pglite: boolean;
}

async function queryStatistics(client: pg.Client, tables: readonly SourceTable[]): Promise<StatisticsRow[]> {
  // Names resolve through the search path, as the extract's own queries do. The pg_stat_get_*
  // functions are what pg_stat_user_tables / pg_stat_database show; called directly they cost
  // ~2 ms on a fresh connection against ~4 ms through the views.
  const result = await client.query<StatisticsRow>(
    `SELECT t.name, c.relfilenode::bigint AS filenode, pg_stat_get_tuples_deleted(c.oid) AS deletes,
            coalesce(pg_stat_get_tuples_inserted(c.oid) <> 0 OR pg_stat_get_tuples_updated(c.oid) <> 0
                     OR pg_stat_get_tuples_deleted(c.oid) <> 0 OR pg_stat_get_live_tuples(c.oid) <> 0, false) AS moving,
            to_char(pg_stat_get_db_stat_reset_time(d.oid) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS stats_reset,
            current_setting('track_counts')::boolean AS track_counts,
            pg_relation_size(c.oid) AS bytes,
            version() ~* $2 AS pglite
       FROM unnest($1::text[]) AS t(name)
       LEFT JOIN pg_class c ON c.oid = to_regclass(quote_ident(t.name))
       CROSS JOIN (SELECT oid FROM pg_database WHERE datname = current_database()) d`,
    [tables.map((t) => t.name), PGLITE_VERSION_PATTERN],
  );
  return result.rows;
}

/**
 * Why the full tally must run for a table, or undefined when the previous tally may be carried
 * forward: only when there is one, with the signature the statistics show now, younger than the
 * maximum age, and the statistics look alive (counting on, and counters that moved unless the
 * table was empty).
 */
export function tallyReason(previous: KeyTally | undefined, statistics: TableStatistics | undefined, snapshotAt: string, maxAgeSeconds: number): string | undefined {
  if (!previous?.signature || previous.tallyAt === undefined) return 'no previous tally with a signature';
  if (!statistics?.signature) return 'no statistics for the table';
  if (!statistics.trackCounts) return 'track_counts is off';
  if (!statistics.moving && previous.count > 0) return 'statistics counters have not moved (reset, or not flushed)';
  const now = sqlTimestampMs(snapshotAt);
  const then = sqlTimestampMs(previous.tallyAt);
  if (!(now - then < maxAgeSeconds * 1000)) return `last full tally at ${previous.tallyAt} is older than ${maxAgeSeconds} s`;
  const a = previous.signature;
  const b = statistics.signature;
  if (a.deletes !== b.deletes || a.filenode !== b.filenode || a.statsReset !== b.statsReset) return 'deletion signature changed';
  return undefined;
}

/** 'YYYY-MM-DD HH:MM:SS.mmm' (UTC) → epoch milliseconds; NaN when malformed (which forces a tally). */
const sqlTimestampMs = (text: string): number => Date.parse(`${text.replace(' ', 'T')}Z`);

/** One table's deletion check: its table, its entry in the previous manifest, this batch's raw files. */
export interface DeletionCheckRequest {
  table: SourceTable;
  previous: ExtractTable | undefined;
  thisBatchFiles: string[];
  options: DeletionCheckOptions;
}

interface TallyRow {
  n: string;
  s: string | null;
  m: number | null;
  pn: string | null;
  ps: string | null;
}

/**
 * The deletion checks of several tables, in the extract's snapshot transaction after their windows
 * were read: every table's tally in one statement (one round trip, the same snapshot, the same
 * counts as a statement per table), then, table by table in the order given, what a suspect tally
 * needs (the key lists).
 */
export async function checkDeletionsOf(ctx: PipelineContext, client: pg.Client, requests: readonly DeletionCheckRequest[]): Promise<DeletionCheck[]> {
  if (!requests.length) return [];
  const planned = requests.map(({ table, previous, options }, i) => {
    const pk = quoteIdent(table.primaryKey);
    const before = previous?.keys;
    const reason = tallyReason(before, options.statistics, options.snapshotAt, options.maxAgeSeconds ?? DEFAULT_TALLY_MAX_AGE_SECONDS);
    const carried = before !== undefined && reason === undefined;
    const p = `$${i + 1}::integer`;
    // Carried forward: only the keys above the carried max are counted (an index range scan).
    // Otherwise a full tally, with the part at or below the previous max for the comparison.
    const sql = carried
      ? `SELECT ${i} AS i, count(*) AS n, sum(${pk})::bigint AS s, max(${pk}) AS m, NULL::bigint AS pn, NULL::bigint AS ps FROM ${quoteIdent(table.name)} WHERE ${p} IS NULL OR ${pk} > ${p}`
      : `SELECT ${i} AS i, count(*) AS n, sum(${pk})::bigint AS s, max(${pk}) AS m,
                count(*) FILTER (WHERE ${pk} <= ${p}) AS pn, sum(${pk}) FILTER (WHERE ${pk} <= ${p})::bigint AS ps
           FROM ${quoteIdent(table.name)}`;
    return { carried, reason, sql: `(${sql})`, param: carried ? before!.max : (before?.max ?? null) };
  });
  const res = await client.query<TallyRow & { i: number }>(planned.map((p) => p.sql).join('\nUNION ALL\n'), planned.map((p) => p.param));
  const rows = new Map(res.rows.map((r) => [Number(r.i), r]));
  const checks: DeletionCheck[] = [];
  for (const [i, request] of requests.entries()) {
    const row = rows.get(i);
    if (!row) throw new Error(`The deletion tally of ${request.table.name} returned no row`);
    checks.push(await finishCheck(ctx, client, request, planned[i], row));
  }
  return checks;
}

async function finishCheck(
  ctx: PipelineContext,
  client: pg.Client,
  { table, previous, thisBatchFiles, options }: DeletionCheckRequest,
  { carried, reason }: { carried: boolean; reason: string | undefined },
  row: TallyRow,
): Promise<DeletionCheck> {
  const pk = quoteIdent(table.primaryKey);
  const before = previous?.keys;
  const signature = options.statistics?.signature;
  if (before && carried) {
    const keys: KeyTally = { ...before, count: before.count + Number(row.n), sum: before.sum + Number(row.s ?? 0), max: row.m ?? before.max, signature };
    return { keys, deleted: [], compared: false };
  }
  const keys: KeyTally = {
    count: Number(row.n),
    sum: Number(row.s ?? 0),
    max: row.m,
    tallyAt: options.snapshotAt,
    ...(signature ? { signature } : {}),
  };
  const tallied = reason ?? 'no previous tally';
  if (!previous) return { keys, deleted: [], compared: false, tallied };
  if (before && Number(row.pn) === before.count && Number(row.ps ?? 0) === before.sum) return { keys, deleted: [], compared: false, tallied };
  if (before && before.count === 0) return { keys, deleted: [], compared: false, tallied };

  // Suspect (or no earlier tally): compare the key lists.
  const source = new Set<number>();
  const listed = await client.query<{ id: number }>(`SELECT ${pk} AS id FROM ${quoteIdent(table.name)}`);
  for (const r of listed.rows) source.add(r.id);
  const lake = await lakeKeys(ctx, table, thisBatchFiles);
  const already = await deletedKeys(ctx, table.name);
  const deleted = lake.filter((id) => !source.has(id) && !already.has(id)).sort((a, b) => a - b);
  return { keys, deleted, compared: true, tallied };
}

/**
 * Every key the published lake knows for `table`, plus the keys of this (unpublished) batch: the
 * current state after the newest transformed batch (its Parquet files, read in pure JavaScript)
 * and the raw files of the batches extracted since. Read without a query engine, because the
 * extract Lambda has none; it runs only when the key tallies disagree.
 */
async function lakeKeys(ctx: PipelineContext, table: SourceTable, thisBatchFiles: string[]): Promise<number[]> {
  const ids = new Set<number>();
  for await (const row of lakeRows(ctx, table, { withLastUpdated: false, extraRawFiles: thisBatchFiles })) ids.add(row.id);
  return [...ids];
}

/**
 * Keys already marked deleted by published batches: the marker files under `deletions/<table>/`
 * whose batch's manifest lists them (a run that lost the publishing race leaves files no manifest lists).
 */
export async function deletedKeys(ctx: Pick<PipelineContext, 'ingestion'>, tableName: string, uptoSeq?: number): Promise<Set<number>> {
  const ids = new Set<number>();
  for await (const info of ctx.ingestion.list(deletionsPrefix(tableName))) {
    const batchId = parseDeletionKey(info.key)?.batchId;
    if (!batchId) continue;
    const { seq } = parseBatchId(batchId);
    if (uptoSeq !== undefined && seq > uptoSeq) continue;
    let manifest: ExtractManifest;
    try {
      manifest = await readExtractManifest(ctx.ingestion, seq);
    } catch {
      continue; // not published (yet)
    }
    const entry = manifest.tables[tableName as SourceTable['name']]?.deletions;
    if (manifest.batchId === batchId && entry?.key === info.key) entry.ids.forEach((id) => ids.add(id));
  }
  return ids;
}

/** Writes the deletion markers of one table for this batch; returns the manifest entry. */
export async function writeDeletionMarkers(
  ctx: PipelineContext,
  table: SourceTable,
  ids: number[],
  batchId: string,
  detectedAt: string,
): Promise<NonNullable<ExtractTable['deletions']>> {
  const key = deletionKey(table.name, batchId);
  const lines = ids.map((id) => `${JSON.stringify({ [table.primaryKey]: id, _deleted: true, deleted_detected_at: detectedAt, _batch_id: batchId })}\n`);
  const gzip = createGzip();
  Readable.from(lines).pipe(gzip);
  await ctx.ingestion.putStream(key, gzip, { contentType: 'application/x-ndjson' });
  return { key, rows: ids.length, ids };
}
