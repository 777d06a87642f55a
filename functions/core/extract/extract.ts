import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createGzip, type Gzip, type ZlibOptions } from 'node:zlib';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { METRICS } from '../contract/runtime-contract';
import { acquireConnection, discardConnection, releaseConnection } from '../connection-pool';
import { isPglite } from '../database-connection';
import { SOURCE_TABLES, type SourceTable, type SourceTableName } from '../contract/source-tables';
import { EXTRACT_MANIFEST_PREFIX, extractManifestKey, extractProgressKey, extractProgressPrefix, newBatchId, rawKey } from '../lake/lake-layout';
import { readExtractHeartbeat, writeExtractHeartbeat } from '../lake/extract-heartbeat';
import { latestExtractManifest, notePublishedManifest } from '../lake/manifest-log';
import { ExtractProgress, type Cursor, type ExtractManifest, type ExtractTable, type SourceSnapshot } from '../lake/manifests';
import { extendExtractHistory } from '../lake/lake-history';
import type { PipelineContext } from '../pipeline-context';
import { getText, ObjectExistsError, type ObjectStore } from '../ports/object-store';
import { COPY_TEXT_SETTINGS, CopyJsonRows } from './copy-json';
import { CopyLines, cutAtBoundaries } from './copy-text';
import { checkDeletionsOf, readTableStatistics, writeDeletionMarkers, type TableStatistics } from './deletions';
import { cursorOf, maxTimestamp, planWindow, WINDOW_SETTINGS, windowSelect, withBatchId, type RowRendering, type TableWindow } from './extract-window';
import {
  batchSnapshotFilter,
  beginSnapshot,
  bindRescue,
  DEFAULT_LATE_COMMIT_LOOKBACK_SECONDS,
  endedLongInFlight,
  lowestXidOf,
  newVersionsProbe,
  RESCUE_SETTINGS,
  rescueBandFrom,
  rescueSelect,
  snapshotWithSubxids,
  unbindRescue,
  type OpenSession,
  type RescuePlan,
} from './late-commits';
import { missingFromLake } from './repair';
import { detectDrift, INFORMATION_SCHEMA_QUERY, type InformationSchemaColumn } from './schema-drift';
import { closeSnapshotReaders, openSnapshotReaders } from './snapshot-readers';

export interface ExtractOptions {
  /**
   * Seconds the upper bound stays behind the snapshot clock (default 0). Not needed for
   * correctness any more: a version committed after a snapshot below the cursor is rescued by the
   * next batch (late-commits.ts). A lag only makes rescues rarer, and costs its length in
   * freshness on every batch.
   */
  commitLagSeconds?: number;
  /**
   * How far below the previous cursor the next batch looks for versions that committed after the
   * previous snapshot (seconds; default DEFAULT_LATE_COMMIT_LOOKBACK_SECONDS, 5 minutes). Recorded
   * in the manifest with the snapshot; transactions in flight for more than half of it are tracked
   * by id instead (late-commits.ts).
   */
  lateCommitLookbackSeconds?: number;
  /**
   * Stop cleanly at the next raw file's end once this instant has passed (a Lambda's time budget):
   * the window's COPY is ended there (its connection dropped). The batch is then not published:
   * its progress is saved and the next run resumes it.
   */
  deadline?: Date;
  /**
   * Rows per raw file (default 500,000). A window is read by one COPY whatever its size, written
   * as files of this many rows; a deadline is checked at each file's end.
   */
  chunkRows?: number;
  /**
   * Connections that read tables at the same time, all in the one snapshot (default 2; 1 reads
   * every table on one connection). PGlite and hot standbys always use one.
   */
  parallelReads?: number;
  /**
   * How rows leave the source (extract-window.ts `RowRendering`): `columns` (default), the plain
   * columns in COPY text format, rendered to JSON in Node (copy-json.ts); `json`, one JSON object
   * per row rendered by PostgreSQL. Both give the same JSON lines, byte for byte
   * (test/integration/extract/copy-json.test.ts); `columns` spends a fraction of the source's CPU
   * (BENCHMARKS.md, "Extract alternatives, measured").
   */
  rowRendering?: RowRendering;
  /**
   * Oldest full key tally (deletion detection) a batch may carry forward while the statistics show
   * no deletion; default DEFAULT_TALLY_MAX_AGE_SECONDS (1 hour). 0 tallies every table every run.
   */
  tallyMaxAgeSeconds?: number;
  /**
   * Also compare every table's current versions at or below the cursor with the lake and read the
   * ones it lacks (repair.ts): `totes run --repair`. Costs a read of every key on both sides.
   */
  repair?: boolean;
  /**
   * Told each table's raw files of this batch once the table is read whole in this run, while
   * the extract reads the rest (run-cycle.ts hands them to the engine's `prepare`, so the
   * transform's parsing of a table overlaps the extract of the others). The files are written but
   * not published: the batch is published by its manifest, and a run that fails before it leaves
   * them unlisted. A hook that throws is ignored.
   */
  onTableRead?: (table: SourceTableName, keys: readonly string[]) => void;
}

export interface ExtractResult {
  /** False when nothing changed (no batch is made), another run published this batch first, or the time budget ran out. */
  published: boolean;
  reason?: 'nothing-new' | 'lost-race' | 'continued';
  batchId: string;
  /**
   * The bound this run read up to, when it read everything below it (published, or nothing new):
   * every version older than it is in the lake once this run returns.
   */
  upperBound?: string;
  seq: number;
  rows: Partial<Record<SourceTableName, number>>;
  bytes: number;
  elapsedMs: number;
  warnings: string[];
  manifest?: ExtractManifest;
}

const DEFAULT_CHUNK_ROWS = 500_000;
/** Connections reading tables at once in the shared snapshot: the source's second core renders JSON too. */
const DEFAULT_PARALLEL_READS = 2;
/** Plain columns, rendered to JSON in Node: the source's CPU is the extract's bottleneck (BENCHMARKS.md). */
const DEFAULT_ROW_RENDERING: RowRendering = 'columns';
/**
 * The raw files' gzip (BENCHMARKS.md, "A faster extract"). Level 2: as fast as level 1 and ~25%
 * less CPU than level 3, for files ~6% larger than level 3's; the JSON lines inside are the same
 * bytes whatever the level. A 256 KiB output chunk (zlib's default is 16 KiB) lets a zlib thread
 * compress ~2 MB of JSON per turn instead of ~140 KB, so it waits on the main thread less.
 */
const GZIP_OPTIONS: ZlibOptions = { level: 2, chunkSize: 256 * 1024 };

type TableProgress = NonNullable<ExtractProgress['tables'][SourceTableName]>;

