import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { openConnection } from '../database-connection';
import { from as copyFrom } from 'pg-copy-streams';
import { METRICS } from '../contract/runtime-contract';
import { STAR_TABLES, type StarTable, type StarTableName } from '../contract/star-tables';
import { manifestSeq, parseBatchId, TRANSFORM_MANIFEST_PREFIX, transformManifestKey } from '../lake/lake-layout';
import { TransformManifest, type TransformOutput } from '../lake/manifests';
import type { PipelineContext } from '../pipeline-context';
import { getText, type ObjectStore } from '../ports/object-store';
import { copyStagingStatement, copyText, createStagingStatement, mergeStatement, qualifiedTable, stagingTable, unnestSource } from './load-statements';
import { readParquetColumns, type ColumnChunk } from './parquet-rows';
import { migrateWarehouse, quoteSchema, warehouseLockKey } from './warehouse-migrations';

export { readWarehouseTable, warehouseRowCounts } from './warehouse-tables';

/**
 * The load stage: moves each transformed batch from the processed store into the warehouse.
 *
 * Rules (DESIGN.md, "Load"):
 *  - a batch loads in ONE warehouse transaction together with its row in `load_ledger`, so it is
 *    either wholly in the warehouse or not at all, and a loaded batch is never loaded again;
 *  - batches load strictly in sequence order: batch N needs N-1 in the ledger, unless N is the
 *    first transform manifest in the store (the lake's beginning);
 *  - a transaction-level advisory lock (per warehouse schema) makes concurrent loads queue; the
 *    ledger is re-checked after taking it, so the loser of a race skips instead of loading twice;
 *  - dimensions upsert on their natural key; fact versions insert once per (id, last_updated).
 *
 * Parquet is read in pure JavaScript (hyparquet) and rows travel as array parameters or COPY data.
 */

/** How rows reach the warehouse (see load-statements.ts). `auto`: COPY on a real server, unnest on PGlite. */
export type LoadMethod = 'unnest' | 'copy';

