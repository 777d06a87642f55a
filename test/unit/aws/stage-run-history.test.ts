import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHandler as createExtract } from '../../../functions/extract/handler';
import { createHandler as createTransform } from '../../../functions/transform/handler';
import { createHandler as createLoad } from '../../../functions/load/handler';
import type { ExtractResult } from '../../../functions/core/extract/extract';
import { extractManifestKey, quarantineKey, transformManifestKey } from '../../../functions/core/lake/lake-layout';
import type { TransformManifest } from '../../../functions/core/lake/manifests';
import type { LoadResult } from '../../../functions/core/load/load';
import { writeExtractHeartbeat } from '../../../functions/core/lake/extract-heartbeat';
import { readRunHistory } from '../../../functions/core/operate/run-history';
import type { ObjectStore } from '../../../functions/core/ports/object-store';
import type { QueryEngine } from '../../../functions/core/ports/query-engine';
import { QuarantinedBatchError } from '../../../functions/core/transform/data-tests';
import type { TransformResult } from '../../../functions/core/transform/transform';
import type { Catalog } from '../../../functions/core/ports/catalog';
import { openFolderPipeline, unusedPort } from '../../../functions/local/folder-pipeline';
import { batchIdOf, LAMBDA_ENV, putExtractManifest, recordingLog } from './lake-fixtures';

/**
 * Each Lambda adds its stage's record to the run history in the processed store, in the format a
 * local cycle writes: these tests run the handlers over folder stores (StageDeps.context) and read
 * the history back with the core reader `totes status` and `totes docs` use.
 */

const env = LAMBDA_ENV;
const NOW = new Date('2026-11-25T20:45:00.000Z');
const B1 = batchIdOf(1);
const schedule = { version: '0', id: 's1', 'detail-type': 'Scheduled Event', source: 'aws.scheduler', account: '123456789012', time: '2026-11-25T20:45:00Z', region: 'eu-west-2', resources: [], detail: {} };
const created = (bucket: string, key: string) => ({
  version: '0', id: 'e1', 'detail-type': 'Object Created', source: 'aws.s3', account: '123456789012', time: '2026-11-25T20:45:00Z',
  region: 'eu-west-2', resources: [`arn:aws:s3:::${bucket}`], detail: { version: '0', bucket: { name: bucket }, object: { key, size: 2 } },
});

async function lake(options: { processed?: ObjectStore } = {}) {
  const root = mkdtempSync(path.join(tmpdir(), 'totes-runs-'));
  const { log, lines, metrics } = recordingLog();
  let clock = NOW.getTime();
  const { ctx } = await openFolderPipeline({
    lake: root, processed: options.processed, log, sqlRoot: root,
    engine: unusedPort<QueryEngine>('engine', { name: 'athena' }), catalog: unusedPort<Catalog>('catalog'),
    // Each call a second later, so two runs never share a start time.
    now: () => new Date((clock += 1000)),
  });
  const deps = { env, log, context: () => ctx };
  return { ctx, ingestion: ctx.ingestion, processed: ctx.processed, deps, lines, metrics };
}

const extracted = (published: boolean, reason?: ExtractResult['reason']): ExtractResult => ({
  published, ...(reason ? { reason } : {}), batchId: B1, seq: 1, rows: { staff: 20, sales_order: 7 }, bytes: 4096, elapsedMs: 5, warnings: [],
});

describe('extract run records', () => {
  it('records a published batch with rows per table, then a run that found nothing new', async () => {
    const { processed, deps } = await lake();
    const results = [extracted(true), extracted(false, 'nothing-new')];
    const handler = createExtract({ ...deps, extract: async () => results.shift()! });
    await handler(schedule);
    await handler(schedule);
    const { records, unreadable } = await readRunHistory(processed);
    expect(unreadable).toEqual([]);
    expect(records.map((r) => [r.outcome, r.batchId])).toEqual([['success', B1], ['nothing-new', null]]);
    expect(records[0].key).toMatch(new RegExp(`^runs/20261125T2045\\d\\d\\.\\d{3}Z-${B1}\\.json$`));
    expect(records[0].stages).toEqual({
      extract: { elapsedMs: expect.any(Number), published: true, batchId: B1, seq: 1, rows: { staff: 20, sales_order: 7 }, bytes: 4096, warnings: [] },
    });
    expect(records[1].stages.extract).toMatchObject({ published: false, reason: 'nothing-new' });
  });

  it('records a failed extract with its error, and still fails the invocation', async () => {
    const { processed, deps } = await lake();
    const handler = createExtract({ ...deps, extract: async () => { throw new Error('totesys refused the connection'); } });
    await expect(handler(schedule)).rejects.toThrow('totesys refused the connection');
    const [record] = (await readRunHistory(processed)).records;
    expect(record).toMatchObject({ outcome: 'failed', batchId: null, failure: { stage: 'extract', error: 'totesys refused the connection' }, stages: {} });
  });

  it('a history that cannot be written is a warning, not a failed stage', async () => {
    const broken = { name: 'broken', put: async () => { throw new Error('AccessDenied'); } } as unknown as ObjectStore;
    const { deps, lines } = await lake({ processed: broken });
    const handler = createExtract({ ...deps, extract: async () => extracted(true) });
    expect((await handler(schedule)).published).toBe(true);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', message: expect.stringMatching(/Could not write the extract run record: AccessDenied/) }));
  });
});