/**
 * The extract stage: every new row version of the 11 totesys tables, as one batch in the
 * ingestion store. A run goes plan → read → write:
 *  1. plan ({@link planExtract}): the batch — the next seq after the newest extract manifest, or
 *     the unfinished batch a saved progress resumes (same id, same bound);
 *  2. read ({@link readBatch}): one REPEATABLE READ snapshot of the source, each table by the window
 *     `extract-window.ts` plans, streamed with `COPY … TO STDOUT` into gzip NDJSON raw files (never a
 *     table in memory), then the deletion checks (deletions.ts) in the same snapshot;
 *  3. write ({@link writeBatch}): the manifest, last, with a conditional put — or, out of time, the
 *     progress; or, with nothing new, the heartbeat.
 *
 * Boundary rules. Reads: the source (read-only); its own outputs — the extract manifests, an
 * unfinished batch's progress, and the raw files and deletion markers the manifests list; its own
 * heartbeat (processed store); and, of the transform's outputs, only what a transform manifest
 * lists (the current-state Parquet of the newest one, lake-versions.ts: the deletion check's and
 * the repair's picture of the lake) — never a listing of the processed layout. Writes: the
 * ingestion store (raw files, deletion markers, progress, the manifest) and its heartbeat; nothing
 * else. The batch exists only once its manifest is written: if two runs race for a seq exactly one
 * publishes, and the loser's files stay unreferenced (only manifest-listed files are ever read).
 *
 * A run with a deadline that cannot finish saves its progress at a raw file's end instead; the
 * next run resumes the same batch (same id, same upper bound) in a new snapshot. Every row below
 * that bound had committed before the first snapshot, so the resumed reads see the same rows or
 * their newer versions — which a later batch reads anyway — and never a row twice.
 */
export async function extract(ctx: PipelineContext, options: ExtractOptions = {}): Promise<ExtractResult> {
  const plan = await planExtract(ctx, options);
  const read = await readBatch(ctx, plan, options);
  return writeBatch(ctx, plan, read);
}

/** The batch a run extracts: new after the newest published one, or the unfinished one it resumes. */
interface ExtractPlan {
  started: Date;
  /** Date.now() at the start, for the stage's duration. */
  t0: number;
  /** The newest published batch: its cursors, tallies and snapshot are this batch's starting point. */
  previous: ExtractManifest | undefined;
  seq: number;
  /** The saved progress of this batch, when an earlier run ran out of time. */
  resumed: ExtractProgress | undefined;
  batchId: string;
  /** This invocation's nonce, in the keys of the chunks and rescue files it writes. */
  nonce: string;
  repair: boolean;
}

/**
 * Step 1, plan. Reads the newest extract manifest and the newest progress of the next seq
 * (ingestion store); writes nothing.
 */
async function planExtract(ctx: PipelineContext, options: ExtractOptions): Promise<ExtractPlan> {
  const started = ctx.now();
  const t0 = Date.now();
  const previous = await latestExtractManifest(ctx.ingestion);
  const seq = (previous?.seq ?? 0) + 1;
  const resumed = await latestProgress(ctx.ingestion, seq);
  const batchId = resumed?.batchId ?? newBatchId(seq, started, randomHex());
  const repair = options.repair === true || resumed?.repair === true;
  if (repair && !resumed) ctx.log.info(`Batch ${batchId} repairs: it compares every table with the lake and reads the current versions the lake lacks`, { batchId });
  if (resumed) ctx.log.info(`Resuming batch ${batchId} from its progress (attempt ${resumed.attempt})`, { batchId });
  return { started, t0, previous, seq, resumed, batchId, nonce: randomHex(), repair };
}

/** What the read step leaves for the write step. */
interface BatchRead {
  tables: Partial<Record<SourceTableName, TableProgress>>;
  /** Key tally and deletion markers per table (deletions.ts), taken in the final snapshot. */
  checks: Partial<Record<SourceTableName, Pick<ExtractTable, 'keys' | 'deletions'>>>;
  snapshotAt: string;
  upperBound: string;
  /** The snapshot this batch is recorded with: the first attempt's. */
  source: SourceSnapshot | undefined;
  /** The deadline passed before every table was read: the batch continues in the next run. */
  timeUp: boolean;
  warnings: string[];
}

/** The snapshot a run reads in, and what it needs to know about the one before. */
interface OpenedSnapshot {
  statistics: Map<SourceTableName, TableStatistics>;
  bound: UpperBound;
  snapshotAt: string;
  upperBound: string;
  source: SourceSnapshot | undefined;
  rescue: RescuePlan | undefined;
  /** The batch's first snapshot as pg_snapshot text, when this attempt resumes it in a later one. */
  batchSnapshot: string | undefined;
}

/**
 * Step 2, read. Reads the source in one snapshot (and, for a deletion check or a repair, the lake
 * through the manifests: deletions.ts, repair.ts); writes the batch's raw files and deletion
 * markers, which stay unreferenced until step 3 publishes them.
 */
async function readBatch(ctx: PipelineContext, plan: ExtractPlan, options: ExtractOptions): Promise<BatchRead> {
  const warnings: string[] = [];
  const tables: BatchRead['tables'] = { ...plan.resumed?.tables };
  const client = await connectSource(ctx);
  let readers: pg.Client[] = [];
  let readersClosing: Promise<void> = Promise.resolve();
  let failed = false;
  try {
    const snapshot = await openBatchSnapshot(ctx, client, plan, options, warnings);
    await checkSchema(ctx, client, warnings);
    // Small tables with nothing stamped since their rescue band began are complete as they are:
    // one statement instead of four round trips each (quietTables).
    for (const table of await quietTables(client, plan, snapshot, tables)) {
      tables[table.name] = { ...firstProgress(table, plan.previous?.tables[table.name], snapshot.upperBound), complete: true };
      ctx.log.metric(METRICS.rows, 0, 'Count', { table: table.name, stage: 'extract' });
    }
    // Tables are read by this connection and by readers sharing its snapshot (snapshot-readers.ts):
    // each takes the next table, largest first, until none is left; no more readers than tables.
    const unread = SOURCE_TABLES.filter((t) => !tables[t.name]?.complete).length;
    const wanted = Math.min(options.parallelReads ?? DEFAULT_PARALLEL_READS, Math.max(1, unread));
    readers = await openSnapshotReaders(ctx, client, wanted, () => connectSource(ctx), (reader) => releaseConnection(ctx, reader));
    const timeUp = await readTables(ctx, [client, ...readers], plan, snapshot, tables, options);
    // Done with the tables: the readers close while the deletion checks run on this connection.
    readersClosing = closeSnapshotReaders(readers.splice(0), (reader) => releaseConnection(ctx, reader));
    const checks = timeUp ? {} : await checkAllDeletions(ctx, client, plan, snapshot, tables, options, warnings);
    // A stop may have dropped this connection in the middle of a COPY (streamFiles): the read-only
    // transaction then ended with it, and the progress to save is in `tables` already.
    if (timeUp) await client.query('COMMIT').catch(() => discardConnection(ctx, client));
    else await client.query('COMMIT');
    const { snapshotAt, upperBound, source } = snapshot;
    return { tables, checks, snapshotAt, upperBound, source, timeUp, warnings };
  } catch (err) {
    // A failure in the middle of a COPY leaves the connection busy with it, so no ROLLBACK could
    // run: close the connection instead, which ends the read-only transaction on the server (and
    // a pool keeps no connection a failure left: connection-pool.ts).
    failed = true;
    for (const c of [client, ...readers]) discardConnection(ctx, c);
    throw err;
  } finally {
    // Given back after the COMMIT: the pool keeps them for the next run (outside a transaction).
    for (const c of [client, ...readers]) {
      if (failed) await c.end().catch(() => undefined);
      else await releaseConnection(ctx, c);
    }
    await readersClosing;
  }
}

