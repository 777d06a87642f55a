import { z } from 'zod';
import { lakeTrinoType, STAR_TABLES, type StarTable, type StarTableName } from '../contract/star-tables';
import { BATCH_ID_COLUMN, SOURCE_TABLE_NAMES, SOURCE_TABLES, type SourceTableName } from '../contract/source-tables';
import { openConnection } from '../database-connection';
import { backfillFactPrefix, backfillGroupPrefix, backfillKey, BATCH_ID_PATTERN, modelVersionKey } from '../lake/lake-layout';
import { currentLocations, latestTransformManifest, listTransformSeqs, readExtractManifest, readTransformManifest } from '../lake/manifest-log';
import type { TransformManifest } from '../lake/manifests';
import { acquireLease } from '../lake/stage-lease';
import { loadPending } from '../load/load';
import { replaceFactTable, type ReplacementSource } from '../load/replace-table';
import { quoteSchema } from '../load/warehouse-migrations';
import { getText, ObjectNotFoundError } from '../ports/object-store';
import type { RelationBindings, WriteTarget } from '../ports/query-engine';
import type { PipelineContext } from '../pipeline-context';
import { runDataTests } from './data-tests';
import { acceptPredicate, readAcceptedOnly } from './input-checks';
import { quoteIdent, stringLiteral } from '../sql/sql-text';
import { publishedVersion, readModelVersion, type ModelVersion } from './model-versions';
import { loadSqlFiles, type SqlFile } from './sql-files';

/**
 * `totes backfill <table>…` (issue 16, item 2): rebuilds a star table's history with the current
 * SQL file, so a changed model (model-versions.ts) is published whole, never mixed with its old version.
 *
 * A fact, in four steps, each recorded in its progress `backfills/<fact>/<sql hash>.json`, so a
 * crashed backfill resumes where it stopped (re-running a step rewrites the same keys):
 *  1. rebuild: every published batch with versions of the fact, in batch order, is run through the
 *     SQL file with exactly the relations its batch run had (the batch's raw files as its extract
 *     manifest lists them, less the versions it rejected; the current state its transform manifest
 *     lists; the calendar before it), into `star/<fact>/sql=<hash12>/from=<first>/batch_id=<batch>/`,
 *     beside the partitions readers use; lineage `_batch_id` is the batch's. A file that reads only
 *     its batch's rows runs over a group of batches in one statement ({@link rebuildGroup}); progress
 *     is saved after each group (or batch);
 *  2. test: each rebuilt batch passes the fact's data tests (keys, not-nulls, relationships to the
 *     published dimensions, one row per distinct version the batch extracted). A failure stops the
 *     backfill with nothing published;
 *  3. publish, under the transform lease of the next batch (so no batch is transformed meanwhile;
 *     refused while another run holds it): batches published since step 1 are rebuilt and tested
 *     too, then the catalog's partitions are replaced in one step (`replacePartitions`), then
 *     `models/<fact>.json` records the new version through the newest transformed batch: from then on
 *     batches are built with the new version, and the ones that waited go on, each exactly once;
 *  4. warehouse: pending batches are loaded, then the table is replaced in one transaction
 *     (load/replace-table.ts: new table, copy, rename).
 * Nothing the batches wrote is overwritten or deleted: the old partitions stay where they were.
 *
 * A dimension is rebuilt whole by every batch whose sources changed, and by the next batch once its
 * file changed (model-versions.ts): a backfill of one only says where it stands.
 */

export const BackfillStep = z.enum(['rebuilding', 'tested', 'published', 'loaded']);
export type BackfillStep = z.infer<typeof BackfillStep>;

const RebuiltBatch = z.object({
  seq: z.number().int().positive(),
  batchId: z.string().regex(BATCH_ID_PATTERN),
  prefix: z.string(),
  files: z.array(z.string()),
  rows: z.number().int().nonnegative(),
  /** Rows the batch's own partition (the old version) holds. */
  before: z.number().int().nonnegative(),
  tested: z.boolean(),
});
type RebuiltBatch = z.infer<typeof RebuiltBatch>;

