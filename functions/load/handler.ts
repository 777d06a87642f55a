import { TRANSFORM_MANIFEST_PREFIX } from '../core/lake/lake-layout';
import { loadPending, type LoadResult } from '../core/load/load';
import { parseObjectCreated } from '../aws/lambda-events';
import { requireSetting } from '../aws/aws-config';
import { emitFreshness } from '../aws/freshness-metric';
import { runStage, type StageDeps } from '../aws/lambda-stage';

export interface LoadHandlerResult {
  /** Batches loaded by this invocation (none for a duplicate or unrelated event). */
  loaded: string[];
  ignored: string[];
}

/**
 * The load Lambda, started when a transform manifest lands in the processed bucket. It loads
 * every pending batch in order; the warehouse's load ledger makes a duplicate or replayed event
 * load nothing twice.
 */
export function createHandler(deps: StageDeps & { loadPending?: typeof loadPending } = {}) {
  const run = deps.loadPending ?? loadPending;
  return async (event: unknown): Promise<LoadHandlerResult> => {
    const objects = parseObjectCreated(event);
    return runStage('load', deps, async (ctx, config, report) => {
      const bucket = requireSetting(config, 'processedBucket', 'the load trigger');
      const manifests = objects.filter((o) => o.bucket === bucket && o.key.startsWith(TRANSFORM_MANIFEST_PREFIX));
      const ignored = objects.filter((o) => !manifests.includes(o)).map((o) => `s3://${o.bucket}/${o.key}`);
      if (ignored.length) ctx.log.warn('Ignoring objects that are not transform manifests in the processed bucket', { ignored });
      if (!manifests.length) return { loaded: [], ignored };
      const results: LoadResult[] = await run(ctx);
      const loaded = results.filter((r) => !r.skipped);
      const freshness = loaded.length ? await emitFreshness(ctx, loaded[loaded.length - 1].seq) : undefined;
      report({ load: results, freshness });
      return { loaded: loaded.map((r) => r.batchId), ignored };
    });
  };
}

export const handler = createHandler();