/**
 * Reads the deletion statistics and the upper bound, then takes the snapshot and plans the rescue
 * (late-commits.ts; it reads the previous snapshot from the manifest or the extract's heartbeat).
 */
async function openBatchSnapshot(ctx: PipelineContext, client: pg.Client, plan: ExtractPlan, options: ExtractOptions, warnings: string[]): Promise<OpenedSnapshot> {
  const { resumed } = plan;
  // Deletion signatures are read before the snapshot is taken (deletions.ts says why).
  const statistics = await readTableStatistics(client, SOURCE_TABLES);
  // The bound is read before the snapshot exists, in its own statement: readUpperBound says why
  // this order, and no other, keeps every in-flight writer at or above it.
  const lookbackSeconds = options.lateCommitLookbackSeconds ?? DEFAULT_LATE_COMMIT_LOOKBACK_SECONDS;
  const bound = await readUpperBound(client, options.commitLagSeconds ?? 0, lookbackSeconds);
  // The snapshot (and what was in flight at it) is recorded for the next batch's rescue.
  const current = await beginSnapshot(client, {
    lookbackSeconds,
    snapshotAt: bound.snapshotAt,
    longSessions: bound.longSessions,
    tables: SOURCE_TABLES.map((t) => t.name),
    warn: (message) => warnings.push(message),
  });
  const rescue = await planRescue(ctx, client, plan.previous, current, resumed?.source);
  for (const [table, why] of rescue?.skip ?? []) warnings.push(`Late commits of ${table} are not rescued by this batch: ${why}`);
  if (bound.hiddenSessions > 0) {
    warnings.push(
      `${bound.hiddenSessions} session(s) of other roles are hidden from pg_stat_activity, so their open transactions cannot hold the upper bound back ` +
        'and a long one without a transaction id yet cannot be tracked for the late-commit rescue; grant pg_read_all_stats to the extract role',
    );
  }
  return {
    statistics,
    bound,
    snapshotAt: resumed ? resumed.snapshotAt : bound.snapshotAt,
    upperBound: resumed ? resumed.upperBound : bound.upperBound,
    source: resumed ? resumed.source : current,
    rescue,
    batchSnapshot: resumed?.source ? snapshotWithSubxids(resumed.source) : undefined,
  };
}

/** The drift check, in the snapshot: a contract column gone or retyped stops the run before it reads anything. */
async function checkSchema(ctx: PipelineContext, client: pg.Client, warnings: string[]): Promise<void> {
  const columns = await client.query<InformationSchemaColumn>(INFORMATION_SCHEMA_QUERY, [SOURCE_TABLES.map((t) => t.name)]);
  const drift = detectDrift(columns.rows);
  warnings.push(...drift.warnings);
  if (drift.errors.length) {
    throw new Error(
      `The totesys schema at ${ctx.source.description} no longer matches the table contract: ${drift.errors.join('; ')}. ` +
        'Nothing was extracted; fix the source or change functions/core/contract/source-tables.ts on purpose.',
    );
  }
}

/**
 * Reads every table not finished yet on the connections, each taking the next table, largest
 * first, into `tables`; returns true when the deadline stopped it first.
 */
async function readTables(
  ctx: PipelineContext,
  connections: pg.Client[],
  plan: ExtractPlan,
  snapshot: OpenedSnapshot,
  tables: BatchRead['tables'],
  options: ExtractOptions,
): Promise<boolean> {
  // Largest first (by size on disk, from the statistics; contract order among equals): the
  // connections then finish together, instead of the last big table running alone at the end
  // (BENCHMARKS.md, "A faster extract"). Any order reads the same rows into the same files.
  const size = (t: SourceTable): number => snapshot.statistics.get(t.name)?.bytes ?? 0;
  // A table complete before the first read (quietTables, or a resumed batch's progress) needs none.
  const queue = SOURCE_TABLES.filter((t) => !tables[t.name]?.complete).sort((a, b) => size(b) - size(a));
  const run = { timeUp: false };
  const rendering = options.rowRendering ?? DEFAULT_ROW_RENDERING;
  const readOn = async (reader: pg.Client): Promise<void> => {
    // The column rendering reads timestamps in their ISO text (copy-json.ts): set for this
    // connection's transaction only, whatever the role's or database's defaults are.
    if (rendering === 'columns') {
      for (const [name, value] of Object.entries(COPY_TEXT_SETTINGS)) await reader.query('SELECT set_config($1, $2, true)', [name, value]);
    }
    for (let table = queue.shift(); table && !run.timeUp; table = queue.shift()) {
      const state = await readTable(ctx, reader, table, plan, snapshot, tables[table.name], options, run);
      tables[table.name] = state;
      if (!state.complete) continue;
      ctx.log.metric(METRICS.rows, state.rows, 'Count', { table: table.name, stage: 'extract' });
      if (options.onTableRead && state.files.length) {
        try {
          options.onTableRead(table.name, state.files.map((f) => f.key));
        } catch {
          // Only a head start for a later stage: the extract goes on without it.
        }
      }
    }
  };
  await Promise.all(connections.map(readOn));
  return run.timeUp;
}

/**
 * One table: on its first attempt the rescue and (asked) the repair below the previous cursor,
 * then its window, by one COPY into files of `chunkRows` rows, until it is read or the deadline
 * passes at a file's end (`run.timeUp`).
 */
