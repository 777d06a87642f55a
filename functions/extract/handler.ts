import type { Context } from 'aws-lambda';
import { extract, type ExtractOptions, type ExtractResult } from '../core/extract/extract';
import { METRICS } from '../core/contract/runtime-contract';
import { parseScheduleEvent } from '../aws/lambda-events';
import { runStage, type StageDeps } from '../aws/lambda-stage';

/** Time kept back from the Lambda budget to publish the manifest and return (ms). */
const SAFETY_MARGIN_MS = 60_000;

/**
 * The extract Lambda, started every five minutes by EventBridge Scheduler. A schedule that fires
 * twice is harmless: both runs race for the same batch sequence and the manifest's conditional
 * put lets one publish. The deadline lets a long first load stop at a raw file's end. An operator
 * asks for a repair by invoking it with a schedule event whose `detail` is `{"repair": true}`.
 */
export function createHandler(deps: StageDeps & { extract?: typeof extract } = {}) {
  const run = deps.extract ?? extract;
  return async (event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<ExtractResult> => {
    const schedule = parseScheduleEvent(event);
    return runStage('extract', deps, async (ctx, config, report) => {
      const remaining = context?.getRemainingTimeInMillis() ?? 15 * 60_000;
      const options: ExtractOptions = {
        commitLagSeconds: config.commitLagSeconds,
        // An operator's invocation with {"detail": {"repair": true}} also repairs (core/extract/repair.ts).
        repair: isRepairRequest(schedule.detail),
        deadline: new Date(Date.now() + Math.max(0, remaining - SAFETY_MARGIN_MS)),
      };
      const result = await run(ctx, options);
      report({ extract: result });
      ctx.log.metric(METRICS.extractSucceeded, 1, 'Count');
      ctx.log.info('Extract finished', { scheduledAt: schedule.time, published: result.published, reason: result.reason, batchId: result.batchId });
      return result;
    });
  };
}

export const handler = createHandler();

function isRepairRequest(detail: unknown): boolean {
  return typeof detail === 'object' && detail !== null && (detail as { repair?: unknown }).repair === true;
}