export const BackfillProgress = z.object({
  kind: z.literal('backfill'),
  table: z.string(),
  origin: z.string(),
  sqlHash: z.string(),
  engine: z.string(),
  startedAt: z.string(),
  updatedAt: z.string(),
  step: BackfillStep,
  batches: z.array(RebuiltBatch),
  /** Set when published: the newest transformed batch then (every batch up to it is rebuilt). */
  throughSeq: z.number().int().positive().optional(),
});
export type BackfillProgress = z.infer<typeof BackfillProgress>;

export interface BackfillOptions {
  /** Called at each step boundary (the CLI shows them; tests crash the backfill here). */
  onStep?: (step: string, fields: Record<string, unknown>) => void | Promise<void>;
  /** Whether to replace the warehouse table after publishing (default true). */
  warehouse?: boolean;
  /** Batches rebuilt by one statement, for a file that reads only its batch's rows (default 50; Athena writes at most 100 partitions a statement). */
  batchesPerStatement?: number;
}

const BATCHES_PER_STATEMENT = 50;

export interface BackfillResult {
  table: StarTableName;
  kind: 'fact' | 'dimension';
  /** What happened: `rebuilt` (every step done now), `up-to-date` (nothing to do), `dimension` (see message). */
  outcome: 'rebuilt' | 'up-to-date' | 'dimension';
  message: string;
  progress?: BackfillProgress;
}

/** Refused: another run holds the batch lease, or the catalog cannot swap partitions atomically. */
export class BackfillRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackfillRefusedError';
  }
}

const LEASE_TTL_MS = 16 * 60_000;

/** Backfills each named star table in turn (facts as above; a dimension is reported). */
export async function backfill(ctx: PipelineContext, tables: readonly string[], options: BackfillOptions = {}): Promise<BackfillResult[]> {
  const sqlFiles = await loadSqlFiles(ctx.sqlRoot);
  const unknown = tables.filter((t) => !STAR_TABLES.some((s) => s.name === t));
  if (unknown.length) throw new Error(`Not a star table: ${unknown.join(', ')} (the star tables are ${STAR_TABLES.map((t) => t.name).join(', ')})`);
  const results: BackfillResult[] = [];
  for (const name of tables) {
    const file = sqlFiles.find((f) => f.table.name === name)!;
    results.push(file.table.kind === 'fact' ? await backfillFact(ctx, file, options) : await dimensionState(ctx, file));
  }
  return results;
}

async function dimensionState(ctx: PipelineContext, file: SqlFile): Promise<BackfillResult> {
  const last = await latestTransformManifest(ctx.processed);
  const published = last?.star[file.table.name]?.sqlHash;
  const name = file.table.name as StarTableName;
  const message =
    published === undefined || published === file.sqlHash
      ? `${name} is built by the current ${file.origin} (version ${file.sqlHash.slice(0, 12)}): nothing to backfill`
      : `${name} was built by version ${published.slice(0, 12)} of ${file.origin}, the file is now ${file.sqlHash.slice(0, 12)}: a dimension is rebuilt whole from the current state, so the next batch (\`totes run\`, once the source has a change) rebuilds it with the new version, publishes it and loads its changed rows; nothing to backfill`;
  ctx.log.info(`Backfill: ${message}`, { table: name });
  return { table: name, kind: 'dimension', outcome: published === undefined || published === file.sqlHash ? 'up-to-date' : 'dimension', message };
}

