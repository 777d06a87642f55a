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

/**
 * The seqs of a manifest log after `afterSeq`, found by naming their keys (`exists`, a few at once)
 * rather than by listing the log: on S3 a LIST after a key costs the keys after it, but on the
 * folder store any listing reads the log's whole folder — 15 ms at a month of five-minute batches,
 * over 400 ms at a year, several times a cycle (BENCHMARKS.md, "A month-old lake"). Above a seq a
 * stage has read, a log has no gaps: the extract numbers a batch after the newest manifest (written
 * If-None-Match, so two extracts never share a seq), and the transform publishes a batch only once
 * its predecessor's manifest exists. So the run of consecutive keys after `afterSeq` is what a
 * listing after it would find. A manifest deleted by hand ends the run early; a new process's first
 * look ({@link listWholeManifestLog}) lists the log whole and finds the gap.
 *
 * Two rounds name the next 2, then 4 keys; a longer run (a backlog after an outage) is listed from
 * there on, one request per 1,000 keys on S3, and kept up to its first gap, as the rounds are.
 */
export async function manifestSeqsAfter(store: ObjectStore, prefix: string, afterSeq: number): Promise<number[]> {
  const seqs: number[] = [];
  let next = afterSeq + 1;
  for (const width of [2, 4]) {
    const round = Array.from({ length: width }, (_, i) => next + i);
    const found = await Promise.all(round.map((seq) => store.exists(manifestKey(prefix, seq))));
    const missing = found.indexOf(false);
    if (missing !== -1) return [...seqs, ...round.slice(0, missing)];
    seqs.push(...round);
    next += width;
  }
  for (const seq of await listManifestSeqs(store, prefix, next - 1)) {
    if (seq !== next) break;
    seqs.push(seq);
    next += 1;
  }
  return seqs;
}

export const extractSeqsAfter = (store: ObjectStore, afterSeq: number): Promise<number[]> => manifestSeqsAfter(store, EXTRACT_MANIFEST_PREFIX, afterSeq);

export const transformSeqsAfter = (store: ObjectStore, afterSeq: number): Promise<number[]> => manifestSeqsAfter(store, TRANSFORM_MANIFEST_PREFIX, afterSeq);

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
 * The newest seq this process has seen (or published) in each manifest log, by store name and
 * prefix, 0 for a log it found empty: where the next look for the newest begins. Only a place to
 * start, never an answer: the next look asks for that manifest and the ones after it, and a
 * remembered manifest that is no longer there (a lake replaced under the same name) sends the look
 * back to listing the log from its beginning.
 */
const newestSeen = new Map<string, number>();

/**
 * The newest seq in a manifest log, or undefined when it is empty. A log grows by one manifest a
 * batch (288 a day at a five-minute schedule) and is never pruned, so listing it whole on every
 * run made each run's cost grow with the lake's age (on S3 one LIST per 1,000 batches, several
 * times a run; on the folder store a read of the whole folder). After the first look, a process
 * looks from the newest manifest it saw on, by name ({@link manifestSeqsAfter}): that one (still
 * there?) and the batches since, not the history. A cold Lambda container, or a new process, lists
 * the log once.
 */
export async function newestManifestSeq(store: ObjectStore, prefix: string): Promise<number | undefined> {
  const known = newestSeen.get(memoKey(store, prefix));
  if (known !== undefined) {
    // `known` 0: the log was empty (its first manifest is seq 1); else that manifest must still be there.
    const seqs = await manifestSeqsAfter(store, prefix, Math.max(known - 1, 0));
    if (known === 0 || seqs[0] === known) {
      newestSeen.set(memoKey(store, prefix), seqs.at(-1) ?? 0);
      return seqs.at(-1);
    }
  }
  return (await listWholeManifestLog(store, prefix)).at(-1);
}

/** Every seq of a manifest log, listed from its beginning; its newest is where {@link newestManifestSeq} starts next. */
export async function listWholeManifestLog(store: ObjectStore, prefix: string): Promise<number[]> {
  const seqs = await listManifestSeqs(store, prefix);
  // An empty log is remembered as 0: the next look asks for seq 1 on, rather than listing it again.
  newestSeen.set(memoKey(store, prefix), seqs.at(-1) ?? 0);
  return seqs;
}

/**
 * Tells the log's memo that this process published manifest `seq` (after its If-None-Match put
 * succeeded), so the next look starts there: one round of `exists` (that one and the next) rather
 * than two. Only a log this process has looked at is remembered; the first look still lists it whole.
 */
export function notePublishedManifest(store: ObjectStore, prefix: string, seq: number): void {
  const known = newestSeen.get(memoKey(store, prefix));
  if (known !== undefined && seq > known) newestSeen.set(memoKey(store, prefix), seq);
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
