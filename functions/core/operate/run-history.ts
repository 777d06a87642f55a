import { z } from 'zod';
import { RUNS_PREFIX, runRecordKey, runRecordsFrom } from '../lake/lake-layout';
import type { ExtractResult } from '../extract/extract';
import type { LoadResult } from '../load/load';
import type { TransformResult } from '../transform/transform';
import { getText, type ObjectStore } from '../ports/object-store';
import { concurrently } from '../transform/concurrently';
import type { Freshness } from './freshness';
import { RunRecord, type DataTestResult, type ExtractStageRecord, type LoadStageRecord, type RunOutcome, type TransformStageRecord } from './run-record';

/**
 * The run history: one JSON record per run under `runs/` in the processed store, written by the
 * core so a local cycle and the cloud stages keep the same history. Records are only ever added
 * (a new key per run), never rewritten, so concurrent runs cannot lose each other's records.
 */

/** What a finished (or failed) run knows about itself; see {@link buildRunRecord}. */
export interface RunParts {
  startedAt: Date;
  finishedAt: Date;
  engine?: string;
  extract?: { result: ExtractResult; elapsedMs: number };
  transform?: { results: TransformResult[]; elapsedMs: number };
  load?: { results: LoadResult[]; elapsedMs: number };
  failure?: { stage: string; error: string };
  freshness?: Freshness;
  dataTests?: DataTestResult[];
}

/**
 * Builds the record of a run from its stage results. Outcome: `failed` when any stage failed;
 * `nothing-new` when no batch was extracted, transformed or loaded; `success` otherwise (a run
 * that only finished an earlier batch's transform or load is a success).
 */
export function buildRunRecord(parts: RunParts): RunRecord {
  const extracted = parts.extract?.result;
  const batchId = extracted?.published
    ? extracted.batchId
    : (parts.transform?.results.at(-1)?.batchId ?? parts.load?.results.filter((r) => !r.skipped).at(-1)?.batchId ?? null);
  const didWork = Boolean(extracted?.published) || (parts.transform?.results.length ?? 0) > 0 || (parts.load?.results.some((r) => !r.skipped) ?? false);
  const outcome: RunOutcome = parts.failure ? 'failed' : didWork ? 'success' : 'nothing-new';
  // The transform's write-audit-publish data tests travel in its manifests; a caller may also pass its own.
  const fromManifests = parts.transform?.results.flatMap((r) => r.manifest.dataTests ?? []) ?? [];
  const dataTests = parts.dataTests ?? (fromManifests.length ? fromManifests : undefined);
  const record: RunRecord = {
    kind: 'run',
    version: 1,
    key: runRecordKey(parts.startedAt, batchId ?? undefined),
    startedAt: parts.startedAt.toISOString(),
    finishedAt: parts.finishedAt.toISOString(),
    outcome,
    batchId,
    ...(parts.engine ? { engine: parts.engine } : {}),
    ...(parts.failure ? { failure: parts.failure } : {}),
    stages: {
      ...(parts.extract ? { extract: extractStage(parts.extract.result, parts.extract.elapsedMs) } : {}),
      ...(parts.transform ? { transform: transformStage(parts.transform.results, parts.transform.elapsedMs) } : {}),
      ...(parts.load ? { load: loadStage(parts.load.results, parts.load.elapsedMs) } : {}),
    },
    ...(parts.freshness ? { freshness: parts.freshness } : {}),
    ...(dataTests ? { dataTests } : {}),
  };
  return RunRecord.parse(record);
}

function extractStage(result: ExtractResult, elapsedMs: number): ExtractStageRecord {
  return {
    elapsedMs,
    published: result.published,
    ...(result.reason ? { reason: result.reason } : {}),
    batchId: result.batchId,
    seq: result.seq,
    rows: Object.fromEntries(Object.entries(result.rows).map(([t, n]) => [t, n ?? 0])),
    bytes: result.bytes,
    warnings: result.warnings,
  };
}