export interface LoadOptions {
  method?: LoadMethod | 'auto';
  /** Rows per INSERT statement (unnest) or per COPY write (copy). Default 50 000. */
  chunkRows?: number;
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
 * Loads every transform manifest newer than the newest loaded batch, in order. Returns one result
 * per batch it looked at; throws {@link LoadOrderError} when the next batch's predecessor is not
 * loaded, and a plain Error naming batch, table and file when a batch fails (that batch's
 * transaction is rolled back; batches loaded before it stay loaded).
 */
export async function loadPending(ctx: PipelineContext, options: LoadOptions = {}): Promise<LoadResult[]> {
  const schema = ctx.warehouseSchema;
  quoteSchema(schema);
  const client = await openConnection(ctx.warehouse, {
    what: 'the warehouse',
    applicationName: 'totes-lake-load',
    hint: 'Check the URL (--warehouse-url / TOTES_WAREHOUSE_URL), the credentials and that the server is reachable; the batch stays pending and loads on the next run.',
  });
  const results: LoadResult[] = [];
  try {
    await migrateWarehouse(client, schema, ctx.sqlRoot);
    const method = await chooseMethod(client, options.method ?? 'auto');
    const ledger = qualifiedTable(schema, 'load_ledger');
    const newest = await client.query<{ seq: number | null }>(`SELECT max(seq) AS seq FROM ${ledger}`);
    const newestSeq = newest.rows[0].seq;
    const firstSeq = await firstManifestSeq(ctx.processed);
    if (firstSeq === undefined) {
      ctx.log.info('load: no transform manifests yet', { store: ctx.processed.name });
      return results;
    }
    const startAfter = newestSeq === null ? undefined : transformManifestKey(newestSeq);
    for await (const info of ctx.processed.list(TRANSFORM_MANIFEST_PREFIX, { startAfter })) {
      const seq = manifestSeq(info.key);
      if (seq === undefined) continue;
      const manifest = await readTransformManifest(ctx.processed, info.key, seq);
      const result = await loadBatch(client, ctx, manifest, { method, chunkRows: options.chunkRows ?? DEFAULT_CHUNK_ROWS, first: seq === firstSeq }, results);
      results.push(result);
    }
    return results;
  } finally {
    await client.end().catch(() => undefined);
  }
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

/** PGlite (single connection, no COPY FROM STDIN over its socket) or a real PostgreSQL server. */
export async function isPglite(client: pg.Client): Promise<boolean> {
  const res = await client.query<{ version: string }>('SELECT version() AS version');
  return /emscripten|wasm|pglite/i.test(res.rows[0].version);
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
  first: boolean;
}

async function loadBatch(client: pg.Client, ctx: PipelineContext, manifest: TransformManifest, plan: BatchPlan, loadedSoFar: LoadResult[]): Promise<LoadResult> {
  const schema = ctx.warehouseSchema;
  const ledger = qualifiedTable(schema, 'load_ledger');
  const started = Date.now();
  const base = { batchId: manifest.batchId, seq: manifest.seq, method: plan.method };
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [warehouseLockKey(schema)]);
    const seen = await client.query<{ batch_id: string; seq: number }>(
      `SELECT batch_id, seq FROM ${ledger} WHERE batch_id = $1 OR seq = $2 OR seq = $2 - 1`,
      [manifest.batchId, manifest.seq],
    );
    if (seen.rows.some((r) => r.batch_id === manifest.batchId)) {
      await client.query('ROLLBACK');
      ctx.log.info(`load: batch ${manifest.batchId} is already in the load ledger; skipped`, { batchId: manifest.batchId });
      return { ...base, skipped: true, tables: {}, deletedRows: 0, elapsedMs: Date.now() - started };
    }
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

    const tables: Partial<Record<StarTableName, TableLoad>> = {};
    // Dimensions first, then facts (STAR_TABLES order); without foreign keys the order is only cosmetic.
    for (const table of STAR_TABLES) {
      const output = manifest.star[table.name];
      if (!output) continue;
      // A dimension carried forward unchanged was loaded with the batch that built it (batches load in order).
      if (output.builtBy) continue;
      // A rebuilt dimension upserts only its rows that changed since the version it replaces.
      const rows = output.changes ? { ...output, prefix: output.changes.prefix, files: output.changes.files, rows: output.changes.rows } : output;
      tables[table.name] = await loadTable(client, ctx, manifest, table, rows, plan);
    }

    const deletedRows = await recordDeletions(client, schema, manifest);

    const elapsedMs = Date.now() - started;
    const sqlVersions = Object.fromEntries(Object.entries(manifest.star).map(([name, out]) => [name, { origin: out.origin, sqlHash: out.sqlHash }]));
    await client.query(`INSERT INTO ${ledger} (batch_id, seq, rows, sql_versions, elapsed_ms) VALUES ($1, $2, $3, $4, $5)`, [
      manifest.batchId,
      manifest.seq,
      JSON.stringify({ ...tables, ...(deletedRows > 0 ? { deleted_rows: { written: deletedRows } } : {}) }),
      JSON.stringify(sqlVersions),
      elapsedMs,
    ]);
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

async function loadTable(client: pg.Client, ctx: PipelineContext, manifest: TransformManifest, table: StarTable, output: TransformOutput, plan: BatchPlan): Promise<TableLoad> {
  const keys = await outputKeys(ctx.processed, output);
  const load: TableLoad = { read: 0, written: 0, files: keys.length };
  let file = '(none)';
  const fail = (err: unknown): Error =>
    new Error(
      `Load of batch ${manifest.batchId} failed on table ${table.name} (file ${file} in ${ctx.processed.name}): ${(err as Error).message}. ` +
        'The batch was rolled back and nothing of it is in the warehouse; fix the cause and run the load again.',
      { cause: err },
    );
  try {
    if (plan.method === 'copy') await client.query(createStagingStatement(ctx.warehouseSchema, table));
    const unnestMerge = mergeStatement(ctx.warehouseSchema, table, unnestSource(table));
    for (const key of keys) {
      file = key;
      const chunks = readParquetColumns(await ctx.processed.get(key), table.columns, { file: key, chunkRows: plan.chunkRows });
      if (plan.method === 'copy') {
        load.read += await copyChunks(client, table, chunks);
      } else {
        for await (const chunk of chunks) {
          load.read += chunk.rows;
          load.written += (await client.query(unnestMerge, chunk.columns)).rowCount ?? 0;
        }
      }
    }
    file = keys.length === 1 ? keys[0] : `${output.prefix}*`;
    if (plan.method === 'copy') {
      load.written = (await client.query(mergeStatement(ctx.warehouseSchema, table, stagingTable(table)))).rowCount ?? 0;
    }
  } catch (err) {
    throw fail(err);
  }
  if (load.read !== output.rows) {
    throw fail(new Error(`the transform manifest says ${output.rows} rows, its files hold ${load.read}`));
  }
  return load;
}

async function copyChunks(client: pg.Client, table: StarTable, chunks: AsyncGenerator<ColumnChunk>): Promise<number> {
  let rows = 0;
  async function* lines(): AsyncGenerator<string> {
    for await (const chunk of chunks) {
      rows += chunk.rows;
      yield copyText(chunk.columns, chunk.rows);
    }
  }
  await pipeline(Readable.from(lines()), client.query(copyFrom(copyStagingStatement(table))));
  return rows;
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
