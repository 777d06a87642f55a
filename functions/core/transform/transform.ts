import { SOURCE_TABLES, type SourceTable, type SourceTableName } from '../contract/source-tables';
import { lakeTrinoType, STAR_TABLES, type StarTable, type StarTableName } from '../contract/star-tables';
import { METRICS } from '../contract/runtime-contract';
import {
  currentPrefix,
  dimensionChangesPrefix,
  dimensionPrefix,
  factBatchPrefix,
  parseCurrentPrefix,
  quarantineKey,
  TRANSFORM_MANIFEST_PREFIX,
  transformManifestKey,
} from '../lake/lake-layout';
import {
  currentLocations,
  extractBound,
  extractSeqsAfter,
  listExtractSeqs,
  listWholeManifestLog,
  manifestLogSeen,
  newestManifestSeq,
  notePublishedManifest,
  readExtractManifest,
  readTransformManifest,
} from '../lake/manifest-log';
import type { ExtractManifest, TransformManifest, TransformOutput } from '../lake/manifests';
import { extendTransformHistory } from '../lake/lake-history';
import { acquireLease } from '../lake/stage-lease';
import { ObjectExistsError } from '../ports/object-store';
import type { RelationBindings, WriteTarget } from '../ports/query-engine';
import type { PipelineContext } from '../pipeline-context';
import { DEFAULT_COMPACTION, compactionStep, type CompactionPolicy, type CompactionStep } from './current-compaction';
import { currentStateColumns, currentStateSql } from './current-state';
import { byKeySource, dimensionBindings, dimensionSegments, planByKey, planByKeyBesideDelta, writeDimensionByKey, type ByKeyPlan } from './dimension-by-key';
import { QuarantinedBatchError, runDataTests, type DataTestResult } from './data-tests';
import { describeRejected, findRejectedVersions, markSuperseded, readAcceptedOnly, type RejectedVersion } from './input-checks';
import { loadSqlFiles, sha256, type SqlFile } from './sql-files';
import { stripOuter } from '../sql/sql-text';
import { sqlWords } from '../sql/relations';
import { checkModelVersions, type ModelCheck } from './model-versions';
import { countQueries, QueryTally } from './query-tally';
import { concurrently } from './concurrently';
import { compactFacts } from './fact-compaction';

/**
 * The transform stage: turns each published extract batch into the star schema.
 *
 * Batches transform strictly in sequence: batch N merges into the current state batch N-1 left,
 * so it waits until N-1's transform manifest exists; a gap or a failure stops the run and later
 * batches wait for the next one. A run goes plan → read → write:
 *  - plan ({@link planTransform}, {@link readBatchInputs}): the pending batches, and per batch its
 *    extract manifest and the previous transform manifest, which must agree; a lease
 *    (stage-lease.ts) keeps two runs from working on one batch at once;
 *  - read and stage ({@link stageBatch}): input checks (input-checks.ts) and, at once, for each
 *    source table with rows in the batch, its versions as a delta of the current state, or base,
 *    deltas and batch compacted into a new base (current-compaction.ts), at `current/<table>/<batch>/`,
 *    with the facts as staged partitions (they read only the batch) and the change set of a by-key
 *    dimension fed by a delta (the previous version with the delta's keys replaced, built from the
 *    delta's own SELECT: dimension-by-key.ts); then the other `sql/transform/*.sql` files — dimensions
 *    rebuilt whole into a fresh location; then the data tests (data-tests.ts). Nothing is visible to
 *    readers yet; a failure quarantines the batch;
 *  - write ({@link publishBatch}): repoint the compacted current tables and the dimensions, add the
 *    fact partitions, then the transform manifest, last, with If-None-Match: the batch is
 *    transformed once it exists, and the load starts from it.
 *
 * Boundary rules. Reads: the extract's outputs only through its manifests (the batch's raw files
 * and deletions as extract manifest N lists them; later manifests for the input checks), and its
 * own outputs through its own manifest N-1 — never the catalog, never a listing of either layout.
 * Writes: the processed store's `current/`, `star/`, `changes/`, `quarantine/`, `leases/` and its
 * manifests, and the catalog. What the load needs of the extract (deletions, the bound freshness is
 * measured from) it copies into its manifest, so the load reads no extract manifest.
 * Every output location is a function of (table, batch), so re-running a batch whose manifest is
 * missing rewrites the same prefixes and publishes the same locations again: it is safe.
 */

export interface TransformResult {
  seq: number;
  batchId: string;
  manifestKey: string;
  manifest: TransformManifest;
}

/** How long a transform run holds a batch before another may take it over (a Lambda runs 15 minutes at most). */
const LEASE_TTL_MS = 16 * 60_000;

/** Transforms every extracted batch that has no transform manifest yet, in order. */
export async function transformPending(ctx: PipelineContext): Promise<TransformResult[]> {
  const results = await transformBatches(ctx);
  const last = results.at(-1);
  await compactFactsLogged(ctx, last ? { seq: last.seq, batchId: last.batchId } : undefined);
  return results;
}

/**
 * After the batches, the facts' compaction into their month layout, when due (fact-compaction.ts).
 * It changes what readers see only by one catalog step, and the load does not depend on it, so a
 * failure is reported (the lake stays as it was; the next run plans it again) and the batches just
 * transformed still go on to the load.
 */
async function compactFactsLogged(ctx: PipelineContext, published: { seq: number; batchId: string } | undefined): Promise<void> {
  try {
    await compactFacts(ctx, published ? { published } : {});
  } catch (err) {
    ctx.log.error(`Fact compaction failed, nothing of it was published and the facts read as before; the next transform run tries again: ${(err as Error).message}`, { error: (err as Error).message });
  }
}

async function transformBatches(ctx: PipelineContext): Promise<TransformResult[]> {
  const { pending, transformed } = await planTransform(ctx);
  if (!pending.length) return [];
  const sqlFiles = await loadSqlFiles(ctx.sqlRoot);
  const results: TransformResult[] = [];
  for (const seq of pending) {
    if (seq > 1 && !transformed.has(seq - 1)) {
      ctx.log.warn(
        `Transform: batch ${seq} waits, batch ${seq - 1} has no transform manifest (its extract manifest is missing or its transform has not succeeded); later batches wait too`,
        { seq, waitingFor: seq - 1 },
      );
      break;
    }
    const { extract, previous } = await readBatchInputs(ctx, seq);
    const outcome = await transformLeased(ctx, extract, previous, sqlFiles);
    if (outcome === 'busy') break;
    transformed.add(seq);
    if (outcome !== 'done-elsewhere') results.push({ seq, batchId: extract.batchId, manifestKey: transformManifestKey(seq), manifest: outcome });
  }
  return results;
}