function transformStage(results: TransformResult[], elapsedMs: number): TransformStageRecord {
  return {
    elapsedMs,
    batches: results.map((r) => ({
      batchId: r.batchId,
      seq: r.seq,
      tables: Object.fromEntries(Object.entries(r.manifest.star).map(([t, o]) => [t, { rows: o.rows, elapsedMs: o.elapsedMs, origin: o.origin }])),
      ...(r.manifest.modelChanges?.length ? { modelChanges: r.manifest.modelChanges } : {}),
      ...(r.manifest.engineQueries ? { engineQueries: r.manifest.engineQueries } : {}),
    })),
  };
}

function loadStage(results: LoadResult[], elapsedMs: number): LoadStageRecord {
  return {
    elapsedMs,
    batches: results.map((r) => ({
      batchId: r.batchId,
      seq: r.seq,
      skipped: r.skipped,
      tables: Object.fromEntries(Object.entries(r.tables).map(([t, l]) => [t, { read: l?.read ?? 0, written: l?.written ?? 0 }])),
    })),
  };
}

/** Adds a record to the history (never overwrites: a second record for the same key is an error). */
export async function writeRunRecord(store: ObjectStore, record: RunRecord): Promise<string> {
  await store.put(record.key, `${JSON.stringify(RunRecord.parse(record), null, 2)}\n`, { ifNoneMatch: true, contentType: 'application/json' });
  return record.key;
}

export interface RunHistory {
  records: RunRecord[];
  /** Keys that could not be read or parsed, with why: shown, never silently dropped. */
  unreadable: { key: string; error: string }[];
}

/**
 * The newest `last` records (all when omitted), oldest first; with `since`, those of the runs
 * started at or after it. With `last`, the records of the day before `now` are listed first (keys
 * begin with the run's start time: lake-layout.ts `runRecordKey`), and the whole history only when
 * that day holds fewer: `totes status` costs the latest runs, not the lake's age (a year of
 * five-minute runs is ~105,000 records, or three times that when each cloud stage keeps its own: a
 * LIST request per 1,000). The answer is the same either way, whatever the clocks: the day's
 * listing has no upper end. `since` lists from there only (`totes docs`' window). The records are
 * read {@link READ_CONCURRENCY} at a time: one after another, a day's 288 cost as many S3 round trips.
 */
export async function readRunHistory(store: ObjectStore, options: { last?: number; now?: Date; since?: Date } = {}): Promise<RunHistory> {
  const { last, since } = options;
  let keys = since ? await runKeys(store, since) : last === undefined ? [] : await runKeys(store, new Date((options.now ?? new Date()).getTime() - RECENT_RUNS_MS));
  if (!since && (last === undefined || keys.length < last)) keys = await runKeys(store);
  const wanted = last === undefined ? keys : keys.slice(Math.max(0, keys.length - last));
  const read = await concurrently(
    wanted,
    async (key): Promise<RunRecord | { key: string; error: string }> => {
      try {
        const parsed = RunRecord.safeParse(JSON.parse(await getText(store, key)));
        return parsed.success ? parsed.data : { key, error: z.prettifyError(parsed.error) };
      } catch (err) {
        return { key, error: (err as Error).message };
      }
    },
    READ_CONCURRENCY,
  );
  const history: RunHistory = { records: [], unreadable: [] };
  for (const one of read) {
    if ('error' in one) history.unreadable.push(one);
    else history.records.push(one);
  }
  return history;
}

/** Run records (or manifests) read at once by the operator's commands: S3 GETs of a few KB each. */
export const READ_CONCURRENCY = 16;

/** How far back `readRunHistory` first looks for the latest runs: a day (288 five-minute runs). */
const RECENT_RUNS_MS = 24 * 60 * 60_000;

/** The keys of run records, in time order: all, or those of runs started at or after `since`. */
async function runKeys(store: ObjectStore, since?: Date): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(RUNS_PREFIX, since ? { startAfter: runRecordsFrom(since) } : {})) if (info.key.endsWith('.json')) keys.push(info.key);
  return keys;
}
