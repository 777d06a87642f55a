import { EXTRACT_MANIFEST_PREFIX } from '../core/lake/lake-layout';
import { transformPending, type TransformResult } from '../core/transform/transform';
import { manifestObjects, parseStageTrigger } from '../aws/lambda-events';
import { requireSetting } from '../aws/aws-config';
import { ensureLakeViews } from '../aws/athena-current-views';
import { runStage, type StageDeps } from '../aws/lambda-stage';

export interface TransformHandlerResult {
  /** Batches transformed by this invocation, in order (none for a duplicate or unrelated event, or a tick with nothing pending). */
  batches: string[];
  ignored: string[];
}

/**
 * The transform Lambda, started when an extract manifest lands in the ingestion bucket, and by
 * every tick of its schedule. It does not transform "the batch in the event": it transforms every
 * pending batch in order (a batch another run holds the lease of is left to that run), so a
 * duplicate, replayed, redriven or out-of-order event finds nothing left to do, and a transform
 * that failed past its retries resumes on the next tick once the cause is gone, source quiet or
 * not. It then makes sure the analysts' current-state views exist in Athena (created once,
 * replaced when their definition changes, so after a deploy within a tick). A tick that found
 * nothing pending records no run.
 */
export function createHandler(deps: StageDeps & { transformPending?: typeof transformPending } = {}) {
  const run = deps.transformPending ?? transformPending;
  return async (event: unknown): Promise<TransformHandlerResult> => {
    const trigger = parseStageTrigger(event);
    return runStage('transform', deps, async (ctx, config, report) => {
      let ignored: string[] = [];
      if ('objects' in trigger) {
        const split = manifestObjects(trigger.objects, requireSetting(config, 'ingestionBucket', 'the transform trigger'), EXTRACT_MANIFEST_PREFIX);
        const manifests = split.manifests;
        ignored = split.ignored;
        if (ignored.length) ctx.log.warn('Ignoring objects that are not extract manifests in the ingestion bucket', { ignored });
        if (!manifests.length) return { batches: [], ignored };
      }
      const results: TransformResult[] = await run(ctx);
      if ('objects' in trigger || results.length) report({ transform: results });
      if ('tick' in trigger && results.length) ctx.log.info('Transform tick resumed pending batches', { scheduledAt: trigger.tick.time, batches: results.map((r) => r.batchId) });
      await ensureLakeViews(ctx);
      return { batches: results.map((r) => r.batchId), ignored };
    });
  };
}

export const handler = createHandler();