/**
 * Plan: the pending batches are the extracted ones not transformed (reads the manifest logs,
 * nothing else). A process's first plan lists both logs whole, so a batch whose transform
 * manifest is missing anywhere (deleted by hand to be transformed again) is found. Later plans of
 * the same process (`totes run --every`, a warm Lambda) start from the newest transform manifest
 * and ask for the extract manifests after it by name (manifest-log.ts `newestManifestSeq`,
 * `manifestSeqsAfter`; until a batch is transformed, the extract log is listed whole): batches transform
 * in seq order, each waiting for its predecessor's manifest, so the ones below are transformed
 * unless removed by hand since, which the next process's first plan finds. So a run costs the
 * batches since, not the lake's age.
 */
async function planTransform(ctx: PipelineContext): Promise<{ pending: number[]; transformed: Set<number> }> {
  if (!manifestLogSeen(ctx.processed, TRANSFORM_MANIFEST_PREFIX)) {
    const transformed = new Set(await listWholeManifestLog(ctx.processed, TRANSFORM_MANIFEST_PREFIX));
    const extracted = await listExtractSeqs(ctx.ingestion);
    const pending = extracted.filter((seq) => !transformed.has(seq));
    if (!pending.length) ctx.log.info('Transform: no extracted batch is waiting', { lastExtracted: extracted.at(-1) ?? null });
    return { pending, transformed };
  }
  const lastTransformed = await newestManifestSeq(ctx.processed, TRANSFORM_MANIFEST_PREFIX);
  const pending = lastTransformed === undefined ? await listExtractSeqs(ctx.ingestion) : await extractSeqsAfter(ctx.ingestion, lastTransformed);
  if (!pending.length) ctx.log.info('Transform: no extracted batch is waiting', { lastExtracted: lastTransformed ?? null });
  return { pending, transformed: new Set(lastTransformed === undefined ? [] : [lastTransformed]) };
}

/** Reads extract manifest `seq` and transform manifest `seq - 1`, and checks that the two logs agree. */
export async function readBatchInputs(ctx: Pick<PipelineContext, 'ingestion' | 'processed'>, seq: number): Promise<{ extract: ExtractManifest; previous: TransformManifest | undefined }> {
  const extract = await readExtractManifest(ctx.ingestion, seq);
  const previous = seq > 1 ? await readTransformManifest(ctx.processed, seq - 1) : undefined;
  if (previous && extract.previousBatchId !== previous.batchId) {
    throw new Error(
      `Extract manifest ${seq} (batch ${extract.batchId}) follows batch ${extract.previousBatchId ?? 'none'}, but transform manifest ${seq - 1} is of batch ${previous.batchId}; the manifest logs disagree and must be repaired by hand`,
    );
  }
  return { extract, previous };
}

/**
 * Transforms one batch under its lease (`leases/transform/<seq>/`): `busy` when another run holds
 * it, `done-elsewhere` when another run published it meanwhile, else the published manifest.
 */
async function transformLeased(
  ctx: PipelineContext,
  extract: ExtractManifest,
  previous: TransformManifest | undefined,
  sqlFiles: readonly SqlFile[],
): Promise<TransformManifest | 'busy' | 'done-elsewhere'> {
  const { seq } = extract;
  const outcome = await acquireLease(ctx.processed, 'transform', seq, { ttlMs: LEASE_TTL_MS, now: ctx.now });
  if ('busy' in outcome) {
    ctx.log.info(`Transform: batch ${extract.batchId} is being transformed by another run (${outcome.busy.holder.host} pid ${outcome.busy.holder.pid}, until ${outcome.busy.expiresAt}); leaving it to that run`, { seq });
    return 'busy';
  }
  try {
    // Another run finished this batch between our listing and our lease: nothing to do.
    if (await ctx.processed.exists(transformManifestKey(seq))) return 'done-elsewhere';
    return await transformBatch(ctx, extract, previous, sqlFiles);
  } catch (err) {
    ctx.log.error(`Transform of batch ${extract.batchId} failed; it and later batches wait for the next run`, { seq, batchId: extract.batchId, error: (err as Error).message });
    throw new Error(
      `Transform of batch ${extract.batchId} (seq ${seq}) failed: ${(err as Error).message.replace(/\.$/, '')}. Nothing after it was transformed; fix the cause and run the transform again (re-running a batch is safe).`,
      { cause: err },
    );
  } finally {
    // Done or failed, the batch is free again: a retry need not wait for the lease to expire.
    await outcome.lease.release().catch(() => undefined);
  }
}

/**
 * Transforms one batch whose predecessor is transformed; returns its (published) manifest. Input
 * checks and staging (at once), data tests, publish: any failure before the publish quarantines the batch.
 */