async function readTable(
  ctx: PipelineContext,
  reader: pg.Client,
  table: SourceTable,
  plan: ExtractPlan,
  snapshot: OpenedSnapshot,
  saved: TableProgress | undefined,
  options: ExtractOptions,
  run: { timeUp: boolean },
): Promise<TableProgress> {
  const { previous, resumed, batchId } = plan;
  const { rescue } = snapshot;
  const before = previous?.tables[table.name];
  // A resumed attempt writes its rescue and repair files under a nonce of their own.
  const nonce = (): string => (resumed ? randomHex() : plan.nonce);
  const rendering = options.rowRendering ?? DEFAULT_ROW_RENDERING;
  let state = saved;
  // The parallel-workers setting the rescue turned off (bindRescue), put back by the statement
  // that binds the window's settings: one round trip fewer per table.
  let restoreWorkers: string | undefined;
  if (!state) {
    state = firstProgress(table, before, snapshot.upperBound);
    // The rescue runs first, once per table and batch: a resumed attempt finds it in the progress.
    if (rescue && before?.cursor && !rescue.skip.has(table.name)) ({ state, restoreWorkers } = await rescueTable(ctx, reader, table, rescue, before.cursor, batchId, nonce(), state, rendering));
    // Then the repair, when asked, of what the lake lacks below the cursor (repair.ts): it leaves the rescue's versions to it.
    if (plan.repair && previous && before?.cursor) {
      if (restoreWorkers !== undefined) await unbindRescue(reader, restoreWorkers);
      restoreWorkers = undefined;
      const rescues = rescue !== undefined && !rescue.skip.has(table.name);
      state = await repairTable(ctx, reader, table, { rescue, rescues, cursor: before.cursor, uptoSeq: previous.seq, batchSnapshot: snapshot.batchSnapshot }, batchId, nonce(), state, rendering);
    }
  }
  const timeUp = (): boolean => options.deadline !== undefined && ctx.now() >= options.deadline;
  if (!state.complete && timeUp()) run.timeUp = true;
  else if (!state.complete) {
    // The window in one COPY (one sort of the table where no index serves its order), written as
    // files of `chunkRows` rows, each recorded in the progress as it closes; a deadline stops it at
    // a file's end (readWindow).
    const window = { ...planWindow(table, undefined, state.window.upperBound), from: state.cursor };
    const keyOf = (index: number): string => (!resumed && index === 0 ? rawKey(table.name, batchId) : rawKey(table.name, batchId, { index, nonce: plan.nonce }));
    const onFile = (file: WrittenFile): void => {
      const cursor = cursorOf(table, JSON.parse(file.lastLine) as Record<string, unknown>);
      state = {
        ...state!,
        files: [...state!.files, { key: file.key, rows: file.rows, bytes: file.bytes }],
        rows: state!.rows + file.rows,
        cursor,
        maxLastUpdated: maxTimestamp(state!.maxLastUpdated, cursor.lastUpdated),
      };
      ctx.log.progress('extract', { table: table.name, rows: state.rows, files: state.files.length, elapsedMs: Date.now() - plan.t0 });
    };
    const read = await readWindow(ctx, reader, window, batchId, {
      keyOf,
      firstIndex: state.files.length,
      rowsPerFile: options.chunkRows ?? DEFAULT_CHUNK_ROWS,
      rendering,
      batchSnapshot: rescue?.batchSnapshot,
      restoreWorkers,
      onFile,
      ...(options.deadline ? { stop: timeUp } : {}),
    });
    restoreWorkers = undefined;
    if (read.stopped) run.timeUp = true;
    else state = { ...state, complete: true };
  }
  // Out of time before the window: the next table on this connection must not run without workers.
  if (restoreWorkers !== undefined) await unbindRescue(reader, restoreWorkers);
  return state;
}

/**
 * The deletion check of every table, in the snapshot, after the windows (deletions.ts): reads the
 * source's keys and, when a tally disagrees, the lake's; writes this batch's deletion markers.
 */
async function checkAllDeletions(
  ctx: PipelineContext,
  client: pg.Client,
  plan: ExtractPlan,
  snapshot: OpenedSnapshot,
  tables: BatchRead['tables'],
  options: ExtractOptions,
  warnings: string[],
): Promise<BatchRead['checks']> {
  const checks: BatchRead['checks'] = {};
  const tallied: string[] = [];
  // Every table's tally in one statement (deletions.ts), then each table's outcome in contract order.
  const results = await checkDeletionsOf(
    ctx,
    client,
    SOURCE_TABLES.map((table) => ({
      table,
      previous: plan.previous?.tables[table.name],
      thisBatchFiles: tables[table.name]?.files.map((f) => f.key) ?? [],
      options: { snapshotAt: snapshot.bound.snapshotAt, statistics: snapshot.statistics.get(table.name), maxAgeSeconds: options.tallyMaxAgeSeconds },
    })),
  );
  for (const [i, table] of SOURCE_TABLES.entries()) {
    const check = results[i];
    checks[table.name] = { keys: check.keys };
    if (check.tallied) tallied.push(`${table.name} (${check.tallied})`);
    if (!check.deleted.length) continue;
    checks[table.name]!.deletions = await writeDeletionMarkers(ctx, table, check.deleted, plan.batchId, snapshot.bound.snapshotAt);
    warnings.push(
      `${check.deleted.length} row(s) of ${table.name} were deleted in totesys (${table.primaryKey} ${check.deleted.slice(0, 20).join(', ')}${check.deleted.length > 20 ? ', …' : ''}); ` +
        'deletion markers are written to the lake (deletions/) and the warehouse records them in deleted_rows',
    );
  }
  if (tallied.length) ctx.log.info(`Deletion check: full key tally of ${tallied.join(', ')}`, { batchId: plan.batchId });
  return checks;
}

/**
 * Step 3, write: what the read step leaves becomes the manifest (published, written last with a
 * conditional put), the progress (out of time), or the heartbeat (nothing new, processed store).
 */
async function writeBatch(ctx: PipelineContext, plan: ExtractPlan, read: BatchRead): Promise<ExtractResult> {
  const { batchId, seq, t0 } = plan;
  const { tables, warnings } = read;
  for (const warning of warnings) ctx.log.warn(warning, { batchId });
  ctx.log.metric(METRICS.stageDuration, Date.now() - t0, 'Milliseconds', { stage: 'extract' });
  const rows = Object.fromEntries(Object.entries(tables).map(([name, t]) => [name, t.rows]));
  const base = { batchId, seq, rows, bytes: totalBytes(read), warnings };
  const outcome = read.timeUp ? await saveProgress(ctx, plan, read) : await publishManifest(ctx, plan, read);
  if (outcome.reason === 'nothing-new' || outcome.published) return { ...base, upperBound: read.upperBound, ...outcome, elapsedMs: Date.now() - t0 };
  return { ...base, ...outcome, elapsedMs: Date.now() - t0 };
}

type WriteOutcome = Pick<ExtractResult, 'published' | 'reason' | 'manifest'>;