const transformed = (seq: number, dataTests: TransformManifest['dataTests']): TransformResult => {
  const output = (rows: number, origin: string) => ({ kind: 'fact' as const, prefix: 'p/', files: [], rows, origin, sqlHash: 'h', bytesScanned: 10, elapsedMs: 3 });
  return {
    seq, batchId: batchIdOf(seq), manifestKey: transformManifestKey(seq),
    manifest: { star: { fact_sales_order: output(7, 'sql/transform/fact_sales_order.sql') }, dataTests } as unknown as TransformManifest,
  };
};

describe('transform run records', () => {
  it('records the batches, rows per star table and the data tests of their manifests', async () => {
    const { processed, deps } = await lake();
    const tests = [{ name: 'unique(sales_record_id)', table: 'fact_sales_order', passed: true, failures: 0 }];
    const handler = createTransform({ ...deps, transformPending: async () => [transformed(1, tests)] });
    expect((await handler(created('totes-ingestion', extractManifestKey(1)))).batches).toEqual([B1]);
    const [record] = (await readRunHistory(processed)).records;
    expect(record).toMatchObject({ outcome: 'success', batchId: B1, engine: 'athena', dataTests: tests });
    expect(record.stages.transform).toEqual({
      elapsedMs: expect.any(Number),
      batches: [{ batchId: B1, seq: 1, tables: { fact_sales_order: { rows: 7, elapsedMs: 3, origin: 'sql/transform/fact_sales_order.sql' } } }],
    });
  });

  it('records nothing for an event it ignores, and nothing-new when no batch was pending', async () => {
    const { processed, deps } = await lake();
    const handler = createTransform({ ...deps, transformPending: async () => [] });
    await handler(created('totes-ingestion', 'raw/staff/dt=2026-11-25/x.ndjson.gz'));
    expect((await readRunHistory(processed)).records).toEqual([]);
    await handler(created('totes-ingestion', extractManifestKey(1)));
    expect((await readRunHistory(processed)).records.map((r) => [r.outcome, r.stages.transform?.batches])).toEqual([['nothing-new', []]]);
  });

  it('a tick records a run only when it transformed something or failed', async () => {
    const { processed, deps } = await lake();
    const pending = [[], [transformed(1, [])]];
    const handler = createTransform({ ...deps, transformPending: async () => pending.shift()! });
    expect(await handler(schedule)).toEqual({ batches: [], ignored: [] });
    expect((await readRunHistory(processed)).records).toEqual([]);
    expect(await handler(schedule)).toEqual({ batches: [B1], ignored: [] });
    expect((await readRunHistory(processed)).records.map((r) => [r.outcome, r.batchId])).toEqual([['success', B1]]);
  });

  it('records a quarantined batch as failed, with its batch and the data tests of its report', async () => {
    const { processed, deps } = await lake();
    const report = {
      kind: 'quarantine', batchId: B1, seq: 1, at: NOW.toISOString(), reason: 'data tests failed',
      failingTests: [{ name: 'not_null(currency_id)', table: 'fact_sales_order', passed: false, failures: 2, sample: [{ currency_id: null }] }],
      passedTests: ['dim_staff unique(staff_id)'],
    };
    const handler = createTransform({
      ...deps,
      transformPending: async (ctx) => {
        await ctx.processed.put(quarantineKey(B1), JSON.stringify(report));
        throw new QuarantinedBatchError(B1, quarantineKey(B1), `batch ${B1} is quarantined`);
      },
    });
    await expect(handler(created('totes-ingestion', extractManifestKey(1)))).rejects.toThrow(/quarantined/);
    const [record] = (await readRunHistory(processed)).records;
    expect(record).toMatchObject({ outcome: 'failed', batchId: B1, failure: { stage: 'transform', error: `batch ${B1} is quarantined` } });
    expect(record.key.endsWith(`-${B1}.json`)).toBe(true);
    expect(record.dataTests).toEqual([
      { name: 'not_null(currency_id)', table: 'fact_sales_order', passed: false, failures: 2 },
      { name: 'unique(staff_id)', table: 'dim_staff', passed: true, failures: 0 },
    ]);
  });
});