export async function transformBatch(
  batchCtx: PipelineContext,
  extract: ExtractManifest,
  previous: TransformManifest | undefined,
  sqlFiles: readonly SqlFile[],
): Promise<TransformManifest> {
  const startedAt = batchCtx.now();
  // Every statement of this batch goes through one counting engine (query-tally.ts): its manifest records them.
  const tally = new QueryTally(batchCtx.engine.measuresScan === true);
  const ctx: PipelineContext = { ...batchCtx, engine: countQueries(batchCtx.engine, tally) };
  // A fact whose SQL file changed is not extended with rows of the new version (model-versions.ts).
  const models = await checkModelVersions(ctx, extract, previous, sqlFiles);
  if (models.waiting) throw await quarantine(ctx, extract, models.waiting, []);
  // The input check and the staging run at once (issue 14: a step fewer on the critical path, on
  // Athena a round trip of a second or more). Staging assumes the batch's input is clean, as it
  // almost always is; when the check rejects versions, what was staged is dropped and the batch is
  // staged again without them, over the same batch locations. Nothing staged is published before
  // the data tests pass, either way, and nothing is still writing when the check quarantines.
  const assumingClean = settled(stageBatch(ctx, extract, previous, sqlFiles, [], models));
  const rejected = await checkInputs(ctx, extract).catch(async (err: unknown) => {
    await assumingClean;
    throw err;
  });
  const acceptOnly = [...new Set(rejected.map((r) => r.table))];
  let staged: StagedBatch;
  try {
    const clean = await assumingClean;
    if (acceptOnly.length) staged = await stageBatch(ctx, extract, previous, sqlFiles, acceptOnly, models);
    else if (clean.ok) staged = clean.value;
    else throw clean.error;
  } catch (err) {
    if (err instanceof QuarantinedBatchError) throw err;
    // A batch that cannot be built (bad input the SQL rejects, an engine that keeps failing) is
    // quarantined too: nothing of it was published; the reason is kept beside the store's manifests.
    throw await quarantine(ctx, extract, `its star tables could not be built: ${(err as Error).message}`, []);
  }
  // The keys a by-key dimension's change set adds are counted in the data tests' query (dimension-by-key.ts).
  const newKeys = new Map<StarTableName, number>();
  const tests = await runDataTests(ctx, extract, staged.star, acceptOnly, [...staged.carried, ...staged.unwritten], newKeys);
  const failed = tests.filter((t) => !t.passed);
  if (failed.length) {
    throw await quarantine(ctx, extract, `data tests failed on the staged star tables: ${failed.map((t) => `${t.table} ${t.name} (${t.failures})`).join('; ')}`, tests);
  }
  for (const [name, added] of newKeys) staged.star[name] = { ...staged.star[name], rows: staged.star[name].rows + added };
  return publishBatch(ctx, extract, previous, staged, sqlFiles, startedAt, tests, rejected, models, tally);
}