async function backfillFact(ctx: PipelineContext, file: SqlFile, options: BackfillOptions): Promise<BackfillResult> {
  const name = file.table.name as StarTableName;
  const step = async (what: string, fields: Record<string, unknown> = {}) => {
    ctx.log.progress('backfill', { table: name, step: what, ...fields });
    await options.onStep?.(what, { table: name, ...fields });
  };
  if (!ctx.catalog.replacePartitions) {
    throw new BackfillRefusedError(
      `Cannot backfill ${name} here: this catalog cannot replace a fact's partitions in one step (the folder catalog and Glue can), so readers could see a mix of versions. Nothing was changed`,
    );
  }
  let progress = await readProgress(ctx, name, file.sqlHash);
  const record = await readModelVersion(ctx.processed, name);
  const newest = await latestTransformManifest(ctx.processed);
  // Up to date: the published version is the file's and every published partition was built by it.
  const upToDate = publishedVersion(name, newest, record) === file.sqlHash && (await ctx.catalog.partitions(name)).every((p) => p.sqlHash === file.sqlHash);
  if (!progress || progress.step === 'loaded') {
    if (upToDate) {
      const message = `${name} is built by the current ${file.origin} (version ${file.sqlHash.slice(0, 12)}) in every published batch${progress ? ` (backfilled through batch seq ${progress.throughSeq})` : ''}: nothing to backfill`;
      ctx.log.info(`Backfill: ${message}`, { table: name });
      return { table: name, kind: 'fact', outcome: 'up-to-date', message, ...(progress ? { progress } : {}) };
    }
    // A finished backfill of this version that another version replaced since (the file was changed back): start afresh.
    progress = undefined;
  }
  // Refused while a run holds the next batch's lease: checked before any work.
  await withLease(ctx, name, async () => undefined);
  if (!progress) {
    progress = {
      kind: 'backfill',
      table: name,
      origin: file.origin,
      sqlHash: file.sqlHash,
      engine: ctx.engine.name,
      startedAt: ctx.now().toISOString(),
      updatedAt: ctx.now().toISOString(),
      step: 'rebuilding',
      batches: [],
    };
    await saveProgress(ctx, progress);
  }
  ctx.log.info(`Backfill: ${name} with ${file.origin} version ${file.sqlHash.slice(0, 12)}, resuming at step ${progress.step} (${progress.batches.length} batch(es) rebuilt so far)`, {
    table: name,
    step: progress.step,
  });

  if (progress.step === 'rebuilding' || progress.step === 'tested') {
    await rebuildMissing(ctx, file, progress, step, options.batchesPerStatement ?? BATCHES_PER_STATEMENT);
    await testRebuilt(ctx, file, progress, step);
    if (progress.step === 'rebuilding') {
      progress.step = 'tested';
      await saveProgress(ctx, progress);
    }
    await step('tested', { batches: progress.batches.length });
    await withLease(ctx, name, async (nextSeq) => {
      // Under the lease no batch is transformed: rebuild what was published since, then publish.
      await rebuildMissing(ctx, file, progress!, step, options.batchesPerStatement ?? BATCHES_PER_STATEMENT);
      await testRebuilt(ctx, file, progress!, step);
      const throughSeq = nextSeq - 1;
      await ctx.catalog.replacePartitions!(
        name,
        progress!.batches.filter((b) => b.rows > 0).map((b) => ({ prefix: b.prefix, batchId: b.batchId, sqlHash: file.sqlHash })),
      );
      await step('catalog-replaced', { throughSeq });
      const throughManifest = await readTransformManifest(ctx.processed, throughSeq);
      const version: ModelVersion = {
        kind: 'model-version',
        table: name,
        origin: file.origin,
        sqlHash: file.sqlHash,
        throughSeq,
        throughBatchId: throughManifest.batchId,
        publishedAt: ctx.now().toISOString(),
        backfill: backfillKey(name, file.sqlHash),
      };
      await ctx.processed.put(modelVersionKey(name), `${JSON.stringify(version, null, 2)}\n`, { contentType: 'application/json' });
      await step('model-recorded', { throughSeq });
      progress!.step = 'published';
      progress!.throughSeq = throughSeq;
      await saveProgress(ctx, progress!);
    });
    ctx.log.info(`Backfill: ${name} published in the lake with version ${file.sqlHash.slice(0, 12)} through batch seq ${progress.throughSeq}`, { table: name, throughSeq: progress.throughSeq });
    await step('published', { throughSeq: progress.throughSeq });
  }

  if (options.warehouse !== false) {
    await replaceWarehouse(ctx, name, progress, step);
    progress.step = 'loaded';
    await saveProgress(ctx, progress);
    await step('loaded', { throughSeq: progress.throughSeq });
  }
  const rows = progress.batches.reduce((sum, b) => sum + b.rows, 0);
  const message = `${name} rebuilt with ${file.origin} version ${file.sqlHash.slice(0, 12)}: ${progress.batches.length} batch(es), ${rows} row(s), through batch seq ${progress.throughSeq}${options.warehouse === false ? ' (lake only)' : ', lake and warehouse'}`;
  ctx.log.info(`Backfill: ${message}`, { table: name });
  return { table: name, kind: 'fact', outcome: 'rebuilt', message, progress };
}

