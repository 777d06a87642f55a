import { METRICS } from '../core/contract/runtime-contract';
import { readExtractManifest } from '../core/lake/manifest-log';
import type { ExtractManifest } from '../core/lake/manifests';
import type { PipelineContext } from '../core/pipeline-context';

/**
 * Seconds between `now` and the newest source `last_updated` a batch carried (its extract
 * manifest records it per table, as UTC 'YYYY-MM-DD HH:MM:SS.mmm'); undefined if none is known.
 */
export function freshnessSeconds(manifest: ExtractManifest, now: Date): number | undefined {
  let newest: number | undefined;
  for (const table of Object.values(manifest.tables)) {
    if (!table?.maxLastUpdated) continue;
    const t = Date.parse(`${table.maxLastUpdated.replace(' ', 'T')}Z`);
    if (!Number.isNaN(t) && (newest === undefined || t > newest)) newest = t;
  }
  return newest === undefined ? undefined : Math.max(0, (now.getTime() - newest) / 1000);
}

/** Emits FreshnessSeconds for the newest batch loaded (the load function reads its extract manifest). */
export async function emitFreshness(ctx: PipelineContext, seq: number): Promise<void> {
  try {
    const seconds = freshnessSeconds(await readExtractManifest(ctx.ingestion, seq), ctx.now());
    if (seconds !== undefined) ctx.log.metric(METRICS.freshness, Math.round(seconds), 'Seconds');
  } catch (err) {
    // The warehouse is loaded; a missing metric must not fail the invocation (the alarm on missing data catches it).
    ctx.log.warn('Could not compute freshness', { seq, error: (err as Error).message });
  }
}
