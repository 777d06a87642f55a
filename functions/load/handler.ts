import { TRANSFORM_MANIFEST_PREFIX } from '../core/lake/lake-layout';
import type { readNewestLoaded } from '../core/load/load-ledger';
import { loadPending, type LoadResult } from '../core/load/load';
import { manifestObjects, parseStageTrigger } from '../aws/lambda-events';
import { requireSetting } from '../aws/aws-config';
import { emitFreshness } from '../aws/freshness-metric';
import { runStage, type StageDeps } from '../aws/lambda-stage';

export interface LoadHandlerResult {
  /** Batches loaded by this invocation (none for a duplicate or unrelated event, or a tick with nothing pending). */
  loaded: string[];
  ignored: string[];
  /** FreshnessSeconds as emitted (undefined when unknown). */
  freshnessSeconds?: number;
}

/**
 * The load Lambda, started when a transform manifest lands in the processed bucket, and by every
 * tick of its schedule. Either way it loads every pending batch in order (the warehouse's load
 * ledger makes a duplicate, late or redriven trigger load nothing twice), so a load that failed
 * resumes on the next tick once its cause is gone. Every run then measures and emits the
 * warehouse's freshness, a quiet tick's included.
 */
export function createHandler(deps: StageDeps & { loadPending?: typeof loadPending; newestLoaded?: typeof readNewestLoaded } = {}) {
  const run = deps.loadPending ?? loadPending;
  return async (event: unknown): Promise<LoadHandlerResult> => {
    const trigger = parseStageTrigger(event);
    return runStage('load', deps, async (ctx, config, report) => {
      let ignored: string[] = [];
      if ('objects' in trigger) {
        const split = manifestObjects(trigger.objects, requireSetting(config, 'processedBucket', 'the load trigger'), TRANSFORM_MANIFEST_PREFIX);
        const manifests = split.manifests;
        ignored = split.ignored;
        if (ignored.length) ctx.log.warn('Ignoring objects that are not transform manifests in the processed bucket', { ignored });
        if (!manifests.length) return { loaded: [], ignored };
      }
      const results: LoadResult[] = await run(ctx);
      const freshness = await emitFreshness(ctx, deps.newestLoaded);
      report({ load: results, freshness });
      const loaded = results.filter((r) => !r.skipped).map((r) => r.batchId);
      if ('tick' in trigger && loaded.length) ctx.log.info('Load tick resumed pending batches', { scheduledAt: trigger.tick.time, loaded });
      return { loaded, ignored, ...(freshness ? { freshnessSeconds: freshness.seconds } : {}) };
    });
  };
}

export const handler = createHandler();