/** Writes the progress of a batch the deadline stopped (`progress/extract/<seq>/<attempt>.json`, If-None-Match). */
async function saveProgress(ctx: PipelineContext, plan: ExtractPlan, read: BatchRead): Promise<WriteOutcome> {
  const { batchId, seq, resumed, repair } = plan;
  const { snapshotAt, upperBound, source } = read;
  const attempt = (resumed?.attempt ?? 0) + 1;
  const progress: ExtractProgress = {
    kind: 'extract-progress', version: 1, batchId, seq, attempt,
    startedAt: resumed?.startedAt ?? plan.started.toISOString(), snapshotAt, upperBound, ...(source ? { source } : {}), ...(repair ? { repair } : {}),
    tables: Object.fromEntries(inContractOrder(read.tables)) as ExtractProgress['tables'],
  };
  try {
    await ctx.ingestion.put(extractProgressKey(seq, attempt), JSON.stringify(progress, null, 2), { ifNoneMatch: true, contentType: 'application/json' });
  } catch (err) {
    if (err instanceof ObjectExistsError) return { published: false, reason: 'lost-race' };
    throw err;
  }
  ctx.log.info(`Extract ran out of time; batch ${batchId} will be resumed by the next run`, { batchId, rows: totalRows(read), attempt });
  return { published: false, reason: 'continued' };
}

/**
 * Publishes the batch: `manifests/extract/<seq>.json`, If-None-Match (a lost race leaves this run's
 * files unreferenced). A batch with no row and no deletion is not made: the extract's heartbeat
 * records the snapshot instead, after the newest batch (operate/freshness.ts, late-commits.ts).
 */
async function publishManifest(ctx: PipelineContext, plan: ExtractPlan, read: BatchRead): Promise<WriteOutcome> {
  const { batchId, seq, previous, resumed, repair } = plan;
  const { snapshotAt, upperBound, source, checks } = read;
  if (totalRows(read) === 0 && !Object.values(checks).some((c) => c.deletions)) {
    if (previous) {
      await writeExtractHeartbeat(ctx.processed, {
        afterSeq: previous.seq, afterBatchId: previous.batchId, snapshotAt, upperBound, ...(source ? { source } : {}), at: ctx.now().toISOString(),
      });
    }
    return { published: false, reason: 'nothing-new' };
  }
  const manifest: ExtractManifest = {
    kind: 'extract',
    version: 1,
    batchId,
    seq,
    previousBatchId: previous?.batchId ?? null,
    startedAt: resumed?.startedAt ?? plan.started.toISOString(),
    finishedAt: ctx.now().toISOString(),
    snapshotAt,
    ...(source ? { source } : {}),
    ...(repair ? { repair } : {}),
    tables: Object.fromEntries(inContractOrder(read.tables).map(([name, { complete: _complete, ...table }]) => [name, { ...table, ...checks[name] }])) as ExtractManifest['tables'],
  };
  // The lake through this batch (lake-history.ts), none after a manifest without it.
  if (!previous || previous.history) manifest.history = extendExtractHistory(previous?.history ?? {}, manifest);
  try {
    await ctx.ingestion.put(extractManifestKey(seq), JSON.stringify(manifest, null, 2), { ifNoneMatch: true, contentType: 'application/json' });
  } catch (err) {
    if (!(err instanceof ObjectExistsError)) throw err;
    ctx.log.warn(`Another extract published batch ${seq} first; this run's raw files are left unreferenced`, { batchId });
    return { published: false, reason: 'lost-race' };
  }
  notePublishedManifest(ctx.ingestion, EXTRACT_MANIFEST_PREFIX, seq);
  ctx.log.info('Extract published a batch', { batchId, rows: totalRows(read), bytes: totalBytes(read) });
  return { published: true, manifest };
}

const totalRows = (read: Pick<BatchRead, 'tables'>): number => Object.values(read.tables).reduce((sum, t) => sum + t.rows, 0);
const totalBytes = (read: Pick<BatchRead, 'tables'>): number => Object.values(read.tables).reduce((sum, t) => sum + t.files.reduce((b, f) => b + f.bytes, 0), 0);

const randomHex = (): string => randomBytes(2).toString('hex');

/** Entries of a per-table record in contract order (parallel readers finish tables in any order). */
function inContractOrder<T>(record: Partial<Record<SourceTableName, T>>): [SourceTableName, NonNullable<T>][] {
  return SOURCE_TABLES.filter((t) => record[t.name] != null).map((t) => [t.name, record[t.name]!]);
}

function planWindowFor(table: SourceTable, before: ExtractTable | undefined, upperBound: string): ExtractTable['window'] {
  const window = planWindow(table, before, upperBound);
  return { from: window.from, upperBound: window.upperBound };
}

/** A table's progress before its first read in this batch: nothing read, the previous batch's cursor. */
function firstProgress(table: SourceTable, before: ExtractTable | undefined, upperBound: string): TableProgress {
  return { files: [], rows: 0, window: planWindowFor(table, before, upperBound), cursor: before?.cursor ?? null, maxLastUpdated: before?.maxLastUpdated ?? null, complete: false };
}

/** Tables at most this size on disk (a few thousand rows) are asked whether they have anything new before they are read: {@link quietTables}. */
const QUIET_PROBE_MAX_BYTES = 1024 * 1024;

/**
 * The small tables this batch need not read: nothing after their cursor (no row at all for a
 * table no batch has read a row of) and nothing in their rescue band that the previous snapshot
 * missed, asked of all of them in one statement in the snapshot (late-commits.ts
 * `newVersionsProbe`), which replaces the four round trips of each one's rescue and window. On an
 * ordinary five minutes none of totesys's seven small tables changes, and the batch reads the four
 * order tables only. Asked on a first attempt only, and not when the batch
 * repairs or its rescue scans below the band (a long-running transaction ended): those read rows
 * the probe does not ask about. Tables larger than {@link QUIET_PROBE_MAX_BYTES}, where the
 * question could cost a scan that the window repeats, are read as before.
 */
async function quietTables(client: pg.Client, plan: ExtractPlan, snapshot: OpenedSnapshot, saved: BatchRead['tables']): Promise<SourceTable[]> {
  const { previous } = plan;
  const { rescue } = snapshot;
  if (!previous || plan.resumed || plan.repair || rescue?.full) return [];
  const asked = SOURCE_TABLES.filter((t) => {
    const statistics = snapshot.statistics.get(t.name);
    return !saved[t.name] && statistics?.signature && (statistics.bytes ?? Infinity) <= QUIET_PROBE_MAX_BYTES;
  });
  if (!asked.length) return [];
  const probe = newVersionsProbe(
    asked.map((table) => {
      const cursor = previous.tables[table.name]?.cursor;
      if (!cursor) return { table };
      // The same condition readTable rescues by.
      const rescued = rescue !== undefined && !rescue.skip.has(table.name);
      return { table, cursor, ...(rescued ? { bandFrom: rescueBandFrom(cursor, rescue) } : {}) };
    }),
    rescue?.previous,
  );
  const result = await client.query<Record<string, boolean>>(probe.text, probe.values);
  return asked.filter((_, i) => result.rows[0][`t${i}`] === false);
}