/** `running`'s outcome, never rejected: the caller decides when a failure matters. */
async function settled<T>(running: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await running };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * Input checks (input-checks.ts; reads the batch's raw files and later extract manifests): a
 * version the star cannot hold blocks the batch (quarantine) until a later batch supersedes it (the
 * row fixed or deleted in totesys); then the batch is built without it. Returns the rejected versions.
 */
async function checkInputs(ctx: PipelineContext, extract: ExtractManifest): Promise<RejectedVersion[]> {
  const rejected = await findRejectedVersions(ctx, extract);
  if (!rejected.length) return rejected;
  await markSuperseded(ctx, extract, rejected);
  const open = rejected.filter((r) => !r.supersededBy);
  if (open.length) {
    throw await quarantine(
      ctx,
      extract,
      `${open.length} row version(s) break the input contract: ${open.slice(0, 5).map(describeRejected).join('; ')}${open.length > 5 ? '; …' : ''}. ` +
        'Fix the row(s) in totesys: once a later batch holds their next version, this batch is built without the rejected ones',
      [],
      rejected,
    );
  }
  ctx.log.warn(
    `Transform: batch ${extract.batchId} is built without ${rejected.length} rejected value(s) that later batches superseded: ${rejected.map(describeRejected).join('; ')}`,
    { batchId: extract.batchId, rejected },
  );
  return rejected;
}

/** The current state of every source table after a batch (its manifest's `current`, `currentOutputs`, `currentDeltas`). */
export interface StagedCurrent {
  current: Record<SourceTableName, string>;
  currentOutputs: Record<SourceTableName, TransformOutput>;
  currentDeltas: Partial<Record<SourceTableName, TransformOutput[]>>;
  /** Source tables with rows in this batch. */
  changed: SourceTableName[];
  /** Current states this batch compacted into a new base (published to the catalog). */
  compacted: SourceTableName[];
}

/** What staging a batch uses of the context: the engine runs every statement (compile.ts gives one that renders them). */
export type StageContext = Pick<PipelineContext, 'engine' | 'log' | 'compaction'>;

/** The compaction policy a batch's staging follows: the product's, with the context's overrides. */
function compactionPolicy(ctx: Pick<StageContext, 'compaction'>): CompactionPolicy {
  return { ...DEFAULT_COMPACTION, ...ctx.compaction };
}

export interface StagedBatch extends StagedCurrent {
  star: Record<StarTableName, TransformOutput>;
  /** Dimensions carried forward unchanged from the previous batch (not rebuilt, not republished). */
  carried: StarTableName[];
  /** Facts without versions in this batch: not written, no partition, nothing to test or load. */
  unwritten: StarTableName[];
}

/**
 * Current state and star tables written to their batch locations; nothing published. Every write
 * and query goes through `ctx.engine`, so `totes compile` (compile.ts) runs this very function with
 * an engine that renders instead of running.
 */
export async function stageBatch(
  ctx: StageContext,
  extract: ExtractManifest,
  previous: TransformManifest | undefined,
  sqlFiles: readonly SqlFile[],
  acceptOnly: readonly SourceTableName[] = [],
  models: Pick<ModelCheck, 'published'> = { published: {} },
): Promise<StagedBatch> {
  const batchFiles: Partial<Record<SourceTableName, string[]>> = {};
  for (const table of SOURCE_TABLES) batchFiles[table.name] = extract.tables[table.name]?.files.map((f) => f.key) ?? [];
  // Everything decided before anything is sent: a decision that throws leaves nothing running.
  const plans = currentStatePlans(ctx, extract, previous);
  const byKeyBeside = planByKeyChanges(ctx, extract.batchId, previous, sqlFiles, batchFiles, plans);
  const counts = countGrowingTables(ctx, extract, previous, sqlFiles, batchFiles, acceptOnly);
  const staging = stageCurrentStates(ctx, extract, plans, batchFiles, acceptOnly);
  // Star tables that need not wait for the current state, sent beside it.
  const early = new Map([...stageFacts(ctx, extract, sqlFiles, batchFiles, acceptOnly, models), ...stageByKeyChanges(ctx, extract.batchId, sqlFiles, batchFiles, byKeyBeside, acceptOnly)]);
  let current: StagedCurrent;
  try {
    current = await staging;
  } catch (err) {
    await Promise.allSettled([...counts.values(), ...early.values()]);
    throw err;
  }
  const star = await stageStarTables(ctx, extract.batchId, previous, sqlFiles, batchFiles, current, acceptOnly, models, counts, early);
  if (!previous || current.changed.includes('currency')) await reportUnknownCurrencies(ctx, star.star.dim_currency.prefix, extract.batchId);
  return { ...current, ...star };
}

/**
 * The row counts that decide whether a dimension that only grows (dim_date) is carried forward
 * (stageStarTables), sent now, beside the current-state writes. Such a dimension's SQL reads the batch
 * and its own previous version, never the current state, so its count need not wait for the current
 * state: a batch that grows the calendar builds it one level earlier (issue 14; on Athena a level is
 * a second or more), and one that does not sends the count a level earlier too. A count is sent only
 * where stageStarTables would ask for it: a source of the dimension has rows in the batch (the
 * tables stageCurrentStates reports changed) and its previous version was built by the same SQL.
 * Never for an SQL file that names a current state: the star wave counts that one, as before.
 */
function countGrowingTables(
  ctx: StageContext,
  extract: ExtractManifest,
  previous: TransformManifest | undefined,
  sqlFiles: readonly SqlFile[],
  batchFiles: Partial<Record<SourceTableName, string[]>>,
  acceptOnly: readonly SourceTableName[],
): Map<StarTableName, Promise<number>> {
  const counts = new Map<StarTableName, Promise<number>>();
  for (const file of sqlFiles) {
    const kept = previous?.star[file.table.name];
    const changed = file.table.sources.some((s) => (extract.tables[s as SourceTableName]?.rows ?? 0) > 0);
    if (!file.table.growsOnly || !changed || !kept || kept.sqlHash !== file.sqlHash || READS_CURRENT_STATE.test(file.sql)) continue;
    const counting = countRows(ctx, file, { batch: batchFiles, current: {}, star: previousCalendar(previous) }, acceptOnly);
    // Observed now, awaited later (stageStarTables): a failure is its caller's, not an unhandled rejection.
    counting.catch(() => undefined);
    counts.set(file.table.name, counting);
  }
  return counts;
}

/** A star table as the star wave built it: written, carried forward (a dimension), or not written (a fact without versions). */
interface BuiltStarTable {
  output: TransformOutput;
  fate: 'carried' | 'unwritten' | 'written';
}

/**
 * The batch's fact partitions, sent now, beside the current-state writes. A fact's SQL reads only
 * its batch's rows (`batch_<source>`; sql-files.test.ts), never the current state nor another star
 * table, so it need not wait for the current state: the facts no longer share the star wave with
 * the dimensions, whose SQL reads the new current state. On DuckDB the first wave's statements
 * (current-state deltas, the input check, the calendar's count, the facts) then share both cores
 * from the start; on Athena a batch in which no dimension changes takes a level fewer (the facts
 * and the current state, then the tests). An SQL file that names a current state or a star table
 * (a fact's SQL changed to join one) waits for the star wave, as a dimension does.
 */
function stageFacts(
  ctx: StageContext,
  extract: ExtractManifest,
  sqlFiles: readonly SqlFile[],
  batchFiles: Partial<Record<SourceTableName, string[]>>,
  acceptOnly: readonly SourceTableName[],
  models: Pick<ModelCheck, 'published'>,
): Map<StarTableName, Promise<BuiltStarTable>> {
  const facts = new Map<StarTableName, Promise<BuiltStarTable>>();
  const bindings: RelationBindings = { batch: batchFiles, current: {}, star: {} };
  for (const [index, file] of sqlFiles.entries()) {
    if (file.table.kind !== 'fact' || READS_CURRENT_STATE.test(file.sql) || readsStarTable(file)) continue;
    const changed = file.table.sources.some((s) => (extract.tables[s as SourceTableName]?.rows ?? 0) > 0);
    const building = buildFact(ctx, file, index, sqlFiles.length, extract.batchId, bindings, changed, acceptOnly, models);
    // Observed now, awaited later (stageStarTables): a failure is its caller's, not an unhandled rejection.
    building.catch(() => undefined);
    facts.set(file.table.name, building);
  }
  return facts;
}

/**
 * One fact of the batch: its partition written from the batch's rows, or, when none of its sources
 * has rows in the batch, nothing. A fact SQL file maps each source version to at most one row
 * (sql-files.test.ts), so there are no new versions to write — on Athena one CTAS fewer per fact and
 * batch — no partition to publish, nothing to load. Such a fact carries the version of its
 * published rows forward (model-versions.ts), not the file's.
 */
async function buildFact(
  ctx: StageContext,
  file: SqlFile,
  index: number,
  of: number,
  batchId: string,
  bindings: RelationBindings,
  changed: boolean,
  acceptOnly: readonly SourceTableName[],
  models: Pick<ModelCheck, 'published'>,
): Promise<BuiltStarTable> {
  const { table } = file;
  if (!changed) {
    const sqlHash = models.published[table.name] ?? file.sqlHash;
    return { output: { kind: 'fact', prefix: factBatchPrefix(table.name, batchId), origin: file.origin, sqlHash, rows: 0, files: [], bytesScanned: 0, elapsedMs: 0 }, fate: 'unwritten' };
  }
  ctx.log.progress('transform', { batchId, step: table.name, file: index + 1, of });
  const output = await writeStarTable(ctx, file, batchId, bindings, undefined, undefined, acceptOnly, compactionPolicy(ctx));
  ctx.log.metric(METRICS.rows, output.rows, 'Count', { table: table.name, stage: 'transform' });
  return { output, fate: 'written' };
}

/** A by-key dimension whose change set is built beside its source's delta ({@link planByKeyChanges}). */
interface ByKeyBeside {
  file: SqlFile;
  index: number;
  kept: TransformOutput;
  byKey: ByKeyPlan;
}

/**
 * The by-key dimensions whose change set is built beside their source's delta, sent with the
 * current-state writes (dimension-by-key.ts `planByKeyBesideDelta`): such a change set is the
 * dimension's SQL over the batch's latest versions of its source, the delta's own SELECT, so it need
 * not wait for the delta to be written. A five-minute batch's `dim_transaction` change set was the
 * only statement of its star wave: on Athena a level of a second or more. A dimension due for
 * compaction, or whose source compacts, is rebuilt whole in the star wave, as before; as is one that
 * only grows (its count decides first whether it is carried), and one whose SQL file names any
 * relation but its source's current state (`current_<source>` is defined in the statement, over
 * `batch_<source>`, which the file itself must not read).
 */
function planByKeyChanges(
  ctx: StageContext,
  batchId: string,
  previous: TransformManifest | undefined,
  sqlFiles: readonly SqlFile[],
  batchFiles: Partial<Record<SourceTableName, string[]>>,
  plans: readonly CurrentStatePlan[],
): ByKeyBeside[] {
  const policy = compactionPolicy(ctx);
  const beside: ByKeyBeside[] = [];
  for (const [index, file] of sqlFiles.entries()) {
    if (file.table.kind !== 'dimension' || !file.table.byKey || file.table.growsOnly || readsStarTable(file)) continue;
    const source = byKeySource(file.table)!;
    if ([...sqlWords(file.sql)].some((w) => /^(current|batch|previous|raw)_/.test(w) && w !== `current_${source}`)) continue;
    const kept = previous?.star[file.table.name];
    const step = plans.find((p) => p.table.name === source)?.step ?? 'keep';
    const byKey = planByKeyBesideDelta(file, kept, step, batchFiles[source] ?? [], batchId, policy);
    if (byKey) beside.push({ file, index, kept: kept!, byKey });
  }
  return beside;
}

/** Sends the change sets {@link planByKeyChanges} chose, each observed now and awaited in the star wave. */
function stageByKeyChanges(
  ctx: StageContext,
  batchId: string,
  sqlFiles: readonly SqlFile[],
  batchFiles: Partial<Record<SourceTableName, string[]>>,
  beside: readonly ByKeyBeside[],
  acceptOnly: readonly SourceTableName[],
): Map<StarTableName, Promise<BuiltStarTable>> {
  const early = new Map<StarTableName, Promise<BuiltStarTable>>();
  const policy = compactionPolicy(ctx);
  for (const { file, index, kept, byKey } of beside) {
    const building = (async (): Promise<BuiltStarTable> => {
      ctx.log.progress('transform', { batchId, step: `${file.table.name} (by key)`, file: index + 1, of: sqlFiles.length });
      const output = await writeStarTable(ctx, file, batchId, { batch: batchFiles, current: {}, star: {} }, kept, byKey, acceptOnly, policy);
      ctx.log.metric(METRICS.rows, output.rows, 'Count', { table: file.table.name, stage: 'transform' });
      return { output, fate: 'written' };
    })();
    // Observed now, awaited later (stageStarTables): a failure is its caller's, not an unhandled rejection.
    building.catch(() => undefined);
    early.set(file.table.name, building);
  }
  return early;
}

/** The star tables the star wave binds besides the current state: the calendar the batch extends. */
function previousCalendar(previous: TransformManifest | undefined): RelationBindings['star'] {
  const prefix = previous?.star.dim_date?.prefix;
  return { dim_date: prefix ? [prefix] : [] };
}

/** An SQL file that reads a current state (`current_<table>`). */
const READS_CURRENT_STATE = new RegExp(`\\bcurrent_(${SOURCE_TABLES.map((t) => t.name).join('|')})\\b`, 'i');

/** Whether an SQL file names a star table other than its own (as core/sql/relations.ts `mentionedRelations` binds). */
const readsStarTable = (file: SqlFile): boolean => {
  const words = sqlWords(file.sql);
  return STAR_TABLES.some((t) => t.name !== file.table.name && words.has(t.name));
};

/** What a batch does to one table's current state (current-compaction.ts), and from what. */
interface CurrentStatePlan {
  table: SourceTable;
  /** The previous batch's state: its base's location and output, its deltas. */
  before: string | undefined;
  base: TransformOutput | undefined;
  deltas: TransformOutput[];
  /** The table's rows in this batch. */
  rows: number;
  step: CompactionStep;
}

/** Each table's step in this batch, from the previous manifest and the batch alone (a re-run decides the same). */
function currentStatePlans(ctx: StageContext, extract: ExtractManifest, previous: TransformManifest | undefined): CurrentStatePlan[] {
  const policy = compactionPolicy(ctx);
  return SOURCE_TABLES.map((table) => {
    const before = previous?.current[table.name];
    const base = before === undefined ? undefined : previous?.currentOutputs[table.name];
    const deltas = previous?.currentDeltas?.[table.name] ?? [];
    const rows = extract.tables[table.name]?.rows ?? 0;
    return { table, before, base, deltas, rows, step: compactionStep(policy, { base, deltas }, { batchId: extract.batchId, rows }) };
  });
}

/**
 * The current state, per table: kept as it is, a delta with this batch's versions, or compacted
 * (base, deltas and batch merged into a new base) — current-compaction.ts decides. Reads the batch's
 * raw files and the previous state (as transform manifest N-1 lists it); writes `current/<table>/<batch>/`.
 */
async function stageCurrentStates(
  ctx: StageContext,
  extract: ExtractManifest,
  plans: readonly CurrentStatePlan[],
  batchFiles: Partial<Record<SourceTableName, string[]>>,
  acceptOnly: readonly SourceTableName[],
): Promise<StagedCurrent> {
  const { batchId } = extract;
  const staged: StagedCurrent = { current: {} as StagedCurrent['current'], currentOutputs: {} as StagedCurrent['currentOutputs'], currentDeltas: {}, changed: [], compacted: [] };
  // Each table's state reads only its own batch files and previous state: all are written at once (concurrently.ts).
  const outputs = await concurrently(plans, async ({ table, before, deltas, step }) => {
    if (step === 'keep') return undefined;
    const previousState = step === 'compact' && before !== undefined ? [before, ...deltas.map((d) => d.prefix)] : undefined;
    ctx.log.progress('transform', { batchId, step: `current_${table.name}${step === 'delta' ? ' (delta)' : ''}` });
    return writeCurrentState(ctx, table, batchId, batchFiles[table.name] ?? [], previousState, acceptOnly);
  });
  for (const [i, { table, before, base, deltas, rows, step }] of plans.entries()) {
    const output = outputs[i];
    if (step === 'keep' || !output) {
      staged.current[table.name] = before!;
      staged.currentOutputs[table.name] = base!;
      if (deltas.length) staged.currentDeltas[table.name] = deltas;
      continue;
    }
    if (step === 'delta') {
      staged.current[table.name] = before!;
      staged.currentOutputs[table.name] = base!;
      staged.currentDeltas[table.name] = [...deltas, output];
    } else {
      staged.current[table.name] = output.prefix;
      staged.currentOutputs[table.name] = output;
      staged.compacted.push(table.name);
    }
    if (rows > 0) staged.changed.push(table.name);
  }
  return staged;
}

/** Writes one table's latest versions of this batch (a delta), or merged with `previousState` (a new base). */
async function writeCurrentState(
  ctx: StageContext,
  table: SourceTable,
  batchId: string,
  files: string[],
  previousState: string[] | undefined,
  acceptOnly: readonly SourceTableName[],
): Promise<TransformOutput> {
  const sql = readAcceptedOnly(currentStateSql(table, { hasPrevious: previousState !== undefined }), acceptOnly);
  const target: WriteTarget = {
    table: `current_${table.name}`,
    prefix: currentPrefix(table.name, batchId),
    columns: currentStateColumns(table),
    batchId,
    sqlHash: sha256(sql),
    origin: 'generated',
  };
  const bindings: RelationBindings = { batch: { [table.name]: files }, current: {}, previous: previousState ? { [table.name]: previousState } : {}, star: {} };
  const written = await ctx.engine.write(sql, bindings, target);
  return { kind: 'current', prefix: target.prefix, origin: target.origin, sqlHash: target.sqlHash, rows: written.rows, bytesScanned: written.bytesScanned, elapsedMs: written.elapsedMs, files: written.files };
}

/**
 * Star tables, staged: dimensions from the new current state (base, then deltas), facts from the
 * batch's rows. dim_date extends the previous calendar (it never shrinks), so it reads the one this
 * batch replaces. Writes `star/<table>/…` and `changes/<dimension>/<batch>/`.
 */
async function stageStarTables(
  ctx: StageContext,
  batchId: string,
  previous: TransformManifest | undefined,
  sqlFiles: readonly SqlFile[],
  batchFiles: Partial<Record<SourceTableName, string[]>>,
  current: StagedCurrent,
  acceptOnly: readonly SourceTableName[],
  models: Pick<ModelCheck, 'published'>,
  /** Row counts of dimensions that only grow, already sent (countGrowingTables); the others are counted here. */
  counts: ReadonlyMap<StarTableName, Promise<number>> = new Map(),
  /** Star tables already sent beside the current state (stageFacts, stageByKeyChanges); the others are built here. */
  early: ReadonlyMap<StarTableName, Promise<BuiltStarTable>> = new Map(),
): Promise<Pick<StagedBatch, 'star' | 'carried' | 'unwritten'>> {
  const bindings: RelationBindings = { batch: batchFiles, current: currentLocations(current), star: previousCalendar(previous) };
  const staged: Pick<StagedBatch, 'star' | 'carried' | 'unwritten'> = { star: {} as StagedBatch['star'], carried: [], unwritten: [] };
  const changed = (table: StarTable): boolean => table.sources.some((s) => current.changed.includes(s as SourceTableName));
  const policy = compactionPolicy(ctx);
  // Every star table reads the batch, the new current state or its own previous version, never
  // another star table of this batch: all are built at once (concurrently.ts), each its own chain.
  const built = await concurrently(sqlFiles, async (file, index): Promise<BuiltStarTable> => {
    const { table } = file;
    const sent = early.get(table.name);
    if (sent) return sent;
    // A dimension none of whose sources changed, built by the same SQL, is the previous one: keep it
    // (on Athena that is one CTAS fewer per dimension and batch; the load skips it too).
    const kept = previous?.star[table.name];
    if (table.kind === 'dimension' && kept && kept.sqlHash === file.sqlHash && !changed(table)) {
      return { output: { ...kept, builtBy: kept.builtBy ?? previous!.batchId }, fate: 'carried' };
    }
    if (table.kind === 'fact') return buildFact(ctx, file, index, sqlFiles.length, batchId, bindings, changed(table), acceptOnly, models);
    // A dimension that only grows (dim_date): unchanged while its row count is (the calendar did not grow).
    if (table.growsOnly && kept && kept.sqlHash === file.sqlHash && (await (counts.get(table.name) ?? countRows(ctx, file, bindings, acceptOnly))) === kept.rows) {
      return { output: { ...kept, builtBy: kept.builtBy ?? previous!.batchId }, fate: 'carried' };
    }
    // A by-key dimension whose source wrote a delta: only the delta's keys change (dimension-by-key.ts).
    const byKey = table.kind === 'dimension' ? planByKey(file, kept, current.currentDeltas, batchId, policy) : undefined;
    ctx.log.progress('transform', { batchId, step: `${table.name}${byKey ? ' (by key)' : ''}`, file: index + 1, of: sqlFiles.length });
    const output = await writeStarTable(ctx, file, batchId, bindings, kept, byKey, acceptOnly, policy);
    ctx.log.metric(METRICS.rows, output.rows, 'Count', { table: table.name, stage: 'transform' });
    return { output, fate: 'written' };
  });
  for (const [i, { output, fate }] of built.entries()) {
    const name = sqlFiles[i].table.name;
    staged.star[name] = output;
    if (fate === 'carried') staged.carried.push(name);
    if (fate === 'unwritten') staged.unwritten.push(name);
  }
  return staged;
}

/** The rows a star table's SQL file would write in this batch (a count; nothing written). */
async function countRows(ctx: StageContext, file: SqlFile, bindings: RelationBindings, acceptOnly: readonly SourceTableName[]): Promise<number> {
  const rows = await ctx.engine.query(`SELECT count(*) AS n FROM (\n${readAcceptedOnly(file.sql, acceptOnly)}\n) AS built`, bindings);
  return Number(rows[0]?.n ?? -1);
}

/**
 * Writes one star table of the batch: a fact's partition, a dimension rebuilt whole (with its
 * changes beside it), or a by-key dimension whose source wrote a delta (dimension-by-key.ts).
 */
async function writeStarTable(
  ctx: StageContext,
  file: SqlFile,
  batchId: string,
  bindings: RelationBindings,
  kept: TransformOutput | undefined,
  byKey: ByKeyPlan | undefined,
  acceptOnly: readonly SourceTableName[],
  policy: CompactionPolicy,
): Promise<TransformOutput> {
  const { table } = file;
  const target: WriteTarget = {
    table: table.name,
    prefix: table.kind === 'fact' ? factBatchPrefix(table.name, batchId) : dimensionPrefix(table.name, batchId),
    // The engine appends the lineage columns (_batch_id, _sql_hash): the SQL files never produce them.
    columns: table.columns.map((c) => ({ name: c.name, trinoType: lakeTrinoType(c.type) })),
    batchId,
    sqlHash: file.sqlHash,
    origin: file.origin,
    // A dimension in key order, where the engine can: its keys' lookups skip row groups (WriteTarget.sortedBy).
    ...(table.kind === 'dimension' ? { sortedBy: table.key } : {}),
  };
  if (byKey) return writeDimensionByKey(ctx, file, target, byKey, acceptOnly);
  const select = readAcceptedOnly(file.sql, acceptOnly);
  // A small dimension rebuilt whole and its change set are written at once, the change set from the
  // same SELECT rather than from the written files (issue 14: a step fewer on the batch's critical
  // path when such a dimension changes; on Athena a round trip of a second or more). Both are
  // awaited before either failure is reported, so nothing is still writing when the batch stops.
  // A by-key dimension rebuilt whole (compacted, or its SQL changed) compares its written files
  // instead, after the rebuild: its SELECT merges a current state of millions of rows, which the
  // change set would run a second time — unless it is below the compaction policy's small base
  // (a small totesys, rebuilt whole every batch), which costs a second run nothing.
  const beside = table.kind === 'dimension' && kept !== undefined && (!byKeySource(table) || kept.rows < policy.compactBelowRows);
  const [written, changes] = await Promise.allSettled([
    ctx.engine.write(select, bindings, target),
    beside ? writeDimensionChanges(ctx, target, kept, { select, bindings }) : Promise.resolve(undefined),
  ]);
  if (written.status === 'rejected') throw written.reason;
  if (changes.status === 'rejected') throw changes.reason;
  const { rows, bytesScanned, elapsedMs, files } = written.value;
  const output: TransformOutput = { kind: table.kind, prefix: target.prefix, origin: file.origin, sqlHash: file.sqlHash, rows, bytesScanned, elapsedMs, files };
  if (changes.value) output.changes = changes.value;
  else if (table.kind === 'dimension' && kept) output.changes = await writeDimensionChanges(ctx, target, kept);
  return output;
}

/**
 * The rows of a rebuilt dimension that are new or differ from the version it replaces, written
 * beside it: the load upserts these instead of the whole dimension (a dimension that grows with
 * the orders, like dim_transaction, would otherwise be re-sent whole every five minutes). Rows
 * never leave a dimension, so upserting the difference equals upserting everything. Read from the
 * rebuilt dimension's files, or, given `from`, computed from its SELECT over the rebuild's bindings,
 * cast to the target's column types as the write stores them (the same rows), so that it runs at
 * once with the rebuild.
 */
async function writeDimensionChanges(
  ctx: StageContext,
  rebuilt: WriteTarget,
  previous: TransformOutput,
  from?: { select: string; bindings: RelationBindings },
): Promise<TransformOutput['changes']> {
  const name = rebuilt.table;
  const columns = rebuilt.columns.map((c) => c.name).join(', ');
  const built = from
    ? `SELECT ${rebuilt.columns.map((c) => `CAST(${c.name} AS ${c.trinoType}) AS ${c.name}`).join(', ')}\nFROM (\n${stripOuter(from.select)}\n) AS rebuilt`
    : `SELECT ${columns} FROM ${name}`;
  // Built by another version of its SQL, the previous version may lack a column the model has since
  // gained (README.md, "Changing a model"): then every row is a change (the load's upsert still
  // rewrites only the rows whose values differ).
  const sql = previous.sqlHash === rebuilt.sqlHash ? `${built}\nEXCEPT\nSELECT ${columns} FROM previous_${name}` : built;
  const target: WriteTarget = { ...rebuilt, prefix: dimensionChangesPrefix(name, rebuilt.batchId), sqlHash: sha256(sql), origin: 'generated' };
  // The version it replaces may be a by-key dimension's base + deltas: compared as readers see it.
  const before = dimensionBindings(name, { prefix: rebuilt.prefix }, previous);
  // From the SELECT, `previous_<dim>` is bound beside the rebuild's own `<dim>` (dim_date's SQL
  // reads its previous calendar as `dim_date`; no other SQL reads its own table, which is then bound
  // to the previous base — a name the file's comments mention may still be bound — never to the
  // prefix being written).
  const bindings: RelationBindings = from
    ? {
        ...from.bindings,
        star: { ...from.bindings.star, [name]: from.bindings.star[name] ?? [dimensionSegments(previous).base] },
        previousStar: { ...from.bindings.previousStar, ...before.previousStar },
        ...(before.previousStarDeltas ? { previousStarDeltas: { ...from.bindings.previousStarDeltas, ...before.previousStarDeltas } } : {}),
      }
    : before;
  const stats = await ctx.engine.write(sql, bindings, target);
  return { prefix: target.prefix, files: stats.files, rows: stats.rows };
}

/** Writes a quarantine report for the batch and returns the error that stops it (and so every later batch). */
async function quarantine(
  ctx: PipelineContext,
  extract: ExtractManifest,
  reason: string,
  tests: DataTestResult[],
  rejected: RejectedVersion[] = [],
): Promise<QuarantinedBatchError> {
  const key = quarantineKey(extract.batchId);
  const report = {
    kind: 'quarantine',
    batchId: extract.batchId,
    seq: extract.seq,
    at: ctx.now().toISOString(),
    reason,
    failingTests: tests.filter((t) => !t.passed),
    passedTests: tests.filter((t) => t.passed).map((t) => `${t.table} ${t.name}`),
    rejectedVersions: rejected,
  };
  await ctx.processed.put(key, `${JSON.stringify(report, null, 2)}\n`, { contentType: 'application/json' });
  ctx.log.error(`Transform: batch ${extract.batchId} quarantined, nothing of it was published: ${reason}`, { batchId: extract.batchId, report: key });
  return new QuarantinedBatchError(
    extract.batchId,
    key,
    `batch ${extract.batchId} is quarantined (report ${key} in ${ctx.processed.name}): ${reason}. Nothing of it was published and later batches wait; fix the cause (source data or sql/transform) and run again.`,
  );
}

/** Write: publish the staged outputs to the catalog, then the manifest, last. */
async function publishBatch(
  ctx: PipelineContext,
  extract: ExtractManifest,
  previous: TransformManifest | undefined,
  staged: StagedBatch,
  sqlFiles: readonly SqlFile[],
  startedAt: Date,
  tests: DataTestResult[],
  rejected: RejectedVersion[],
  models: Pick<ModelCheck, 'changes'>,
  tally: QueryTally,
): Promise<TransformManifest> {
  await publishOutputs(ctx, extract.batchId, staged, sqlFiles);
  const engineQueries = tally.counts();
  const manifest: TransformManifest = {
    kind: 'transform',
    version: 1,
    batchId: extract.batchId,
    seq: extract.seq,
    engine: ctx.engine.name,
    startedAt: startedAt.toISOString(),
    finishedAt: ctx.now().toISOString(),
    current: staged.current,
    star: staged.star,
    currentOutputs: staged.currentOutputs,
    ...(Object.keys(staged.currentDeltas).length ? { currentDeltas: staged.currentDeltas } : {}),
    dataTests: tests.map(({ name, table, passed, failures }) => ({ name, table, passed, failures })),
    extract: { snapshotAt: extract.snapshotAt, upperBound: extractBound(extract) },
    ...deletionsOf(ctx, extract),
    ...(rejected.length ? { rejected } : {}),
    ...(models.changes.length ? { modelChanges: models.changes } : {}),
    engineQueries,
  };
  // The star lake through this batch (lake/lake-history.ts), none after a manifest without it.
  if (!previous || previous.history) manifest.history = extendTransformHistory(previous?.history ?? {}, manifest);
  const key = transformManifestKey(extract.seq);
  try {
    await ctx.processed.put(key, `${JSON.stringify(manifest, null, 2)}\n`, { ifNoneMatch: true, contentType: 'application/json' });
  } catch (err) {
    if (!(err instanceof ObjectExistsError)) throw err;
    ctx.log.warn(`Transform: another run published batch ${extract.batchId} first; keeping its manifest`, { seq: extract.seq, batchId: extract.batchId });
    return readTransformManifest(ctx.processed, extract.seq);
  }
  notePublishedManifest(ctx.processed, TRANSFORM_MANIFEST_PREFIX, extract.seq);
  reportPublished(ctx, extract, staged, sqlFiles, startedAt, manifest);
  return manifest;
}

/**
 * Publishes to the catalog: the compacted current states (deltas are read through the manifest; a
 * base carried over from an earlier batch was published by that batch), the rebuilt dimensions, and
 * a partition per fact with versions in this batch. Each is a table of its own, and the batch
 * exists only once its manifest follows, so they are published at once (concurrently.ts: a Glue
 * call, or a pointer rewrite locally, each; issue 14, item 1).
 */
async function publishOutputs(ctx: PipelineContext, batchId: string, staged: StagedBatch, sqlFiles: readonly SqlFile[]): Promise<void> {
  const steps: (() => Promise<void>)[] = [];
  for (const name of staged.compacted) {
    const output = staged.currentOutputs[name];
    steps.push(() => ctx.catalog.repoint(`current_${name}`, { prefix: output.prefix, batchId, sqlHash: output.sqlHash }));
  }
  for (const file of sqlFiles) {
    if (staged.carried.includes(file.table.name)) continue; // published by the batch that built it
    const output = staged.star[file.table.name];
    // A by-key dimension's location names its base and its deltas (dimension-by-key.ts).
    const { deltas } = dimensionSegments(output);
    const location = { prefix: output.prefix, batchId, sqlHash: output.sqlHash, ...(deltas.length ? { deltas } : {}) };
    if (file.table.kind === 'fact') {
      // A batch without versions of this fact publishes no partition (there is nothing in it).
      if (output.rows > 0) steps.push(() => ctx.catalog.addPartition(file.table.name, location));
    }
    else steps.push(() => ctx.catalog.repoint(file.table.name, location));
  }
  await concurrently(steps, (step) => step());
}

/** The published batch's metrics (bytes scanned, duration) and log line. */
function reportPublished(ctx: PipelineContext, extract: ExtractManifest, staged: StagedBatch, sqlFiles: readonly SqlFile[], startedAt: Date, manifest: TransformManifest): void {
  const { batchId, seq } = extract;
  const deltasWritten = Object.values(staged.currentDeltas).flatMap((d) => d ?? []).filter((d) => parseCurrentPrefix(d.prefix).batchId === batchId);
  // Every statement of the batch (writes, data tests, checks), counted once (query-tally.ts); 0 where the engine does not measure.
  const bytesScanned = manifest.engineQueries?.bytesScanned ?? 0;
  const elapsedMs = Date.now() - startedAt.getTime();
  ctx.log.metric(METRICS.bytesScanned, bytesScanned, 'Bytes');
  ctx.log.metric(METRICS.stageDuration, elapsedMs, 'Milliseconds', { stage: 'transform' });
  ctx.log.info(`Transform: batch ${batchId} published`, {
    seq,
    batchId,
    currentStatesCompacted: staged.compacted.length,
    currentDeltasWritten: deltasWritten.length,
    factRows: Object.fromEntries(sqlFiles.filter((f) => f.table.kind === 'fact').map((f) => [f.table.name, staged.star[f.table.name].rows])),
    bytesScanned,
    engineQueries: manifest.engineQueries,
    elapsedMs,
  });
}

/** Deletions the extract found, carried to the load (which records them in `deleted_rows`), and logged. */
function deletionsOf(ctx: PipelineContext, extract: ExtractManifest): Pick<TransformManifest, 'deletions'> {
  const deletions: NonNullable<TransformManifest['deletions']> = {};
  for (const [name, table] of Object.entries(extract.tables)) {
    if (!table.deletions) continue;
    deletions[name as SourceTableName] = table.deletions.ids.map((id) => ({ id, detectedAt: extract.snapshotAt }));
    ctx.log.warn(`Transform: batch ${extract.batchId} carries ${table.deletions.ids.length} deletion(s) of ${name} to the warehouse`, { batchId: extract.batchId, ids: table.deletions.ids });
  }
  return Object.keys(deletions).length ? { deletions } : {};
}

/** ARCHITECTURE.md, "Star schema conventions": a currency code without an ISO 4217 name is kept (name NULL) and reported. */
async function reportUnknownCurrencies(ctx: StageContext, prefix: string, batchId: string): Promise<void> {
  const rows = await ctx.engine.query('SELECT currency_id, currency_code FROM dim_currency WHERE currency_name IS NULL ORDER BY currency_id', {
    batch: {},
    current: {},
    star: { dim_currency: [prefix] },
  });
  if (rows.length) {
    ctx.log.warn('Transform: currencies without an ISO 4217 name in sql/transform/dim_currency.sql (kept with currency_name NULL); add their names there', {
      batchId,
      currencies: rows,
    });
  }
}