/**
 * Runs `work` holding the transform lease of the next batch to transform (the newest transformed + 1):
 * no transform runs meanwhile. Refused (BackfillRefusedError) while another run holds it.
 */
async function withLease(ctx: PipelineContext, table: string, work: (nextSeq: number) => Promise<void>): Promise<void> {
  const seqs = await listTransformSeqs(ctx.processed);
  if (!seqs.length) throw new Error(`Nothing to backfill: no batch has been transformed yet (run \`totes run\` first)`);
  const nextSeq = seqs.at(-1)! + 1;
  const outcome = await acquireLease(ctx.processed, 'transform', nextSeq, { ttlMs: LEASE_TTL_MS, now: ctx.now });
  if ('busy' in outcome) {
    throw new BackfillRefusedError(
      `Backfill of ${table} refused: another run holds the transform lease of batch seq ${nextSeq} (${outcome.busy.holder.host} pid ${outcome.busy.holder.pid}, until ${outcome.busy.expiresAt}). ` +
        'Nothing was published; run the backfill again once that run is done (it resumes where it stopped)',
    );
  }
  try {
    // Re-listed under the lease: a run that published a batch before we took it moved the newest on.
    const now = await listTransformSeqs(ctx.processed);
    if (now.at(-1)! + 1 !== nextSeq) throw new BackfillRefusedError(`Backfill of ${table}: batch seq ${now.at(-1)} was published meanwhile; run the backfill again (it resumes)`);
    await work(nextSeq);
  } finally {
    await outcome.lease.release().catch(() => undefined);
  }
}

/** Step 1: rebuilds, in batch order, every transformed batch with versions of the fact that the progress does not hold yet. */
async function rebuildMissing(
  ctx: PipelineContext,
  file: SqlFile,
  progress: BackfillProgress,
  step: (what: string, fields?: Record<string, unknown>) => Promise<void>,
  batchesPerStatement: number,
): Promise<void> {
  const done = new Set(progress.batches.map((b) => b.seq));
  const seqs = (await listTransformSeqs(ctx.processed)).filter((seq) => !done.has(seq));
  const todo: TransformManifest[] = [];
  for (const seq of seqs) {
    const manifest = await readTransformManifest(ctx.processed, seq);
    if ((manifest.star[file.table.name]?.rows ?? 0) > 0) todo.push(manifest);
  }
  // A file that reads only its batch's raw rows runs over a group of batches in one statement (on
  // Athena one CTAS per group, not per batch); one that reads anything else runs batch by batch.
  const grouped = batchOnlySources(file);
  const size = grouped ? Math.max(1, batchesPerStatement) : 1;
  let rebuilt = 0;
  for (let i = 0; i < todo.length; i += size) {
    const group = todo.slice(i, i + size);
    const outputs = grouped ? await rebuildGroup(ctx, file, group, grouped) : [await rebuildBatch(ctx, file, group[0], group[0].seq > 1 ? await readTransformManifest(ctx.processed, group[0].seq - 1) : undefined)];
    progress.batches.push(...outputs);
    progress.batches.sort((a, b) => a.seq - b.seq);
    await saveProgress(ctx, progress);
    rebuilt += group.length;
    await step('rebuilt', { batchId: group.at(-1)!.batchId, done: rebuilt, of: todo.length, rows: outputs.reduce((sum, o) => sum + o.rows, 0) });
  }
}

