import { METRICS } from '../core/contract/runtime-contract';
import { readExtractManifest } from '../core/lake/manifest-log';
import { batchFreshness } from '../core/operate/freshness';
import type { RunParts } from '../core/operate/run-history';
import type { PipelineContext } from '../core/pipeline-context';

/**
 * Emits `FreshnessSeconds` for the newest batch the load put in the warehouse: now − the newest
 * source `last_updated` its extract manifest records (core/operate/freshness.ts, the same measure
 * `totes status` and the local run history use). Returns it for the run record.
 *
 * The load function reads that manifest from the ingestion bucket (TOTES_INGESTION_BUCKET, and
 * s3:GetObject on manifests/extract/ in its role).
 */
export async function emitFreshness(ctx: PipelineContext, seq: number): Promise<RunParts['freshness']> {
  try {
    const freshness = batchFreshness(await readExtractManifest(ctx.ingestion, seq), ctx.now());
    if (freshness) ctx.log.metric(METRICS.freshness, Math.round(freshness.seconds), 'Seconds');
    else ctx.log.warn('Freshness unknown: the loaded batch\'s extract manifest records no source last_updated', { seq });
    return freshness;
  } catch (err) {
    // The warehouse is loaded; a missing metric must not fail the invocation (the alarm treats missing data as breaching).
    ctx.log.warn(`Could not compute freshness from extract manifest ${seq}: ${(err as Error).message}`, { seq });
    return undefined;
  }
}
