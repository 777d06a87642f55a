import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { acquireConnection, releaseConnection } from '../connection-pool';
import { isPglite } from '../database-connection';
import { from as copyFrom } from 'pg-copy-streams';
import { METRICS } from '../contract/runtime-contract';
import { STAR_TABLES, type StarTable, type StarTableName } from '../contract/star-tables';
import { manifestSeq, parseBatchId, TRANSFORM_MANIFEST_PREFIX, transformManifestKey } from '../lake/lake-layout';
import { TransformManifest, type TransformOutput } from '../lake/manifests';
import type { PipelineContext } from '../pipeline-context';
import { getText, type ObjectStore } from '../ports/object-store';
import { newestManifestSeq, transformSeqsAfter } from '../lake/manifest-log';
import {
  copyStagingStatement,
  copyTargetStatement,
  createStagingStatement,
  isEmptyStatement,
  mergeStatement,
  qualifiedTable,
  stagingTable,
  unnestSource,
} from './load-statements';
import { readParquetColumns, type ColumnChunk } from '../lake/parquet-rows';
import { copyBinaryHeader, copyBinaryRows, copyBinaryTrailer } from './copy-binary';
import { migrateWarehouse, quoteSchema, warehouseLockKey } from './warehouse-migrations';

export { readWarehouseTable, warehouseRowCounts } from './warehouse-tables';

/**
 * The load stage: moves each transformed batch from the processed store into the warehouse.
 *
 * A run goes plan → read → write: {@link planLoad} (migrations, the method, the ledger's newest
 * seq), {@link pendingManifests} (the transform manifests after it, in order), {@link loadBatch}
 * per batch (one transaction: {@link claimBatch}, {@link loadTables}, `recordDeletions`,
 * {@link writeLedgerRow}).
 *
 * Boundary rules. Reads: the transform's outputs only through its manifests (the Parquet files a
 * manifest lists, under the prefixes it names; its deletions), and the warehouse. Never an extract
 * manifest or a raw file: what the load needs of the extract, the transform copies into its
 * manifest. Writes: the warehouse only. (The freshness the load Lambda emits after it,
 * core/operate/freshness.ts, reads the loaded batch's transform manifest and the extract's heartbeat.)
 *
 * Rules (ARCHITECTURE.md, "Load"):
 *  - a batch loads in ONE warehouse transaction together with its row in `load_ledger`, so it is
 *    either wholly in the warehouse or not at all, and a loaded batch is never loaded again;
 *  - batches load strictly in sequence order: batch N needs N-1 in the ledger, unless N is the
 *    first transform manifest in the store (the lake's beginning);
 *  - a transaction-level advisory lock (per warehouse schema) makes concurrent loads queue; the
 *    ledger is re-checked after taking it, so the loser of a race skips instead of loading twice;
 *  - dimensions upsert on their natural key; fact versions insert once per (id, last_updated).
 *
 * Parquet is read in pure JavaScript (hyparquet) and rows travel as array parameters or COPY data.
 * On a real server (method `copy`) the load is one pass at close to the speed of a plain COPY:
 * facts, and dimensions while still empty, are copied straight into their table (a fact's UNIQUE
 * natural key still refuses a version twice; should one already be there, that table falls back to
 * staging + ON CONFLICT, with a warning); a dimension's change set upserts through staging. Node
 * decodes and formats the next rows while the server ingests the previous ones (two cores). A small
 * table output (a five-minute batch's) merges by one INSERT of array parameters instead
 * ({@link SMALL_OUTPUT_ROWS}).
 */

/** How rows reach the warehouse (see load-statements.ts). `auto`: COPY on a real server, unnest on PGlite. */
export type LoadMethod = 'unnest' | 'copy';

export interface LoadOptions {
  method?: LoadMethod | 'auto';
  /** Rows per INSERT statement (unnest) or per COPY write (copy). Default 50 000. */
  chunkRows?: number;
  /** With `copy`, a table output of at most this many rows merges by one INSERT instead (default {@link SMALL_OUTPUT_ROWS}; 0: never). */
  smallOutputRows?: number;
}