/**
 * The source tables a fact file reads when it reads nothing but `batch_<table>` (its batch's raw
 * rows), else undefined. Comment lines are ignored.
 */
export function batchOnlySources(file: Pick<SqlFile, 'sql'>): SourceTableName[] | undefined {
  const code = sqlCode(file.sql);
  const relations = new Set([...code.matchAll(/\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)/gi)].map((m) => m[1].toLowerCase()));
  const sources = SOURCE_TABLE_NAMES.filter((t) => relations.has(`batch_${t}`));
  const other = [...relations].filter((r) => !sources.some((t) => r === `batch_${t}`));
  // Any other relation (current_, previous_, a dimension, a WITH entry) keeps the batch-by-batch path.
  return sources.length && other.length === 0 && !/\b(current_|previous_|dim_|fact_|raw_)[a-z_]+/i.test(code) ? sources : undefined;
}

const sqlCode = (sql: string): string =>
  sql
    .split(/\r?\n/)
    .filter((line) => !/^\s*--/.test(line))
    .join('\n');

/**
 * Several batches in one statement: the file once per batch, each reading only that batch's rows of
 * `raw_<table>` (and only its accepted ones, as its run did), tagged with the batch, UNION ALL; written
 * as one Hive partition per batch (`…/from=<first>/batch_id=<batch>/`), each row's `_batch_id` its batch's.
 */
async function rebuildGroup(ctx: PipelineContext, file: SqlFile, group: TransformManifest[], sources: SourceTableName[]): Promise<RebuiltBatch[]> {
  const raw: Partial<Record<SourceTableName, string[]>> = Object.fromEntries(sources.map((t) => [t, [] as string[]]));
  const selects: string[] = [];
  for (const manifest of group) {
    const extract = await readExtractManifest(ctx.ingestion, manifest.seq);
    if (extract.batchId !== manifest.batchId) throw new Error(`Extract manifest ${manifest.seq} is of batch ${extract.batchId}, transform manifest ${manifest.seq} of ${manifest.batchId}: the manifest logs disagree`);
    const rejected = new Set((manifest.rejected ?? []).map((r) => r.table));
    let sql = sqlCode(file.sql);
    for (const table of sources) {
      raw[table]!.push(...(extract.tables[table]?.files.map((f) => f.key) ?? []));
      const accept = rejected.has(table) ? acceptPredicate(SOURCE_TABLES.find((t) => t.name === table)!) : undefined;
      const rows = `SELECT * FROM raw_${table} WHERE ${quoteIdent(BATCH_ID_COLUMN)} = ${stringLiteral(manifest.batchId)}${accept ? ` AND ${accept}` : ''}`;
      sql = sql.replace(new RegExp(`\\b(FROM|JOIN)\\s+batch_${table}\\b`, 'gi'), `$1 (${rows}) AS batch_${table}`);
    }
    const id = stringLiteral(manifest.batchId);
    selects.push(`SELECT rebuilt.*, CAST(${id} AS varchar) AS ${quoteIdent(BATCH_ID_COLUMN)}, CAST(${id} AS varchar) AS batch_id FROM (\n${sql}\n) AS rebuilt`);
  }
  const first = group[0].batchId;
  const target: WriteTarget = {
    table: file.table.name,
    prefix: backfillGroupPrefix(file.table.name, file.sqlHash, first),
    columns: [...file.table.columns.map((c) => ({ name: c.name, trinoType: lakeTrinoType(c.type) })), { name: BATCH_ID_COLUMN, trinoType: 'varchar' }, { name: 'batch_id', trinoType: 'varchar' }],
    batchId: first,
    sqlHash: file.sqlHash,
    origin: file.origin,
    partitionedBy: ['batch_id'],
  };
  const stats = await ctx.engine.write(selects.join('\nUNION ALL\n'), { batch: {}, current: {}, star: {}, raw }, target);
  const prefixes = group.map((manifest) => backfillFactPrefix(file.table.name, file.sqlHash, first, manifest.batchId));
  // Rows per batch, read back from what was written (a batch without rows has no folder).
  const written = prefixes.filter((prefix) => stats.files.some((f) => storeKey(ctx, f).startsWith(prefix)));
  const counts = new Map<string, number>();
  if (written.length) {
    const rows = await ctx.engine.query(`SELECT ${quoteIdent(BATCH_ID_COLUMN)} AS b, count(*) AS n FROM ${file.table.name} GROUP BY ${quoteIdent(BATCH_ID_COLUMN)}`, {
      batch: {},
      current: {},
      star: { [file.table.name]: written },
    });
    for (const row of rows) counts.set(String(row.b), Number(row.n));
  }
  return group.map((manifest, i) => ({
    seq: manifest.seq,
    batchId: manifest.batchId,
    prefix: prefixes[i],
    files: stats.files.filter((f) => storeKey(ctx, f).startsWith(prefixes[i])),
    rows: counts.get(manifest.batchId) ?? 0,
    before: manifest.star[file.table.name]?.rows ?? 0,
    tested: false,
  }));
}

