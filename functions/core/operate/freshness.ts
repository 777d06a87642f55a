import type { ExtractManifest } from '../lake/manifests';

/**
 * Freshness: how old the newest data a reader can see is. Measured as now − the newest source
 * `last_updated` of the newest batch loaded into the warehouse (each extract manifest records, per
 * table, the newest `last_updated` seen so far, as UTC 'YYYY-MM-DD HH:MM:SS.mmm').
 *
 * An idle source makes freshness grow although the pipeline is healthy; that is deliberate: the
 * SLA says how old the warehouse may be, and only the source can tell whether it was idle.
 */

/** Parses the manifests' UTC timestamp text ('YYYY-MM-DD HH:MM:SS.mmm') to epoch ms; undefined if malformed. */
export function parseSourceTimestamp(text: string | null | undefined): number | undefined {
  if (!text) return undefined;
  const t = Date.parse(`${text.trim().replace(' ', 'T')}Z`);
  return Number.isNaN(t) ? undefined : t;
}

/** Newest source last_updated over every table of a batch (text as in the manifest), or undefined. */
export function newestSourceUpdate(manifest: Pick<ExtractManifest, 'tables'>): string | undefined {
  let newest: { text: string; t: number } | undefined;
  for (const table of Object.values(manifest.tables)) {
    const t = parseSourceTimestamp(table?.maxLastUpdated);
    if (t !== undefined && (newest === undefined || t > newest.t)) newest = { text: table!.maxLastUpdated!, t };
  }
  return newest?.text;
}

/** Seconds from a source timestamp to `now` (never negative: clocks may disagree by a little). */
export function ageSeconds(sourceTimestamp: string, now: Date): number | undefined {
  const t = parseSourceTimestamp(sourceTimestamp);
  return t === undefined ? undefined : Math.max(0, Math.round((now.getTime() - t) / 100) / 10);
}

/** Freshness of a loaded batch, or undefined when its manifest names no timestamp. */
export function batchFreshness(manifest: Pick<ExtractManifest, 'tables'>, now: Date): { newestSourceUpdate: string; seconds: number } | undefined {
  const newest = newestSourceUpdate(manifest);
  const seconds = newest === undefined ? undefined : ageSeconds(newest, now);
  return newest === undefined || seconds === undefined ? undefined : { newestSourceUpdate: newest, seconds };
}