/** The newest saved progress of batch `seq`, if a run with a deadline left one. */
async function latestProgress(store: ObjectStore, seq: number): Promise<ExtractProgress | undefined> {
  let last: string | undefined;
  for await (const { key } of store.list(extractProgressPrefix(seq))) last = key;
  if (!last) return undefined;
  const parsed = ExtractProgress.safeParse(JSON.parse(await getText(store, last)));
  if (!parsed.success) throw new Error(`Extract progress ${last} in ${store.name} is damaged: ${parsed.error.message}`);
  return parsed.data;
}

function connectSource(ctx: PipelineContext): Promise<pg.Client> {
  return acquireConnection(ctx, ctx.source, {
    what: 'totesys',
    applicationName: 'totes-lake-extract',
    hint: 'Check the URL (--source-url / TOTES_SOURCE_URL), the credentials and that the server is reachable.',
  });
}

interface UpperBound {
  upperBound: string;
  snapshotAt: string;
  hiddenSessions: number;
  /** Client sessions of this database in a transaction that started more than half the lookback before the clock. */
  longSessions: OpenSession[];
}

/**
 * Backends that run transactions in the source database but never write a table's rows, so never
 * stamp a `last_updated`: autovacuum workers (a vacuum of a large table runs for minutes, on a busy
 * totesys often, and counting it held every window back to its start: extracts read nothing newer
 * the whole time) and WAL senders (logical replication's snapshots).
 */
const NO_ROW_WRITERS = ['autovacuum worker', 'walsender'].map((type) => `'${type}'`).join(', ');

/**
 * The instant every window of this batch stops short of: the clock, or the start of the oldest
 * transaction then open on the database, whichever is earlier, truncated to the millisecond, minus
 * the commit lag. Read as UTC text, never through a JavaScript Date. Backends that write no rows
 * ({@link NO_ROW_WRITERS}) do not count.
 *
 * It must be read *before* the extract's snapshot is taken (outside its transaction, so this
 * statement has a snapshot of its own and the extract's comes later). The property the windows
 * need: every transaction T whose commit the extract's snapshot S does not see stamps its rows at
 * or above the bound. Writers stamp `last_updated` from the database clock no earlier than their
 * own start (`now()` is the transaction's start); pg_stat_activity publishes a transaction's
 * `xact_start` when the transaction starts and clears it only after its commit is visible to new
 * snapshots (ProcArrayEndTransaction comes first in CommitTransaction). Let R be the moment this
 * statement reads pg_stat_activity, after its clock was taken and before S:
 *   - T listed as open at R: the bound is at most T's start, which is at most T's stamps.
 *   - T started after R: its start, and so its stamps, are after this statement's clock ≥ bound.
 *   - T started before R but not listed: it had committed visibly before R, so before S, and S
 *     sees it — T is not a transaction S misses.
 * A statement that is running but has not yet published its transaction's start is counted by
 * its `query_start` (PostgreSQL publishes the statement's start before starting the transaction),
 * which narrows the last gap to the few instructions between taking that timestamp and publishing
 * it. The old order — bound read in the snapshot's own first statement — broke the third case: a
 * T that committed after S was fixed but before R was in neither, and its rows fell below the
 * cursor (issue "Exactly once under write load"; test/scenarios/write-load.test.ts).
 *
 * Readers that adopt S (snapshot-readers.ts) share the property, S being the same snapshot. A
 * resumed chunked extract keeps the first attempt's bound and reads in a later snapshot: every
 * row below the bound had committed before the first snapshot, so the later one sees it or a
 * newer version (which a later batch reads), never less.
 */
async function readUpperBound(client: pg.Client, commitLagSeconds: number, lookbackSeconds: number): Promise<UpperBound> {
  const result = await client.query<{ upper_bound: string; snapshot_at: string; hidden: number; long_sessions: OpenSession[] | null }>(
    `SELECT to_char(date_trunc('milliseconds', least(s.clock, coalesce(s.oldest, s.clock))) - make_interval(secs => $1::double precision),
                    'YYYY-MM-DD HH24:MI:SS.MS') AS upper_bound,
            to_char(s.clock, 'YYYY-MM-DD HH24:MI:SS.MS') AS snapshot_at,
            s.hidden::int AS hidden,
            (SELECT json_agg(json_build_object('pid', a.pid, 'xactStart', to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), 'xid', a.backend_xid::text))
               FROM pg_stat_activity a
              WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
                AND a.xact_start AT TIME ZONE 'UTC' < s.clock - make_interval(secs => $2::double precision / 2)) AS long_sessions
       FROM (SELECT statement_timestamp() AT TIME ZONE 'UTC' AS clock,
                    (SELECT min(least(a.xact_start, CASE WHEN a.state IS DISTINCT FROM 'idle' THEN a.query_start END)) AT TIME ZONE 'UTC'
                       FROM pg_stat_activity a
                      WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
                        AND a.backend_type NOT IN (${NO_ROW_WRITERS})
                        AND (a.xact_start IS NOT NULL OR (a.state IS DISTINCT FROM 'idle' AND a.query_start IS NOT NULL))) AS oldest,
                    (SELECT count(*) FROM pg_stat_activity a
                      WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
                        AND a.backend_type = 'client backend' AND a.state IS NULL) AS hidden) s`,
    [commitLagSeconds, lookbackSeconds],
  );
  const row = result.rows[0];
  return { upperBound: row.upper_bound, snapshotAt: row.snapshot_at, hiddenSessions: row.hidden, longSessions: row.long_sessions ?? [] };
}

/** A raw file one COPY wrote: its key, rows, gzip bytes and last row's JSON text (its cursor). */
interface WrittenFile {
  key: string;
  rows: number;
  bytes: number;
  lastLine: string;
}

/**
 * Streams a table's window into raw files of `rowsPerFile` rows by one `COPY … TO STDOUT` (no
 * LIMIT: a window read in chunks sorted the whole table again for each chunk where no index
 * serves its order, BENCHMARKS.md "One COPY per window"); each file is reported to `onFile` as it
 * closes. Writes nothing when the window is empty, so a table without changes leaves no file.
 * `stopped`: `stop()` said so at a file's end, and the rest of the window was left unread.
 */
