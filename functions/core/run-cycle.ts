import type { SourceTableName } from './contract/source-tables';
import { extract, type ExtractOptions, type ExtractResult } from './extract/extract';
import { loadPending } from './load/load';
import { measureFreshness, warehouseFreshness } from './operate/freshness';
import { buildRunRecord, writeRunRecord, type RunParts } from './operate/run-history';
import type { RunRecord } from './operate/run-record';
import type { PipelineContext } from './pipeline-context';
import { transformPending } from './transform/transform';

export interface CycleResult {
  extract: ExtractResult;
  transformed: Awaited<ReturnType<typeof transformPending>>;
  loaded: Awaited<ReturnType<typeof loadPending>>;
  timings: { extractMs: number; transformMs: number; loadMs: number; totalMs: number };
  /** The run-history record this cycle wrote (`runs/…` in the processed store). */
  run?: RunRecord;
}

/**
 * One extract → transform → load cycle, the local twin of the three Lambdas chained by their
 * manifests. Transform and load take every pending batch in order, so a cycle after a failed one
 * finishes the earlier batch first; a stage that fails stops the cycle and leaves the later
 * stages' state as it was (their manifests and ledger decide what is done).
 *
 * Every cycle, failed ones included, adds a record to the run history (see operate/run-history.ts):
 * its batch, stage timings, rows per table, outcome and the warehouse's freshness at the end
 * (operate/freshness.ts): a quiet cycle keeps it within a tick, a failing one lets it grow.
 */
export async function runCycle(ctx: PipelineContext, options: ExtractOptions = {}): Promise<CycleResult> {
  const parts: RunParts = { startedAt: ctx.now(), finishedAt: ctx.now(), engine: ctx.engine.name };
  const t0 = Date.now();
  try {
    // Each table's raw files go to the engine as soon as the extract has read the table: DuckDB
    // parses them while the extract reads the others (issue 14, item 3). Nothing is published
    // before the extract's manifest, and the transform below starts only after it.
    const prepare = ctx.engine.prepare?.bind(ctx.engine);
    const onTableRead = options.onTableRead ?? (prepare ? (table: SourceTableName, keys: readonly string[]) => prepare({ [table]: [...keys] }) : undefined);
    const extracted = await stage(ctx, parts, 'extract', () => extract(ctx, { ...options, ...(onTableRead ? { onTableRead } : {}) }));
    parts.extract = { result: extracted, elapsedMs: Date.now() - t0 };
    const t1 = Date.now();
    const transformed = await stage(ctx, parts, 'transform', () => transformPending(ctx));
    parts.transform = { results: transformed, elapsedMs: Date.now() - t1 };
    const t2 = Date.now();
    const loaded = await stage(ctx, parts, 'load', () => loadPending(ctx));
    parts.load = { results: loaded, elapsedMs: Date.now() - t2 };
    const t3 = Date.now();
    parts.freshness = await currentFreshness(ctx, true, loaded.at(-1));
    const run = await record(ctx, parts);
    return {
      extract: extracted,
      transformed,
      loaded,
      timings: { extractMs: t1 - t0, transformMs: t2 - t1, loadMs: t3 - t2, totalMs: t3 - t0 },
      ...(run ? { run } : {}),
    };
  } catch (err) {
    parts.freshness = await currentFreshness(ctx, false);
    await record(ctx, parts);
    throw err;
  }
}

async function stage<T>(ctx: PipelineContext, parts: RunParts, name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    const error = err as Error;
    parts.failure = { stage: name, error: error.message };
    ctx.log.error(`${name} failed: ${error.message}`, { stage: name });
    throw Object.assign(new Error(`${name} failed: ${error.message}`), { cause: err, stage: name });
  }
}

/**
 * The warehouse's freshness for the run record. Not knowing it must not fail a cycle: after a
 * successful one that is worth a warning; after a failed one (often the warehouse itself) the
 * failure already says why. `loaded`: the newest batch this cycle's load found in the ledger (it
 * loaded it, or another load had): the warehouse holds it and every batch before it, so its
 * freshness is read from the lake alone, without a connection to read the ledger back (issue 14,
 * item 1). A batch another load committed after it would only make the warehouse fresher.
 */
async function currentFreshness(ctx: PipelineContext, succeeded: boolean, loaded?: { seq: number; batchId: string }): Promise<RunParts['freshness']> {
  try {
    if (loaded) return await measureFreshness(ctx, loaded, ctx.now());
    return await warehouseFreshness(ctx);
  } catch (err) {
    if (succeeded) ctx.log.warn(`Could not measure the warehouse's freshness: ${(err as Error).message}`, { store: ctx.ingestion.name });
    return undefined;
  }
}

/**
 * Writes the cycle's run record. A history that cannot be written must not turn a loaded batch
 * into a failed cycle (or hide the real failure), so the problem is logged as a warning instead.
 */
async function record(ctx: PipelineContext, parts: RunParts): Promise<RunRecord | undefined> {
  try {
    const run = buildRunRecord({ ...parts, finishedAt: ctx.now() });
    await writeRunRecord(ctx.processed, run);
    return run;
  } catch (err) {
    ctx.log.warn(`Could not write the run history record: ${(err as Error).message}. The cycle itself is unaffected; \`totes status\` will not show this run`, {
      store: ctx.processed.name,
    });
    return undefined;
  }
}