/** One batch through the SQL file with the relations its batch run had; written beside its partition. */
async function rebuildBatch(ctx: PipelineContext, file: SqlFile, manifest: TransformManifest, previous: TransformManifest | undefined): Promise<RebuiltBatch> {
  const extract = await readExtractManifest(ctx.ingestion, manifest.seq);
  if (extract.batchId !== manifest.batchId) throw new Error(`Extract manifest ${manifest.seq} is of batch ${extract.batchId}, transform manifest ${manifest.seq} of ${manifest.batchId}: the manifest logs disagree`);
  const batch: Partial<Record<SourceTableName, string[]>> = {};
  for (const [table, entry] of Object.entries(extract.tables)) batch[table as SourceTableName] = entry?.files.map((f) => f.key) ?? [];
  const previousDimDate = previous?.star.dim_date?.prefix;
  const bindings: RelationBindings = { batch, current: currentLocations(manifest), star: { dim_date: previousDimDate ? [previousDimDate] : [] } };
  const acceptOnly = [...new Set((manifest.rejected ?? []).map((r) => r.table))];
  const target: WriteTarget = {
    table: file.table.name,
    prefix: backfillFactPrefix(file.table.name, file.sqlHash, manifest.batchId, manifest.batchId),
    columns: file.table.columns.map((c) => ({ name: c.name, trinoType: lakeTrinoType(c.type) })),
    batchId: manifest.batchId,
    sqlHash: file.sqlHash,
    origin: file.origin,
  };
  const stats = await ctx.engine.write(readAcceptedOnly(file.sql, acceptOnly), bindings, target);
  return { seq: manifest.seq, batchId: manifest.batchId, prefix: target.prefix, files: stats.files, rows: stats.rows, before: manifest.star[file.table.name]?.rows ?? 0, tested: false };
}

/** Step 2: the fact's data tests on each rebuilt batch not tested yet, against the newest published dimensions. */
async function testRebuilt(ctx: PipelineContext, file: SqlFile, progress: BackfillProgress, step: (what: string, fields?: Record<string, unknown>) => Promise<void>): Promise<void> {
  const untested = progress.batches.filter((b) => !b.tested);
  if (!untested.length) return;
  const newest = await latestTransformManifest(ctx.processed);
  if (!newest) throw new Error('Nothing to test the rebuilt batches against: no batch has been transformed yet');
  const dimensions = STAR_TABLES.filter((t: StarTable) => t.kind === 'dimension').map((t) => t.name);
  for (const [i, rebuilt] of untested.entries()) {
    const extract = await readExtractManifest(ctx.ingestion, rebuilt.seq);
    const manifest = await readTransformManifest(ctx.processed, rebuilt.seq);
    const staged = Object.fromEntries(dimensions.map((d) => [d, newest.star[d]!]).filter(([, o]) => o)) as Parameters<typeof runDataTests>[2];
    staged[file.table.name as StarTableName] = { kind: 'fact', prefix: rebuilt.prefix, files: rebuilt.files, rows: rebuilt.rows, origin: file.origin, sqlHash: file.sqlHash, bytesScanned: 0, elapsedMs: 0 };
    const acceptOnly = [...new Set((manifest.rejected ?? []).map((r) => r.table))];
    const failed = (await runDataTests(ctx, extract, staged, acceptOnly, dimensions)).filter((t) => !t.passed);
    if (rebuilt.rows !== rebuilt.before) failed.push({ name: 'row_count(= the batch partition it replaces)', table: file.table.name, passed: false, failures: Math.abs(rebuilt.rows - rebuilt.before), sample: [] });
    if (failed.length) {
      throw new Error(
        `Backfill of ${file.table.name}: batch ${rebuilt.batchId} rebuilt with ${file.origin} fails its data tests: ${failed.map((t) => `${t.name} (${t.failures})`).join('; ')}. ` +
          `Nothing was published; fix the SQL file and run the backfill again (a changed file starts a new backfill)`,
      );
    }
    rebuilt.tested = true;
    await saveProgress(ctx, progress);
    await step('tested-batch', { batchId: rebuilt.batchId, done: i + 1, of: untested.length });
  }
}