describe('load run records', () => {
  const loadedBatch = (seq: number, skipped = false): LoadResult => ({
    seq, batchId: batchIdOf(seq), skipped, method: 'copy', tables: { fact_sales_order: { read: 7, written: 7, files: 1 } }, elapsedMs: 4,
  });

  it('records rows per table and the freshness it emits as FreshnessSeconds', async () => {
    const { ingestion, processed, deps, metrics } = await lake();
    await putExtractManifest(ingestion, 1, { sales_order: '2026-11-25 20:40:00.000', staff: '2026-11-25 20:30:00.000' });
    const handler = createLoad({ ...deps, loadPending: async () => [loadedBatch(1)], newestLoaded: async () => ({ seq: 1, batchId: B1, loadedAt: null }) });
    expect((await handler(created('totes-processed', transformManifestKey(1)))).loaded).toEqual([B1]);
    const [record] = (await readRunHistory(processed)).records;
    expect(record.outcome).toBe('success');
    expect(record.stages.load?.batches).toEqual([{ batchId: B1, seq: 1, skipped: false, tables: { fact_sales_order: { read: 7, written: 7 } } }]);
    // Batch 1 read up to 20:40:00.000; the clock has moved a little past NOW by the time freshness is measured.
    expect(record.freshness).toMatchObject({ sourceAt: '2026-11-25 20:40:00.000', batchId: B1, seq: 1, via: 'batch' });
    expect(record.freshness?.seconds).toBeGreaterThanOrEqual(300);
    expect(record.freshness?.seconds).toBeLessThan(320);
    const emitted = metrics.filter((m) => m.name === 'FreshnessSeconds');
    expect(emitted).toEqual([{ name: 'FreshnessSeconds', value: Math.round(record.freshness!.seconds), unit: 'Seconds', dimensions: undefined }]);
  });

  it('a tick that loads nothing still measures and records freshness: a quiet source stays fresh', async () => {
    const { ingestion, processed, deps, metrics } = await lake();
    await putExtractManifest(ingestion, 1, {});
    // A quiet extract after batch 1 read up to 20:44:30 (NOW is 20:45).
    await writeExtractHeartbeat(processed, { afterSeq: 1, afterBatchId: B1, snapshotAt: '2026-11-25 20:44:30.000', upperBound: '2026-11-25 20:44:30.000', at: NOW.toISOString() });
    const handler = createLoad({ ...deps, loadPending: async () => [], newestLoaded: async () => ({ seq: 1, batchId: B1, loadedAt: null }) });
    const result = await handler(schedule);
    expect(result.loaded).toEqual([]);
    expect(result.freshnessSeconds).toBeLessThan(60);
    const [record] = (await readRunHistory(processed)).records;
    expect(record).toMatchObject({ outcome: 'nothing-new', batchId: null, freshness: { sourceAt: '2026-11-25 20:44:30.000', via: 'heartbeat' } });
    expect(metrics.filter((m) => m.name === 'FreshnessSeconds')).toHaveLength(1);
  });

  it('a duplicate event that loads nothing records nothing-new, with the freshness it measured', async () => {
    const { ingestion, processed, deps, metrics } = await lake();
    await putExtractManifest(ingestion, 1, {});
    const handler = createLoad({ ...deps, loadPending: async () => [loadedBatch(1, true)], newestLoaded: async () => ({ seq: 1, batchId: B1, loadedAt: null }) });
    await handler(created('totes-processed', transformManifestKey(1)));
    const [record] = (await readRunHistory(processed)).records;
    expect(record).toMatchObject({ outcome: 'nothing-new', batchId: null, freshness: { batchId: B1 } });
    expect(metrics.filter((m) => m.name === 'FreshnessSeconds')).toHaveLength(1);
  });

  it('records a failed load', async () => {
    const { processed, deps } = await lake();
    const handler = createLoad({ ...deps, loadPending: async () => { throw new Error('warehouse is read-only'); } });
    await expect(handler(created('totes-processed', transformManifestKey(1)))).rejects.toThrow('warehouse is read-only');
    expect((await readRunHistory(processed)).records[0]).toMatchObject({ outcome: 'failed', failure: { stage: 'load', error: 'warehouse is read-only' } });
  });
});