export interface TableLoad {
  /** Rows read from the batch's Parquet files. */
  read: number;
  /** Rows inserted, or (dimensions) inserted or changed. */
  written: number;
  files: number;
}

export interface LoadResult {
  batchId: string;
  seq: number;
  /** True when the ledger already had the batch when its transaction looked (another load won): nothing was written. */
  skipped: boolean;
  /** The method the load chose for the warehouse; with `copy`, a table of at most `smallOutputRows` rows still merges by one INSERT. */
  method: LoadMethod;
  tables: Partial<Record<StarTableName, TableLoad>>;
  /** Source rows the batch reported deleted in totesys, newly recorded in `deleted_rows` (the load always sets it). */
  deletedRows?: number;
  elapsedMs: number;
}

/** A batch that cannot load yet because an earlier one has not been loaded. */
export class LoadOrderError extends Error {
  constructor(
    message: string,
    /** Batches this call loaded before it stopped. */
    readonly loaded: LoadResult[],
  ) {
    super(message);
    this.name = 'LoadOrderError';
  }
}

const DEFAULT_CHUNK_ROWS = 50_000;

/**
 * A table output of at most this many rows is merged by one INSERT of array parameters even where
 * the method is `copy`: a five-minute batch's few rows per table then cost one round trip instead
 * of three to four (the staging table created, the COPY, the merge; or a savepoint around a direct
 * COPY), and no temporary table is created and dropped at COMMIT. Same statement, so the same
 * result, as the merge after a COPY into staging (load-statements.ts `mergeStatement`). Past a
 * few hundred rows the array parameters cost more than those round trips: at 2,000, the bench's
 * 1,000-row batches loaded in 35–79 ms against 19–36 by COPY (BENCHMARKS.md).
 */
const SMALL_OUTPUT_ROWS = 100;

/**
 * Loads every transform manifest newer than the newest loaded batch, in order. Returns one result
 * per batch it looked at; throws {@link LoadOrderError} when the next batch's predecessor is not
 * loaded, and a plain Error naming batch, table and file when a batch fails (that batch's
 * transaction is rolled back; batches loaded before it stay loaded).
 */
export async function loadPending(ctx: PipelineContext, options: LoadOptions = {}): Promise<LoadResult[]> {
  quoteSchema(ctx.warehouseSchema);
  const client = await acquireConnection(ctx, ctx.warehouse, {
    what: 'the warehouse',
    applicationName: 'totes-lake-load',
    hint: 'Check the URL (--warehouse-url / TOTES_WAREHOUSE_URL), the credentials and that the server is reachable; the batch stays pending and loads on the next run.',
  });
  const results: LoadResult[] = [];
  try {
    const plan = await planLoad(client, ctx, options);
    if (!plan) return results;
    for await (const manifest of pendingManifests(ctx.processed, plan.newestSeq, results)) {
      results.push(await loadBatch(client, ctx, manifest, { ...plan, first: manifest.seq === plan.firstSeq }, results));
    }
    return results;
  } finally {
    // Kept by the pipeline's pool when it is idle outside a transaction (connection-pool.ts), closed otherwise.
    await releaseConnection(ctx, client);
  }
}

interface LoadPlan {
  method: LoadMethod;
  chunkRows: number;
  smallOutputRows: number;
  /** The ledger's newest seq (null: nothing loaded yet). */
  newestSeq: number | null;
  /** The first transform manifest in the store, the lake's beginning, which needs no predecessor (read only while the ledger is empty). */
  firstSeq: number | undefined;
}

/**
 * Plan: migrates the warehouse, picks the method, and reads the ledger's newest seq and the first
 * transform manifest's seq; undefined when the store has no transform manifest yet.
 */
