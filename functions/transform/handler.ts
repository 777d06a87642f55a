import { EXTRACT_MANIFEST_PREFIX } from '../core/lake/lake-layout';
import { transformPending, type TransformResult } from '../core/transform/transform';
import { parseObjectCreated } from '../aws/lambda-events';
import { requireSetting } from '../aws/aws-config';
import { ensureLakeViews } from '../aws/athena-current-views';
import { runStage, type StageDeps } from '../aws/lambda-stage';

export interface TransformHandlerResult {
  /** Batches transformed by this invocation, in order (none for a duplicate or unrelated event). */
  batches: string[];
  ignored: string[];
}

/**
 * The transform Lambda, started when an extract manifest lands in the ingestion bucket. It does
 * not transform "the batch in the event": it transforms every pending batch in order, so a
 * duplicate, replayed or out-of-order event finds nothing left to do. It then makes sure the
 * analysts' current-state views exist in Athena (created once, replaced when their definition changes).
 */
export function createHandler(deps: StageDeps & { transformPending?: typeof transformPending } = {}) {
  const run = deps.transformPending ?? transformPending;
  return async (event: unknown): Promise<TransformHandlerResult> => {
    const objects = parseObjectCreated(event);
    return runStage('transform', deps, async (ctx, config, report) => {
      const bucket = requireSetting(config, 'ingestionBucket', 'the transform trigger');
      const manifests = objects.filter((o) => o.bucket === bucket && o.key.startsWith(EXTRACT_MANIFEST_PREFIX));
      const ignored = objects.filter((o) => !manifests.includes(o)).map((o) => `s3://${o.bucket}/${o.key}`);
      if (ignored.length) ctx.log.warn('Ignoring objects that are not extract manifests in the ingestion bucket', { ignored });
      if (!manifests.length) return { batches: [], ignored };
      const results: TransformResult[] = await run(ctx);
      report({ transform: results });
      await ensureLakeViews(ctx);
      return { batches: results.map((r) => r.batchId), ignored };
    });
  };
}

export const handler = createHandler();
