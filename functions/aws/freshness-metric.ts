import { METRICS } from '../core/contract/runtime-contract';
import { readNewestLoaded, type LoadedBatch } from '../core/load/load-ledger';
import { measureFreshness, type Freshness } from '../core/operate/freshness';
import type { PipelineContext } from '../core/pipeline-context';

/**
 * Emits `FreshnessSeconds`: now − the source instant the warehouse reflects (core/operate/freshness.ts,
 * the measure `totes status` and the run history use). The load emits it on every run, its
 * scheduled ticks included, so a quiet source keeps the metric flowing and low, and a stuck batch
 * or a stopped extract makes it grow: the freshness alarm watches it. Returns it for the run record.
 *
 * The load function reads the newest loaded batch from the warehouse's ledger, that batch's
 * transform manifest (the bound its extract read up to, copied there) and the extract's heartbeat
 * from the processed bucket. Only a transform manifest written before it carried the bound sends it
 * to the batch's extract manifest in the ingestion bucket (its role allows s3:GetObject on
 * manifests/extract/ for those alone).
 */
export async function emitFreshness(
  ctx: PipelineContext,
  newestLoaded: (ctx: PipelineContext) => Promise<Pick<LoadedBatch, 'seq' | 'batchId'> | null> = readNewestLoaded,
): Promise<Freshness | undefined> {
  try {
    const loaded = await newestLoaded(ctx);
    const freshness = await measureFreshness(ctx, loaded, ctx.now());
    if (freshness) ctx.log.metric(METRICS.freshness, Math.round(freshness.seconds), 'Seconds');
    else ctx.log.warn('Freshness unknown: no batch has been loaded into the warehouse yet', {});
    return freshness;
  } catch (err) {
    // The load itself is done; a missing datapoint must not fail the invocation (the alarm on
    // FreshnessSeconds going silent catches a load that can never measure it).
    ctx.log.warn(`Could not measure the warehouse's freshness: ${(err as Error).message}`, {});
    return undefined;
  }
}