/**
 * Step 4: loads what is pending (so the ledger holds every rebuilt batch), then replaces the
 * warehouse table with the rebuilt rows and, for batches transformed after the publish, their own
 * partitions (already of the new version).
 */
async function replaceWarehouse(ctx: PipelineContext, name: StarTableName, progress: BackfillProgress, step: (what: string, fields?: Record<string, unknown>) => Promise<void>): Promise<void> {
  await loadPending(ctx);
  await step('warehouse-loaded-pending');
  quoteSchema(ctx.warehouseSchema);
  const client = await openConnection(ctx.warehouse, {
    what: 'the warehouse',
    applicationName: 'totes-lake-backfill',
    hint: 'Check the URL (--warehouse-url / TOTES_WAREHOUSE_URL) and that the server is reachable; the lake is published, run the backfill again to replace the warehouse table.',
  });
  try {
    const sources = async (ledgerSeq: number): Promise<ReplacementSource[]> => {
      const out: ReplacementSource[] = progress.batches.filter((b) => b.rows > 0).map((b) => ({ seq: b.seq, batchId: b.batchId, files: b.files.map((f) => storeKey(ctx, f)), rows: b.rows }));
      for (const seq of await listTransformSeqs(ctx.processed)) {
        if (seq <= progress.throughSeq! || seq > ledgerSeq) continue;
        const output = (await readTransformManifest(ctx.processed, seq)).star[name];
        if (output && output.rows > 0) out.push({ seq, batchId: (await readTransformManifest(ctx.processed, seq)).batchId, files: output.files.map((f) => storeKey(ctx, f)), rows: output.rows });
      }
      return out;
    };
    const result = await replaceFactTable(client, ctx.processed, ctx.warehouseSchema, name, progress.throughSeq!, sources, (what) => step(what));
    ctx.log.info(`Backfill: warehouse table ${ctx.warehouseSchema}.${name} replaced (${result.rows} rows, ledger at batch seq ${result.ledgerSeq})`, { ...result });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A file as an output lists it (a key or a URI) → its key in the processed store. */
function storeKey(ctx: PipelineContext, file: string): string {
  const base = ctx.processed.uri('');
  return file.startsWith(base) ? file.slice(base.length).replace(/^\/+/, '') : file;
}

export async function readProgress(ctx: Pick<PipelineContext, 'processed'>, table: string, sqlHash: string): Promise<BackfillProgress | undefined> {
  try {
    return BackfillProgress.parse(JSON.parse(await getText(ctx.processed, backfillKey(table, sqlHash))));
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw new Error(`The backfill progress ${backfillKey(table, sqlHash)} is unreadable: ${(err as Error).message}`, { cause: err });
  }
}

async function saveProgress(ctx: PipelineContext, progress: BackfillProgress): Promise<void> {
  progress.updatedAt = ctx.now().toISOString();
  await ctx.processed.put(backfillKey(progress.table, progress.sqlHash), `${JSON.stringify(progress, null, 2)}\n`, { contentType: 'application/json' });
}
