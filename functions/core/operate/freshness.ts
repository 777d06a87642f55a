import { readExtractHeartbeat, type ExtractHeartbeat } from '../lake/extract-heartbeat';
import { extractBound, readExtractManifest, readTransformManifest } from '../lake/manifest-log';
import type { ExtractManifest } from '../lake/manifests';
import { readNewestLoaded, type LoadedBatch } from '../load/load-ledger';
import type { PipelineContext } from '../pipeline-context';
import { ObjectNotFoundError, type ObjectStore } from '../ports/object-store';

/**
 * Freshness: how far behind totesys the warehouse is, the one definition `totes status`, the run
 * history, the data docs, `totes verify` and the `FreshnessSeconds` metric all use.
 *
 *   freshness = now − the source instant the warehouse reflects
 *
 * The instant is the upper bound of the newest extract such that it and every batch before it are
 * loaded: every source version stamped before that bound is in the warehouse (the extract's
 * guarantee). Batches load in order, so with batch L the newest in the load ledger:
 *  - batch L's own extract qualifies: its bound;
 *  - so does a later extract that found nothing new after L (its heartbeat, lake/extract-heartbeat.ts):
 *    the source had nothing for the lake between L's bound and its own, so the warehouse reflects
 *    the heartbeat's bound as soon as L is loaded;
 *  - an extract after a batch that is not loaded (a backlog, a quarantined batch) does not.
 * Hence a quiet source stays fresh within one schedule tick, while a stopped schedule, a stuck or
 * quarantined batch, a backlog, or a transaction left open on totesys (it holds the bound back)
 * ages the warehouse, and an SLA on freshness fires on exactly those. Nothing loaded yet: unknown.
 *
 * Why the bound and not the snapshot clock: the bound is the clock held back by the commit lag
 * and by any transaction still open on totesys, and versions stamped between it and the clock are
 * not in the batch yet; the bound is what the warehouse can vouch for.
 */

export interface Freshness {
  /** The source instant the warehouse reflects ('YYYY-MM-DD HH:MM:SS.mmm' UTC). */
  sourceAt: string;
  /** now − sourceAt, in seconds (never negative: the two clocks may disagree by a little). */
  seconds: number;
  /** The newest batch in the warehouse. */
  batchId: string;
  seq: number;
  /** What vouches for `sourceAt`: that batch's extract, or a later extract that found nothing new. */
  via: 'batch' | 'heartbeat';
}

/** Parses the lake's UTC timestamp text ('YYYY-MM-DD HH:MM:SS.mmm') to epoch ms; undefined if malformed. */
export function parseSourceTimestamp(text: string | null | undefined): number | undefined {
  if (!text) return undefined;
  const t = Date.parse(`${text.trim().replace(' ', 'T')}Z`);
  return Number.isNaN(t) ? undefined : t;
}

/** Seconds from a source timestamp to `now` (never negative: clocks may disagree by a little). */
export function ageSeconds(sourceTimestamp: string, now: Date): number | undefined {
  const t = parseSourceTimestamp(sourceTimestamp);
  return t === undefined ? undefined : Math.max(0, Math.round((now.getTime() - t) / 100) / 10);
}

/** The bound a published batch read up to (lake/manifest-log.ts `extractBound`). */
export const batchBound = extractBound;

/**
 * The definition, on the evidence: the newest loaded batch's extract manifest, and the heartbeat
 * of the newest quiet extract after it (if any). A heartbeat of another batch (the lake and the
 * warehouse disagree) vouches for nothing.
 */
export function freshnessOf(loaded: Pick<ExtractManifest, 'seq' | 'batchId' | 'tables' | 'snapshotAt'>, heartbeat: ExtractHeartbeat | undefined, now: Date): Freshness | undefined {
  return freshnessAt(loaded, batchBound(loaded), heartbeat, now);
}

/** {@link freshnessOf} of a loaded batch whose bound is known (`own`). */
function freshnessAt(loaded: Pick<LoadedBatch, 'seq' | 'batchId'>, own: string, heartbeat: ExtractHeartbeat | undefined, now: Date): Freshness | undefined {
  const later = heartbeat && heartbeat.afterSeq === loaded.seq && heartbeat.afterBatchId === loaded.batchId && heartbeat.upperBound > own ? heartbeat.upperBound : undefined;
  const sourceAt = later ?? own;
  const seconds = ageSeconds(sourceAt, now);
  if (seconds === undefined) return undefined;
  return { sourceAt, seconds, batchId: loaded.batchId, seq: loaded.seq, via: later ? 'heartbeat' : 'batch' };
}

/**
 * Freshness of a warehouse whose newest loaded batch is `loaded` (from its load ledger), read from
 * the lake: that batch's bound and its heartbeat. Undefined when nothing is loaded.
 */
export async function measureFreshness(
  stores: { ingestion: ObjectStore; processed: ObjectStore },
  loaded: Pick<LoadedBatch, 'seq' | 'batchId'> | null,
  now: Date,
): Promise<Freshness | undefined> {
  if (!loaded) return undefined;
  const bound = await loadedBound(stores, loaded);
  return freshnessAt(loaded, bound, await readExtractHeartbeat(stores.processed, loaded.seq), now);
}

/**
 * The bound batch `loaded` read up to, from its transform manifest, which copies it from the
 * extract manifest: what the load loaded from, so the load needs no extract manifest. A transform
 * manifest written before it carried the bound (or none, in a lake written by hand) sends the
 * reader to the extract manifest.
 */
async function loadedBound(stores: { ingestion: ObjectStore; processed: ObjectStore }, loaded: Pick<LoadedBatch, 'seq' | 'batchId'>): Promise<string> {
  const transformed = await readTransformManifest(stores.processed, loaded.seq).catch((err: unknown) => {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw err;
  });
  if (transformed?.extract) {
    sameBatch(loaded, transformed.batchId, `transform manifest ${loaded.seq} in ${stores.processed.name}`);
    return transformed.extract.upperBound;
  }
  const extracted = await readExtractManifest(stores.ingestion, loaded.seq);
  sameBatch(loaded, extracted.batchId, `extract manifest ${loaded.seq} in ${stores.ingestion.name}`);
  return batchBound(extracted);
}

function sameBatch(loaded: Pick<LoadedBatch, 'seq' | 'batchId'>, batchId: string, manifest: string): void {
  if (batchId === loaded.batchId) return;
  throw new Error(
    `The warehouse's newest loaded batch is ${loaded.batchId} (seq ${loaded.seq}), but ${manifest} is batch ${batchId}: ` +
      'the warehouse and the lake belong to different runs, so its freshness cannot be told',
  );
}

/** Freshness of the context's warehouse now: its load ledger, then the lake (see {@link measureFreshness}). */
export async function warehouseFreshness(ctx: PipelineContext): Promise<Freshness | undefined> {
  return measureFreshness(ctx, await readNewestLoaded(ctx), ctx.now());
}
