import { z } from 'zod';
import type { SourceTableName } from '../contract/source-tables';
import { getText, type ObjectStore } from '../ports/object-store';
import {
  EXTRACT_MANIFEST_PREFIX,
  extractManifestKey,
  manifestKey,
  manifestSeq,
  TRANSFORM_MANIFEST_PREFIX,
  transformManifestKey,
} from './lake-layout';
import { ExtractManifest, TransformManifest } from './manifests';

/**
 * Reading the manifest logs: the ordered lists of published extract and transform batches.
 * The manifests are the source of truth; nothing here caches state that cannot be listed again.
 */

export async function listManifestSeqs(store: ObjectStore, prefix: string, startAfterSeq = 0): Promise<number[]> {
  const seqs: number[] = [];
  const startAfter = startAfterSeq > 0 ? manifestKey(prefix, startAfterSeq) : undefined;
  for await (const { key } of store.list(prefix, { startAfter })) {
    const seq = manifestSeq(key);
    if (seq !== undefined) seqs.push(seq);
  }
  return seqs;
}

async function readManifest<T>(store: ObjectStore, key: string, schema: z.ZodType<T>): Promise<T> {
  const text = await getText(store, key);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`Manifest ${key} in ${store.name} is not valid JSON (${(err as Error).message}); it must be repaired by hand before the pipeline can go on`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`Manifest ${key} in ${store.name} does not match its schema: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

export const readExtractManifest = (store: ObjectStore, seq: number): Promise<ExtractManifest> =>
  readManifest(store, extractManifestKey(seq), ExtractManifest);

export const readTransformManifest = (store: ObjectStore, seq: number): Promise<TransformManifest> =>
  readManifest(store, transformManifestKey(seq), TransformManifest);

export const listExtractSeqs = (store: ObjectStore, startAfterSeq = 0): Promise<number[]> =>
  listManifestSeqs(store, EXTRACT_MANIFEST_PREFIX, startAfterSeq);

export const listTransformSeqs = (store: ObjectStore, startAfterSeq = 0): Promise<number[]> =>
  listManifestSeqs(store, TRANSFORM_MANIFEST_PREFIX, startAfterSeq);

/**
 * The newest seq this process has seen in each manifest log (by store name and prefix): where the
 * next look for the newest begins. Only a place to start listing, never an answer: the log is
 * still listed from there, and a remembered manifest that is no longer there (a lake replaced
 * under the same name) sends the listing back to the log's beginning.
 */
const newestSeen = new Map<string, number>();

/**
 * The newest seq in a manifest log, or undefined when it is empty. A log grows by one manifest a
 * batch (288 a day at a five-minute schedule) and is never pruned, so listing it whole on every
 * run made each run's cost grow with the lake's age (on S3 one LIST per 1,000 batches, several
 * times a run; on the folder store a stat per batch). After the first look, a process lists from
 * the newest manifest it saw on (S3's StartAfter; a directory read on the folder store): the
 * batches since, not the history. A cold Lambda container, or a new process, lists the log once.
 */
export async function newestManifestSeq(store: ObjectStore, prefix: string): Promise<number | undefined> {
  const known = newestSeen.get(memoKey(store, prefix));
  if (known !== undefined && known > 1) {
    const seqs = await listManifestSeqs(store, prefix, known - 1);
    const newest = seqs.at(-1);
    if (seqs[0] === known && newest !== undefined) {
      newestSeen.set(memoKey(store, prefix), newest);
      return newest;
    }
  }
  return (await listWholeManifestLog(store, prefix)).at(-1);
}

/** Every seq of a manifest log, listed from its beginning; its newest is where {@link newestManifestSeq} starts next. */
export async function listWholeManifestLog(store: ObjectStore, prefix: string): Promise<number[]> {
  const seqs = await listManifestSeqs(store, prefix);
  const last = seqs.at(-1);
  if (last === undefined) newestSeen.delete(memoKey(store, prefix));
  else newestSeen.set(memoKey(store, prefix), last);
  return seqs;
}

/** Whether this process knows where a manifest log ended when it last looked (a first look lists it whole). */
export function manifestLogSeen(store: ObjectStore, prefix: string): boolean {
  return newestSeen.has(memoKey(store, prefix));
}

const memoKey = (store: ObjectStore, prefix: string): string => `${store.name}\n${prefix}`;

/** The newest published extract manifest, or undefined before the first batch. */
export async function latestExtractManifest(store: ObjectStore): Promise<ExtractManifest | undefined> {
  const last = await newestManifestSeq(store, EXTRACT_MANIFEST_PREFIX);
  return last === undefined ? undefined : readExtractManifest(store, last);
}

/** The newest published transform manifest, or undefined before the first transformed batch. */
export async function latestTransformManifest(store: ObjectStore): Promise<TransformManifest | undefined> {
  const last = await newestManifestSeq(store, TRANSFORM_MANIFEST_PREFIX);
  return last === undefined ? undefined : readTransformManifest(store, last);
}

/**
 * Where each source table's current state after a transform is read: its compacted base, then
 * the deltas of later batches in batch order (bind it as `current`: the engine merges them).
 */
export function currentLocations(manifest: Pick<TransformManifest, 'current' | 'currentDeltas'>): Partial<Record<SourceTableName, string[]>> {
  const out: Partial<Record<SourceTableName, string[]>> = {};
  for (const [name, base] of Object.entries(manifest.current) as [SourceTableName, string][]) {
    out[name] = [base, ...(manifest.currentDeltas?.[name] ?? []).map((d) => d.prefix)];
  }
  return out;
}

/**
 * The bound a published extract batch read up to: the earliest of its tables' window bounds (they
 * share the batch's bound, except a table whose cursor was already past it, whose window then ends
 * at its cursor); the snapshot clock when it has no table. Every source version stamped before it
 * is in this batch or an earlier one.
 */
export function extractBound(manifest: Pick<ExtractManifest, 'tables' | 'snapshotAt'>): string {
  const bounds = Object.values(manifest.tables).map((t) => t!.window.upperBound);
  return bounds.length ? bounds.reduce((a, b) => (b < a ? b : a)) : manifest.snapshotAt;
}

/** Every Parquet file of a table's current state after a transform: base, then deltas. */
export function currentFiles(manifest: TransformManifest, table: SourceTableName): string[] {
  return [manifest.currentOutputs[table], ...(manifest.currentDeltas?.[table] ?? [])].flatMap((o) => o?.files ?? []);
}
