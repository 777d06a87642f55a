import { SOURCE_TABLE_NAMES } from '../../../functions/core/contract/source-tables';
import { extractManifestKey } from '../../../functions/core/lake/lake-layout';
import { ExtractManifest } from '../../../functions/core/lake/manifests';
import type { Log } from '../../../functions/core/ports/log';
import type { ObjectStore } from '../../../functions/core/ports/object-store';

/** The functions' environment as the stack sets it (buckets, Glue databases, workgroup): what the handler tests run with. */
export const LAMBDA_ENV = {
  TOTES_INGESTION_BUCKET: 'totes-ingestion',
  TOTES_PROCESSED_BUCKET: 'totes-processed',
  TOTES_GLUE_RAW_DATABASE: 'totes_raw',
  TOTES_GLUE_PROCESSED_DATABASE: 'totes_processed',
  TOTES_ATHENA_WORKGROUP: 'totes',
};

/** A batch id of sequence `seq`, in the lake's format. */
export const batchIdOf = (seq: number): string => `${String(seq).padStart(10, '0')}-20261125T2040${String(seq % 60).padStart(2, '0')}Z-abcd`;

/**
 * Publishes a valid extract manifest for batch `seq` whose tables' newest source `last_updated`
 * are `newest` (others null): what the load reads to measure freshness.
 */
export async function putExtractManifest(store: ObjectStore, seq: number, newest: Partial<Record<string, string>>): Promise<ExtractManifest> {
  const table = (maxLastUpdated: string | null) => ({ files: [], rows: 0, window: { from: null, upperBound: '2026-11-25 20:40:00.000' }, cursor: null, maxLastUpdated });
  const manifest = ExtractManifest.parse({
    kind: 'extract',
    version: 1,
    batchId: batchIdOf(seq),
    seq,
    previousBatchId: seq > 1 ? batchIdOf(seq - 1) : null,
    startedAt: '2026-11-25T20:40:00.000Z',
    finishedAt: '2026-11-25T20:40:01.000Z',
    snapshotAt: '2026-11-25 20:40:00.000',
    tables: Object.fromEntries(SOURCE_TABLE_NAMES.map((t) => [t, table(newest[t] ?? null)])),
  });
  await store.put(extractManifestKey(seq), JSON.stringify(manifest));
  return manifest;
}

/** A log that keeps what it is told, for asserting on metrics and warnings. */
export function recordingLog() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const metrics: { name: string; value: number; unit: string; dimensions?: Record<string, string> }[] = [];
  const log: Log = {
    info: (message, fields) => void lines.push({ level: 'info', message, fields }),
    warn: (message, fields) => void lines.push({ level: 'warn', message, fields }),
    error: (message, fields) => void lines.push({ level: 'error', message, fields }),
    progress() {},
    metric: (name, value, unit, dimensions) => void metrics.push({ name, value, unit, dimensions }),
  };
  return { log, lines, metrics };
}