async function planLoad(client: pg.Client, ctx: PipelineContext, options: LoadOptions): Promise<LoadPlan | undefined> {
  await migrateWarehouse(client, ctx.warehouseSchema, ctx.sqlRoot);
  const method = await chooseMethod(client, options.method ?? 'auto');
  const newest = await client.query<{ seq: number | null }>(`SELECT max(seq) AS seq FROM ${qualifiedTable(ctx.warehouseSchema, 'load_ledger')}`);
  const newestSeq = newest.rows[0].seq;
  // The lake's first manifest matters only to a warehouse that has loaded nothing (that batch needs
  // no predecessor); later loads look after the ledger's newest, never listing the log (pendingManifests).
  const firstSeq = newestSeq === null ? await firstManifestSeq(ctx.processed) : undefined;
  if (newestSeq === null && firstSeq === undefined) {
    ctx.log.info('load: no transform manifests yet', { store: ctx.processed.name });
    return undefined;
  }
  return { method, chunkRows: options.chunkRows ?? DEFAULT_CHUNK_ROWS, smallOutputRows: options.smallOutputRows ?? SMALL_OUTPUT_ROWS, newestSeq, firstSeq };
}

/**
 * Read: the transform manifests after seq `newestSeq`, in order, each read as it is reached. A
 * warehouse that has loaded nothing lists the log whole; otherwise the manifests after its newest
 * batch are found by name (manifest-log.ts `transformSeqsAfter`: a listing reads a year-old log's
 * whole folder on the folder store, several times a cycle). When none follows it but a later batch
 * is transformed, a manifest is missing in between (deleted by hand, or this warehouse is another
 * lake's): that stops the load, as loading out of order would.
 */
async function* pendingManifests(store: ObjectStore, newestSeq: number | null, loaded: LoadResult[]): AsyncGenerator<TransformManifest> {
  if (newestSeq === null) {
    for await (const info of store.list(TRANSFORM_MANIFEST_PREFIX)) {
      const seq = manifestSeq(info.key);
      if (seq !== undefined) yield readTransformManifest(store, info.key, seq);
    }
    return;
  }
  let seqs = await transformSeqsAfter(store, newestSeq);
  if (!seqs.length) {
    const transformed = await newestManifestSeq(store, TRANSFORM_MANIFEST_PREFIX);
    if (transformed === undefined || transformed <= newestSeq) return;
    // A transform may have published the next batch since it was asked for: ask once more (a batch
    // is published only after its predecessor, so one seen newer means the next exists unless deleted).
    seqs = await transformSeqsAfter(store, newestSeq);
    if (!seqs.length) {
      throw new LoadOrderError(
        `Cannot load the batches after seq ${newestSeq} (transformed up to seq ${transformed}): transform manifest ${transformManifestKey(newestSeq + 1)} is missing from ${store.name}. ` +
          `Batches load in order; transform seq ${newestSeq + 1} again (a transform run in a new process finds the gap and rebuilds it).`,
        loaded,
      );
    }
  }
  for (const seq of seqs) yield readTransformManifest(store, transformManifestKey(seq), seq);
}

async function firstManifestSeq(store: ObjectStore): Promise<number | undefined> {
  for await (const info of store.list(TRANSFORM_MANIFEST_PREFIX)) {
    const seq = manifestSeq(info.key);
    if (seq !== undefined) return seq;
  }
  return undefined;
}

