import { z } from 'zod';
import { getText, ObjectNotFoundError, type ObjectStore } from '../ports/object-store';
import { BATCH_ID_PATTERN, extractHeartbeatKey } from './lake-layout';
import { SourceSnapshot } from './manifests';

/**
 * The heartbeat of an extract that found nothing new: no batch (an empty batch would cost a
 * transform and a load for nothing), only the proof that the source had nothing for the lake
 * between the newest batch's bound and this extract's. With it, a quiet source's warehouse stays
 * fresh (operate/freshness.ts): once batch `afterSeq` is loaded, the warehouse reflects totesys as
 * of the heartbeat's bound, not only as of that batch's.
 *
 * One object per batch (`heartbeats/extract/<afterSeq>.json` in the processed store), overwritten
 * by each quiet tick after it, so reading the newest is one GET whatever the length of the quiet.
 * Two quiet extracts racing may leave the older of the two: it is still true, only a tick staler.
 */

const timestamp = z.string().regex(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/, "a 'YYYY-MM-DD HH:MM:SS.mmm' UTC timestamp");

export const ExtractHeartbeat = z.object({
  kind: z.literal('extract-heartbeat'),
  version: z.literal(1),
  /** The newest published batch when the extract ran: it found nothing after that batch's cursors. */
  afterSeq: z.number().int().positive(),
  afterBatchId: z.string().regex(BATCH_ID_PATTERN, 'batch id'),
  /** The extract's snapshot clock. */
  snapshotAt: timestamp,
  /** The bound it read up to: every source version stamped before it is in batches ≤ afterSeq. */
  upperBound: timestamp,
  /**
   * The quiet extract's snapshot (additive). It read nothing, so the next batch may compare with it
   * instead of the batch's own: a quiet extract's rescue found nothing it did not see.
   */
  source: SourceSnapshot.optional(),
  /** When the extract finished (ISO 8601). */
  at: z.string(),
});
export type ExtractHeartbeat = z.infer<typeof ExtractHeartbeat>;

/** Records a quiet extract after batch `afterSeq` (replacing the previous heartbeat of that batch). */
export async function writeExtractHeartbeat(store: ObjectStore, heartbeat: Omit<ExtractHeartbeat, 'kind' | 'version'>): Promise<string> {
  const key = extractHeartbeatKey(heartbeat.afterSeq);
  const body = ExtractHeartbeat.parse({ kind: 'extract-heartbeat', version: 1, ...heartbeat });
  try {
    await store.put(key, `${JSON.stringify(body, null, 2)}\n`, { contentType: 'application/json' });
  } catch (err) {
    throw new Error(
      `Could not write the extract heartbeat ${key} to ${store.name}: ${(err as Error).message}. ` +
        'Nothing was extracted or lost; without the heartbeat the warehouse looks staler than it is until the next run writes one',
      { cause: err },
    );
  }
  return key;
}

/** The newest heartbeat after batch `seq`, or undefined when no quiet extract followed it. */
export async function readExtractHeartbeat(store: ObjectStore, seq: number): Promise<ExtractHeartbeat | undefined> {
  const key = extractHeartbeatKey(seq);
  let text: string;
  try {
    text = await getText(store, key);
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`Extract heartbeat ${key} in ${store.name} is not valid JSON (${(err as Error).message}); delete it, the next quiet extract writes it again`);
  }
  const parsed = ExtractHeartbeat.safeParse(json);
  if (!parsed.success) throw new Error(`Extract heartbeat ${key} in ${store.name} does not match its schema: ${z.prettifyError(parsed.error)}; delete it, the next quiet extract writes it again`);
  return parsed.data;
}
