import { extract, type ExtractOptions, type ExtractResult } from './extract/extract';
import { loadPending } from './load/load';
import type { PipelineContext } from './pipeline-context';
import { transformPending } from './transform/transform';

export interface CycleResult {
  extract: ExtractResult;
  transformed: Awaited<ReturnType<typeof transformPending>>;
  loaded: Awaited<ReturnType<typeof loadPending>>;
  timings: { extractMs: number; transformMs: number; loadMs: number; totalMs: number };
}

/**
 * One extract → transform → load cycle, the local twin of the three Lambdas chained by their
 * manifests. Transform and load take every pending batch in order, so a cycle after a failed one
 * finishes the earlier batch first; a stage that fails stops the cycle and leaves the later
 * stages' state as it was (their manifests and ledger decide what is done).
 */
export async function runCycle(ctx: PipelineContext, options: ExtractOptions = {}): Promise<CycleResult> {
  const t0 = Date.now();
  const extracted = await stage(ctx, 'extract', () => extract(ctx, options));
  const t1 = Date.now();
  const transformed = await stage(ctx, 'transform', () => transformPending(ctx));
  const t2 = Date.now();
  const loaded = await stage(ctx, 'load', () => loadPending(ctx));
  const t3 = Date.now();
  return {
    extract: extracted,
    transformed,
    loaded,
    timings: { extractMs: t1 - t0, transformMs: t2 - t1, loadMs: t3 - t2, totalMs: t3 - t0 },
  };
}

async function stage<T>(ctx: PipelineContext, name: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    const result = await work();
    ctx.log.metric('StageDuration', Date.now() - started, 'Milliseconds', { stage: name });
    return result;
  } catch (err) {
    const error = err as Error;
    ctx.log.error(`${name} failed: ${error.message}`, { stage: name });
    throw Object.assign(new Error(`${name} failed: ${error.message}`), { cause: err, stage: name });
  }
}