async function readTransformManifest(store: ObjectStore, key: string, seq: number): Promise<TransformManifest> {
  let json: unknown;
  try {
    json = JSON.parse(await getText(store, key));
  } catch (err) {
    throw new Error(`Transform manifest ${key} in ${store.name} is not readable JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = TransformManifest.safeParse(json);
  if (!parsed.success) throw new Error(`Transform manifest ${key} in ${store.name} is malformed: ${parsed.error.message}`);
  const manifest = parsed.data;
  if (manifest.seq !== seq || parseBatchId(manifest.batchId).seq !== seq) {
    throw new Error(`Transform manifest ${key} in ${store.name} says seq ${manifest.seq}, batch ${manifest.batchId}; its key says seq ${seq}`);
  }
  return manifest;
}

async function chooseMethod(client: pg.Client, wanted: LoadMethod | 'auto'): Promise<LoadMethod> {
  if (wanted === 'unnest') return wanted;
  const pglite = await isPglite(client);
  if (wanted === 'copy' && pglite) {
    throw new Error('The COPY load method cannot run on PGlite: COPY … FROM STDIN breaks its socket connection. Use method "unnest" or "auto".');
  }
  return pglite ? 'unnest' : 'copy';
}

interface BatchPlan {
  method: LoadMethod;
  chunkRows: number;
  smallOutputRows: number;
  first: boolean;
}

/**
 * Write: one batch in one warehouse transaction — its place in the ledger claimed, its tables, its
 * deletions, then its ledger row — so it is wholly in or not at all.
 */
async function loadBatch(client: pg.Client, ctx: PipelineContext, manifest: TransformManifest, plan: BatchPlan, loadedSoFar: LoadResult[]): Promise<LoadResult> {
  const started = Date.now();
  const base = { batchId: manifest.batchId, seq: manifest.seq, method: plan.method };
  // The first tables' files are read while the transaction opens and the ledger is checked.
  const work = planTables(ctx, manifest, plan);
  prefetchFrom(work, 0, plan);
  await client.query('BEGIN');
  try {
    if (!(await claimBatch(client, ctx, manifest, plan, loadedSoFar))) {
      await client.query('ROLLBACK');
      ctx.log.info(`load: batch ${manifest.batchId} is already in the load ledger; skipped`, { batchId: manifest.batchId });
      return { ...base, skipped: true, tables: {}, deletedRows: 0, elapsedMs: Date.now() - started };
    }
    const tables = await loadTables(client, ctx, manifest, plan, work);
    const deletedRows = await recordDeletions(client, ctx.warehouseSchema, manifest);
    const elapsedMs = Date.now() - started;
    await writeLedgerRow(client, ctx.warehouseSchema, manifest, tables, deletedRows, elapsedMs);
    await client.query('COMMIT');
    for (const [name, load] of Object.entries(tables)) ctx.log.metric(METRICS.rows, load.written, 'Count', { table: name, stage: 'load' });
    ctx.log.metric(METRICS.stageDuration, elapsedMs, 'Milliseconds', { stage: 'load' });
    ctx.log.info(`load: batch ${manifest.batchId} loaded`, { batchId: manifest.batchId, seq: manifest.seq, method: plan.method, elapsedMs, tables, deletedRows });
    return { ...base, skipped: false, tables, deletedRows, elapsedMs };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Takes the schema's advisory lock and checks the ledger in the batch's transaction: false when the
 * batch is already loaded (another load won); throws when its seq belongs to another batch or its
 * predecessor is not loaded ({@link LoadOrderError}).
 */
async function claimBatch(client: pg.Client, ctx: PipelineContext, manifest: TransformManifest, plan: BatchPlan, loadedSoFar: LoadResult[]): Promise<boolean> {
  const schema = ctx.warehouseSchema;
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [warehouseLockKey(schema)]);
  const seen = await client.query<{ batch_id: string; seq: number }>(
    `SELECT batch_id, seq FROM ${qualifiedTable(schema, 'load_ledger')} WHERE batch_id = $1 OR seq = $2 OR seq = $2 - 1`,
    [manifest.batchId, manifest.seq],
  );
  if (seen.rows.some((r) => r.batch_id === manifest.batchId)) return false;
  const clash = seen.rows.find((r) => r.seq === manifest.seq);
  if (clash) {
    throw new Error(
      `Cannot load batch ${manifest.batchId}: the load ledger of schema ${schema} already holds seq ${manifest.seq} as batch ${clash.batch_id}. ` +
        'The processed store and the warehouse belong to different lakes; point the load at the right warehouse or schema.',
    );
  }
  if (!plan.first && !seen.rows.some((r) => r.seq === manifest.seq - 1)) {
    throw new LoadOrderError(
      `Cannot load batch ${manifest.batchId} (seq ${manifest.seq}): batch seq ${manifest.seq - 1} is not in the load ledger of schema ${schema}. ` +
        `Batches load in order; load seq ${manifest.seq - 1} first (is its transform manifest ${transformManifestKey(manifest.seq - 1)} missing from ${ctx.processed.name}?).`,
      loadedSoFar,
    );
  }
  return true;
}

/** A star table the batch loads: its output (a rebuilt dimension's change set) and the reader of its files. */
interface TableWork {
  table: StarTable;
  output: TransformOutput;
  reader: TableChunks;
}

/**
 * The star tables the manifest has rows for, in STAR_TABLES order (dimensions, then facts; without
 * foreign keys the order is only cosmetic). A dimension carried forward was loaded with the batch
 * that built it (batches load in order); a rebuilt one upserts only its rows that changed since the
 * version it replaces.
 */
function planTables(ctx: PipelineContext, manifest: TransformManifest, plan: BatchPlan): TableWork[] {
  return STAR_TABLES.flatMap((table) => {
    const output = manifest.star[table.name];
    if (!output || output.builtBy) return [];
    const rows = output.changes ? { ...output, prefix: output.changes.prefix, files: output.changes.files, rows: output.changes.rows } : output;
    return [{ table, output: rows, reader: new TableChunks(ctx.processed, table, rows, plan.chunkRows) }];
  });
}

/**
 * Starts decoding the tables from `work[from]` on, up to and including the first big one (a tiny
 * table in between would otherwise leave the server waiting for it): before the batch's
 * transaction for the first ones, and once a table's rows are all sent for those after it.
 */
function prefetchFrom(work: readonly TableWork[], from: number, plan: BatchPlan): void {
  for (const later of work.slice(from)) {
    if (later.output.rows === 0) continue;
    later.reader.prefetch();
    if (later.output.rows >= plan.chunkRows) break;
  }
}

/** Reads the Parquet of each table in `work` and writes it into the warehouse tables, in order. */
async function loadTables(client: pg.Client, ctx: PipelineContext, manifest: TransformManifest, plan: BatchPlan, work: readonly TableWork[]): Promise<Partial<Record<StarTableName, TableLoad>>> {
  const tables: Partial<Record<StarTableName, TableLoad>> = {};
  for (const [i, { table, output, reader }] of work.entries()) {
    // Nothing to send (a fact without versions in this batch, a dimension whose rebuild changed no row).
    if (output.rows === 0) {
      tables[table.name] = { read: 0, written: 0, files: 0 };
      continue;
    }
    tables[table.name] = await loadTable(client, ctx, manifest, table, output, plan, reader, () => prefetchFrom(work, i + 1, plan));
  }
  return tables;
}

/** The batch's row in `load_ledger`: rows per table (and deletions), the SQL versions it was built with. */
async function writeLedgerRow(
  client: pg.Client,
  schema: string,
  manifest: TransformManifest,
  tables: Partial<Record<StarTableName, TableLoad>>,
  deletedRows: number,
  elapsedMs: number,
): Promise<void> {
  const sqlVersions = Object.fromEntries(Object.entries(manifest.star).map(([name, out]) => [name, { origin: out.origin, sqlHash: out.sqlHash }]));
  await client.query(`INSERT INTO ${qualifiedTable(schema, 'load_ledger')} (batch_id, seq, rows, sql_versions, elapsed_ms) VALUES ($1, $2, $3, $4, $5)`, [
    manifest.batchId,
    manifest.seq,
    JSON.stringify({ ...tables, ...(deletedRows > 0 ? { deleted_rows: { written: deletedRows } } : {}) }),
    JSON.stringify(sqlVersions),
    elapsedMs,
  ]);
}

/**
 * Records the source rows this batch found deleted (manifest `deletions`) in `deleted_rows`, once
 * per (source table, id): the warehouse keeps what it loaded and marks the deletion beside it.
 */
async function recordDeletions(client: pg.Client, schema: string, manifest: TransformManifest): Promise<number> {
  let recorded = 0;
  for (const [sourceTable, rows] of Object.entries(manifest.deletions ?? {})) {
    if (rows.length === 0) continue;
    try {
      const res = await client.query(
        `INSERT INTO ${qualifiedTable(schema, 'deleted_rows')} (source_table, source_id, detected_at, batch_id)
         SELECT $1, u.id, u.detected_at, $2 FROM unnest($3::integer[], $4::timestamp(3)[]) AS u(id, detected_at)
         ON CONFLICT (source_table, source_id) DO NOTHING`,
        [sourceTable, manifest.batchId, rows.map((r) => r.id), rows.map((r) => r.detectedAt)],
      );
      recorded += res.rowCount ?? 0;
    } catch (err) {
      throw new Error(`Load of batch ${manifest.batchId} failed recording deletions of ${sourceTable} in deleted_rows: ${(err as Error).message}. The batch was rolled back.`, { cause: err });
    }
  }
  return recorded;
}

async function loadTable(
  client: pg.Client,
  ctx: PipelineContext,
  manifest: TransformManifest,
  table: StarTable,
  output: TransformOutput,
  plan: BatchPlan,
  reader: TableChunks,
  /** Called once this table's rows are all sent to the server, while it still ingests them. */
  allSent: () => void,
): Promise<TableLoad> {
  const schema = ctx.warehouseSchema;
  const keys = await reader.keys();
  let load: TableLoad = { read: 0, written: 0, files: keys.length };
  let file = '(none)';
  const fail = (err: unknown): Error =>
    new Error(
      `Load of batch ${manifest.batchId} failed on table ${table.name} (file ${file} in ${ctx.processed.name}): ${(err as Error).message}. ` +
        'The batch was rolled back and nothing of it is in the warehouse; fix the cause and run the load again.',
      { cause: err },
    );
  const chunksOf = (key: string): Promise<AsyncGenerator<ColumnChunk>> => {
    file = key;
    return reader.chunks(key);
  };
  const sent = (key: string) => (key === keys[keys.length - 1] ? allSent : undefined);
  try {
    if (plan.method === 'unnest' || output.rows <= plan.smallOutputRows) {
      const unnestMerge = mergeStatement(schema, table, unnestSource(table));
      for (const key of keys) {
        for await (const chunk of await chunksOf(key)) {
          load.read += chunk.rows;
          load.written += (await client.query(unnestMerge, chunk.columns)).rowCount ?? 0;
        }
      }
      allSent();
      if (table.kind === 'fact' && load.written < load.read) {
        // What the direct COPY's fallback says (directCopy), for the versions the merge skipped.
        ctx.log.warn(
          `load: batch ${manifest.batchId} holds ${load.read - load.written} version(s) of ${table.name} the warehouse already has with the same values; ` +
            'they were skipped. Check that no other process writes to this warehouse schema.',
          { batchId: manifest.batchId, table: table.name },
        );
      }
    } else {
      const direct = keys.length > 0 && (await directCopy(client, ctx, manifest, table, keys, chunksOf, sent));
      if (direct) load = { ...load, ...direct };
      else {
        await client.query(createStagingStatement(schema, table));
        for (const key of keys) load.read += (await copyChunks(client, copyStagingStatement(table), table, await chunksOf(key), sent(key))).rows;
        file = keys.length === 1 ? keys[0] : `${output.prefix}*`;
        load.written = (await client.query(mergeStatement(schema, table, stagingTable(table)))).rowCount ?? 0;
      }
    }
  } catch (err) {
    throw fail(err);
  }
  if (load.read !== output.rows) {
    throw fail(new Error(`the transform manifest says ${output.rows} rows, its files hold ${load.read}`));
  }
  return load;
}

const UNIQUE_VIOLATION = '23505';

/**
 * The one-pass COPY: a fact's rows, or a dimension's while the table is still empty (checked inside
 * the batch transaction, after the advisory lock, so no other load can fill it meanwhile), stream
 * straight into the warehouse table inside a savepoint. The fact's UNIQUE natural key still makes a
 * version insert once: a key already present (a later version stamped in the same millisecond as
 * one loaded before, load-statements.ts; or a row written behind the ledger's back) fails the COPY
 * with unique_violation, which rolls back to the savepoint and returns undefined so the caller
 * takes the staging + ON CONFLICT path. Any other error fails the batch.
 */
async function directCopy(
  client: pg.Client,
  ctx: PipelineContext,
  manifest: TransformManifest,
  table: StarTable,
  keys: string[],
  chunksOf: (key: string) => Promise<AsyncGenerator<ColumnChunk>>,
  sent: (key: string) => (() => void) | undefined,
): Promise<Pick<TableLoad, 'read' | 'written'> | undefined> {
  const schema = ctx.warehouseSchema;
  if (table.kind === 'dimension') {
    const res = await client.query<{ empty: boolean }>(isEmptyStatement(schema, table));
    if (!res.rows[0].empty) return undefined;
  }
  await client.query('SAVEPOINT load_direct_copy');
  const load = { read: 0, written: 0 };
  try {
    for (const key of keys) {
      const copied = await copyChunks(client, copyTargetStatement(schema, table), table, await chunksOf(key), sent(key));
      load.read += copied.rows;
      load.written += copied.written;
    }
  } catch (err) {
    if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION) throw err;
    await client.query('ROLLBACK TO SAVEPOINT load_direct_copy');
    await client.query('RELEASE SAVEPOINT load_direct_copy');
    const fallback =
      table.kind === 'fact'
        ? 'an upsert on its natural key: a version present with the same values is skipped, one with other values (a later write stamped in the same millisecond) replaces it'
        : 'an upsert on its key';
    ctx.log.warn(
      `load: batch ${manifest.batchId} holds a version of ${table.name} whose key the warehouse already has (or holds one twice), so its direct COPY failed ` +
        `(${(err as Error).message}); loading ${table.name} again through staging + ${fallback}. ` +
        (table.kind === 'fact'
          ? 'Two writes of one row stamped in the same millisecond do this; otherwise check that no other process writes to this warehouse schema.'
          : 'The load ledger and the transform should make this impossible: check that no other process writes to this warehouse schema.'),
      { batchId: manifest.batchId, table: table.name },
    );
    return undefined;
  }
  await client.query('RELEASE SAVEPOINT load_direct_copy');
  ctx.log.progress('load', { batchId: manifest.batchId, table: table.name, path: 'direct-copy', rows: load.written });
  return load;
}

/**
 * Streams the chunks as binary COPY data (copy-binary.ts) into `copySql`; returns the rows sent and the rows the server
 * reports copied. `whenSent` runs once the last chunk is handed to the connection, while the server
 * is still ingesting the tail: the moment to start decoding the next table.
 *
 * The chunks are decoded and formatted up to {@link COPY_READ_AHEAD} ahead of the connection: the
 * stream asks for the next chunk only once the previous one has drained into the socket, so
 * decoding on demand left the server idle while Node decoded, and Node idle while the server
 * ingested (the load used ~1 of 2 cores; issue 14 item 3).
 */
async function copyChunks(
  client: pg.Client,
  copySql: string,
  table: StarTable,
  chunks: AsyncGenerator<ColumnChunk>,
  whenSent?: () => void,
): Promise<{ rows: number; written: number }> {
  let rows = 0;
  const types = table.columns.map((c) => c.type);
  async function* formatted(): AsyncGenerator<Buffer> {
    for await (const chunk of chunks) {
      rows += chunk.rows;
      yield copyBinaryRows(types, chunk.columns, chunk.rows, table.name);
    }
  }
  async function* lines(): AsyncGenerator<Buffer> {
    yield copyBinaryHeader();
    yield* readAhead(formatted(), COPY_READ_AHEAD);
    yield copyBinaryTrailer();
    whenSent?.();
  }
  const copy = client.query(copyFrom(copySql));
  await pipeline(Readable.from(lines()), copy);
  return { rows, written: copy.rowCount };
}

/** Chunks decoded and formatted ahead of the one the COPY stream is sending. */
const COPY_READ_AHEAD = 2;

/**
 * The items of `source`, with up to `depth` further items requested ahead of the consumer (an async
 * generator queues the requests and runs them one after another, so order is kept). A failure
 * surfaces when the consumer reaches it; a consumer that stops early ends the source once the
 * requests in flight are done.
 */
export async function* readAhead<T>(source: AsyncGenerator<T>, depth: number): AsyncGenerator<T> {
  const ahead: Promise<IteratorResult<T>>[] = [];
  try {
    for (;;) {
      while (ahead.length < depth + 1) {
        const next = source.next();
        next.catch(() => undefined); // rethrown below, in order, when the consumer reaches it
        ahead.push(next);
      }
      const result = await ahead.shift()!;
      if (result.done) return;
      yield result.value;
    }
  } finally {
    await Promise.allSettled(ahead);
    await source.return(undefined);
  }
}

/**
 * The Parquet chunks of one table of a batch. With one connection the tables load one after
 * another; `prefetch()` lets the next table's first file be fetched and its first chunk decoded
 * while the server still ingests the previous table's last rows, so neither side waits for the
 * other between tables. A prefetch failure surfaces when the table reads that file, with its name.
 */
class TableChunks {
  private keyList?: Promise<string[]>;
  private prefetched?: Promise<{ key: string; chunks: AsyncGenerator<ColumnChunk> } | undefined>;

  constructor(
    private readonly store: ObjectStore,
    private readonly table: StarTable,
    private readonly output: TransformOutput,
    private readonly chunkRows: number,
  ) {}

  keys(): Promise<string[]> {
    this.keyList ??= outputKeys(this.store, this.output);
    return this.keyList;
  }

  prefetch(): void {
    if (this.prefetched) return;
    this.prefetched = this.keys().then(async ([first]) => (first === undefined ? undefined : { key: first, chunks: started(await this.open(first)) }));
    this.prefetched.catch(() => undefined); // surfaces in chunks(), when the table reads that file
  }

  /** The chunks of `key`: the prefetched ones the first time, else a fresh read (a fallback re-reads). */
  async chunks(key: string): Promise<AsyncGenerator<ColumnChunk>> {
    const prefetched = await this.prefetched;
    if (prefetched?.key === key) {
      this.prefetched = undefined;
      return prefetched.chunks;
    }
    return this.open(key);
  }

  /**
   * A batch built before its model gained a column (transformed by the previous SQL, loaded after
   * the new code arrived: README.md, "Changing a model") has no such column: it loads as NULL, which
   * the warehouse allows for a column a migration added, and `totes backfill` later rebuilds the
   * versions with it. The transform writes every contract column, so no other file lacks one; a key
   * column never may.
   */
  private async open(key: string): Promise<AsyncGenerator<ColumnChunk>> {
    this.absentAsNull ??= new Set(this.table.columns.filter((c) => !this.table.key.includes(c.name)).map((c) => c.name));
    return readParquetColumns(await this.store.get(key), this.table.columns, { file: key, chunkRows: this.chunkRows, absentAsNull: this.absentAsNull });
  }

  private absentAsNull?: Set<string>;
}

/** The generator with its first chunk already being read (the work starts now, not at the first `next()`). */
function started<T>(source: AsyncGenerator<T>): AsyncGenerator<T> {
  const first = source.next();
  first.catch(() => undefined); // rethrown below when the consumer asks
  return (async function* () {
    const head = await first;
    if (head.done) return;
    yield head.value;
    yield* source;
  })();
}

/** Object keys of an output's Parquet files: the manifest's list (keys or URIs), else a listing of its prefix. */
async function outputKeys(store: ObjectStore, output: TransformOutput): Promise<string[]> {
  if (output.files.length > 0) {
    const base = store.uri('');
    return output.files.map((f) => {
      if (f.startsWith(base)) return f.slice(base.length).replace(/^\/+/, '');
      return f;
    });
  }
  if (output.rows === 0) return [];
  const keys: string[] = [];
  for await (const info of store.list(output.prefix)) if (info.key.endsWith('.parquet')) keys.push(info.key);
  return keys;
}