async function readWindow(
  ctx: PipelineContext,
  client: pg.Client,
  window: TableWindow,
  batchId: string,
  read: {
    keyOf: (index: number) => string;
    firstIndex: number;
    rowsPerFile: number;
    rendering: RowRendering;
    batchSnapshot: string | undefined;
    restoreWorkers: string | undefined;
    onFile: (file: WrittenFile) => void;
    stop?: () => boolean;
  },
): Promise<{ stopped: boolean }> {
  const { table } = window;
  // A stopped window's COPY ends with its connection, dropped: bounded, whatever the window's size
  // and whether a cancel would reach the server (the stop ends the run's reads, so the connection
  // is not needed again; readBatch then commits what it can). Not on PGlite, whose one connection
  // the embedded server serves: there the COPY runs to its end, its rows dropped. Asked before the
  // COPY (known without a round trip on a snapshot's connections).
  const abandon = read.stop && !(await isPglite(client)) ? () => discardConnection(ctx, client) : undefined;
  const { restoreWorkers, batchSnapshot, rendering } = read;
  // With `restoreWorkers`, the same statement puts back what the table's rescue turned off (unbindRescue's setting).
  await client.query(
    'SELECT set_config($1, $2, true), set_config($3, $4, true), set_config($5, $6, true), set_config($7, $8, true)' +
      (restoreWorkers === undefined ? '' : `, set_config('max_parallel_workers_per_gather', $9, true)`),
    [
      WINDOW_SETTINGS.fromTs, window.from?.lastUpdated ?? '',
      WINDOW_SETTINGS.fromId, window.from ? String(window.from.id) : '',
      WINDOW_SETTINGS.upperBound, window.upperBound,
      RESCUE_SETTINGS.batchSnapshot, batchSnapshot ?? '1:1:',
      ...(restoreWorkers === undefined ? [] : [restoreWorkers]),
    ],
  );
  const select = windowSelect(window, false, batchSnapshot ? batchSnapshotFilter() : undefined, rendering);
  return streamFiles(ctx, client, table, select, batchId, { ...read, ...(abandon ? { abandon } : {}) });
}

/**
 * Streams the rows of `select` (as `rendering` says: one JSON object text per row, or the plain
 * columns, which copy-json.ts renders to the same text) into one gzip NDJSON file with the batch id
 * added; writes nothing when there is no row.
 */
async function streamRows(
  ctx: PipelineContext,
  client: pg.Client,
  table: SourceTable,
  select: string,
  batchId: string,
  key: string,
  rendering: RowRendering,
): Promise<{ rows: number; bytes: number }> {
  let written: WrittenFile | undefined;
  await streamFiles(ctx, client, table, select, batchId, { keyOf: () => key, firstIndex: 0, rowsPerFile: Infinity, rendering, onFile: (file) => (written = file) });
  return written ?? { rows: 0, bytes: 0 };
}

/**
 * Streams the rows of `select` into gzip NDJSON files of `rowsPerFile` rows each (the last may
 * hold fewer), keys `keyOf(firstIndex)`, `keyOf(firstIndex + 1)`, …, each reported to `onFile`
 * once its upload finished. At a file's end where `stop()` is true, the rest is not written and
 * `abandon()` ends the COPY.
 */
async function streamFiles(
  ctx: PipelineContext,
  client: pg.Client,
  table: SourceTable,
  select: string,
  batchId: string,
  files: {
    keyOf: (index: number) => string;
    firstIndex: number;
    rowsPerFile: number;
    rendering: RowRendering;
    onFile: (file: WrittenFile) => void;
    stop?: () => boolean;
    /** Ends the COPY once stopped (drops its connection); without it the COPY runs to its end, its rows dropped. */
    abandon?: () => void;
  },
): Promise<{ stopped: boolean }> {
  const copy = client.query(copyTo(`COPY (${select}) TO STDOUT`));
  // Bytes in, bytes out for the plain columns (copy-json.ts CopyJsonRows: no string per row or field).
  const lines = files.rendering === 'columns' ? new CopyJsonRows(table, batchId, files.rowsPerFile) : new CopyLines((line) => withBatchId(line, batchId), 'decoded', files.rowsPerFile);
  copy.on('error', (err) => lines.destroy(err));
  copy.pipe(lines);

  let index = files.firstIndex;
  let open: { key: string; gzip: Gzip; upload: Promise<{ bytes: number }> } | undefined;
  let rowsBefore = 0; // rows in the files already closed
  let offset = 0; // bytes of rendered output before the current chunk
  let stopping = false;
  /** `consumed`: called once gzip has taken all of `bytes` (not on an error). */
  const write = async (bytes: Buffer, consumed?: () => void): Promise<void> => {
    if (!open) {
      const key = files.keyOf(index);
      const gzip = createGzip(GZIP_OPTIONS);
      const upload = ctx.ingestion.putStream(key, gzip, { contentType: 'application/x-ndjson' });
      upload.catch(() => undefined); // awaited when the file closes; avoid an unhandled rejection meanwhile
      open = { key, gzip, upload };
    }
    // Wait for the upload to take more, or for it to fail: a store that stops reading after an
    // error would otherwise leave this loop waiting for 'drain' forever.
    if (!open.gzip.write(bytes, consumed && ((err) => err || consumed()))) await Promise.race([once(open.gzip, 'drain'), open.upload.then(() => undefined)]);
  };
  const close = async (rows: number, lastLine: string): Promise<void> => {
    if (!open) return;
    const { key, gzip, upload } = open;
    open = undefined;
    gzip.end();
    const { bytes } = await upload;
    index++;
    rowsBefore += rows;
    files.onFile({ key, rows, bytes, lastLine });
  };
  try {
    try {
      for await (const chunk of lines as AsyncIterable<Buffer>) {
        // Stopped: drop what the server still sends (PGlite: the rest of the COPY).
        if (stopping) continue;
        const pieces = [...cutAtBoundaries(chunk, offset, lines.boundaries)];
        // The renderer's buffer goes back to it once gzip took its last piece (earlier pieces went
        // before it, to the same gzip or to one already ended and awaited).
        const last = pieces.findLastIndex((piece) => piece.bytes.length > 0);
        const giveBack = lines instanceof CopyJsonRows ? () => lines.recycle(chunk) : undefined;
        for (const [i, piece] of pieces.entries()) {
          if (piece.bytes.length) await write(piece.bytes, i === last ? giveBack : undefined);
          if (!piece.ends) continue;
          await close(piece.ends.rows - rowsBefore, piece.ends.lastLine);
          if (files.stop?.()) {
            stopping = true;
            ctx.log.info(`Extract of ${table.name} stops at a file's end as its time ran out; the next run reads the rest of its window`, { table: table.name });
            files.abandon?.();
            break;
          }
        }
        offset += chunk.length;
      }
    } catch (err) {
      // Once stopped, the COPY ends by its connection being dropped: that error is the stop's.
      if (!stopping) throw err;
    }
    if (stopping) return { stopped: true };
    if (lines.rows > rowsBefore) await close(lines.rows - rowsBefore, lines.lastLine!);
    return { stopped: false };
  } catch (err) {
    open?.gzip.destroy(err as Error);
    throw new Error(`Extract of ${table.name} failed while streaming rows: ${(err as Error).message}`);
  }
}

/**
 * What this batch rescues below its cursors (late-commits.ts), or undefined when the previous
 * batch recorded no snapshot (the first batch, or one written before snapshots were recorded).
 * The previous snapshot is the previous batch's, or that of a quiet extract after it (its
 * heartbeat): a quiet extract read nothing, so comparing with its later snapshot is as exact and
 * spares re-scanning for a long transaction that ended before it.
 */
async function planRescue(
  ctx: PipelineContext,
  client: pg.Client,
  previous: ExtractManifest | undefined,
  current: SourceSnapshot,
  batchSource: SourceSnapshot | undefined,
): Promise<RescuePlan | undefined> {
  if (!previous) return undefined;
  // A damaged heartbeat only costs precision: the batch's own snapshot is as exact (extract-heartbeat.ts says how to clear it).
  const heartbeat = await readExtractHeartbeat(ctx.processed, previous.seq).catch(() => undefined);
  const before = heartbeat?.afterBatchId === previous.batchId && heartbeat.source ? heartbeat.source : previous.source;
  if (!before) return undefined;
  const ended = await endedLongInFlight(client, before.longInFlight);
  const skip = new Map<string, string>();
  for (const [table, filenode] of Object.entries(before.filenodes ?? {})) {
    const now = current.filenodes?.[table];
    if (now !== undefined && now !== filenode) skip.set(table, `the table was rewritten since the previous snapshot (relfilenode ${filenode} → ${now}), which gave every row a new transaction id`);
  }
  const describe = (e: (typeof ended)[number]): string => (e.xid !== undefined ? `transaction ${e.xid}` : `session ${e.pid} (open since ${e.xactStart})`);
  return {
    previous: snapshotWithSubxids(before),
    lookbackSeconds: before.lookbackSeconds,
    ...(ended.length
      ? { full: { reason: `long-in-flight ${ended.map(describe).join(', ')} ended after the previous snapshot`, fromXid: lowestXidOf(before, ended) } }
      : {}),
    ...(batchSource ? { batchSnapshot: snapshotWithSubxids(batchSource) } : {}),
    skip,
  };
}

/**
 * Reads one table's late commits below the previous cursor into a file of this batch: the band
 * (an index range scan), and below it when a long transaction ended (a whole-table scan). Leaves the
 * parallel workers off: returns their setting, which the caller puts back (readTable).
 */
async function rescueTable(
  ctx: PipelineContext,
  client: pg.Client,
  table: SourceTable,
  plan: RescuePlan,
  cursor: Cursor,
  batchId: string,
  nonce: string,
  state: TableProgress,
  rendering: RowRendering,
): Promise<{ state: TableProgress; restoreWorkers: string }> {
  const workers = await bindRescue(client, plan, cursor);
  const parts = plan.full ? (['below', 'band'] as const) : (['band'] as const);
  let files = state.files;
  let rows = 0;
  for (const part of parts) {
    const key = rawKey(table.name, batchId, { index: files.length, nonce });
    const read = await streamRows(ctx, client, table, rescueSelect(table, part, { batchSnapshot: plan.batchSnapshot !== undefined, rendering }), batchId, key, rendering);
    if (read.rows) files = [...files, { key, rows: read.rows, bytes: read.bytes }];
    rows += read.rows;
  }
  // The setting is put back by the caller's next statement (readTable), not by a round trip of its own.
  if (!rows) return { state, restoreWorkers: workers };
  const reason =
    `committed after the previous snapshot with (last_updated, ${table.primaryKey}) at or below the previous cursor ` +
    `(${cursor.lastUpdated}, ${cursor.id}), within the ${plan.lookbackSeconds} s lookback` +
    (plan.full ? `, or below it: ${plan.full.reason}` : '');
  ctx.log.info(`Extract rescued ${rows} late-committed version(s) of ${table.name}`, { batchId, table: table.name, rows });
  return { state: { ...state, files, rows: state.rows + rows, rescued: { rows, reason } }, restoreWorkers: workers };
}

/**
 * Reads the current versions of one table that the lake lacks at or below the previous cursor
 * (repair.ts), except those this batch's rescue reads, into a file of this batch.
 */
async function repairTable(
  ctx: PipelineContext,
  client: pg.Client,
  table: SourceTable,
  options: { rescue: RescuePlan | undefined; rescues: boolean; cursor: Cursor; uptoSeq: number; batchSnapshot: string | undefined },
  batchId: string,
  nonce: string,
  state: TableProgress,
  rendering: RowRendering,
): Promise<TableProgress> {
  const missing = await missingFromLake(ctx, client, table, options);
  if (!missing.length) return state;
  const workers = await bindRescue(client, options.rescue, options.cursor, { rescues: options.rescues, repairIds: missing, batchSnapshot: options.batchSnapshot });
  const select = { batchSnapshot: options.batchSnapshot !== undefined };
  // The keys first (few), for the manifest: the missing ones this batch's rescue does not read.
  const ids = (await client.query<{ id: number }>(rescueSelect(table, 'repair', { ...select, keysOnly: true }))).rows.map((r) => r.id);
  const key = rawKey(table.name, batchId, { index: state.files.length, nonce });
  const read = ids.length ? await streamRows(ctx, client, table, rescueSelect(table, 'repair', { ...select, rendering }), batchId, key, rendering) : { rows: 0, bytes: 0 };
  await unbindRescue(client, workers);
  if (!read.rows) return state;
  const reason =
    `current version(s) the lake lacked at or below the previous cursor (${options.cursor.lastUpdated}, ${options.cursor.id}) as batch seq ${options.uptoSeq} left it ` +
    `(repair requested; ${table.primaryKey} ${ids.slice(0, 20).join(', ')}${ids.length > 20 ? ', …' : ''})`;
  ctx.log.warn(`Extract repaired ${read.rows} version(s) of ${table.name} the lake lacked: ${table.primaryKey} ${ids.slice(0, 20).join(', ')}${ids.length > 20 ? ', …' : ''}`, { batchId, table: table.name, rows: read.rows });
  return { ...state, files: [...state.files, { key, rows: read.rows, bytes: read.bytes }], rows: state.rows + read.rows, repaired: { rows: read.rows, reason } };
}
