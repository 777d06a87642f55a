import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHandler as createExtract } from '../../../functions/extract/handler';
import { createHandler as createTransform } from '../../../functions/transform/handler';
import { createHandler as createLoad } from '../../../functions/load/handler';
import type { Catalog } from '../../../functions/core/ports/catalog';
import { openFolderPipeline, unusedPort } from '../../../functions/local/folder-pipeline';
import { extractManifestKey, transformManifestKey } from '../../../functions/core/lake/lake-layout';
import { listExtractSeqs, listTransformSeqs } from '../../../functions/core/lake/manifest-log';
import type { PipelineContext } from '../../../functions/core/pipeline-context';
import { silentLog } from '../../../functions/core/ports/log';
import { ObjectExistsError } from '../../../functions/core/ports/object-store';
import type { QueryEngine } from '../../../functions/core/ports/query-engine';
import type { DatabaseLocator } from '../../../functions/core/ports/source';
import type { TransformResult } from '../../../functions/core/transform/transform';
import type { LoadResult } from '../../../functions/core/load/load';
import { LAMBDA_ENV } from './lake-fixtures';

const env = { ...LAMBDA_ENV, TOTES_COMMIT_LAG_SECONDS: '5' };

/** Stores on disk stand in for the buckets; the rest of the context is never touched by these stages. */
async function localContext() {
  const root = mkdtempSync(path.join(tmpdir(), 'totes-handler-'));
  const closed: string[] = [];
  const closable = <T extends { close(): Promise<void> }>(name: string, fields: Partial<T> = {}) => unusedPort<T>(name, { ...fields, close: async () => void closed.push(name) });
  const { ctx, stores } = await openFolderPipeline({
    lake: root,
    engine: closable<QueryEngine>('engine', { name: 'athena' }),
    catalog: unusedPort<Catalog>('catalog'),
    source: closable<DatabaseLocator>('source'),
    warehouse: closable<DatabaseLocator>('warehouse'),
    now: () => new Date('2026-11-25T20:41:00Z'),
    sqlRoot: root,
  });
  return { ctx, ...stores, closed };
}

/**
 * Stand-ins for the core stages with the core's contract: process every pending batch in order,
 * write a manifest per batch with If-None-Match. The handler tests check what the handler adds:
 * parsing, filtering, and that a duplicate event leads to no second write.
 */
async function fakeTransformPending(ctx: PipelineContext): Promise<TransformResult[]> {
  const done = new Set(await listTransformSeqs(ctx.processed));
  const out: TransformResult[] = [];
  for (const seq of await listExtractSeqs(ctx.ingestion)) {
    if (done.has(seq)) continue;
    await ctx.processed.put(transformManifestKey(seq), '{}', { ifNoneMatch: true });
    out.push({ seq, batchId: `batch-${seq}`, manifestKey: transformManifestKey(seq) } as TransformResult);
  }
  return out;
}

const loaded = new Set<number>();
async function fakeLoadPending(ctx: PipelineContext): Promise<LoadResult[]> {
  const out: LoadResult[] = [];
  for (const seq of await listTransformSeqs(ctx.processed)) {
    if (loaded.has(seq)) continue;
    loaded.add(seq);
    out.push({ seq, batchId: `batch-${seq}`, skipped: false, method: 'copy', tables: {}, elapsedMs: 1 });
  }
  return out;
}

const s3Notification = (bucket: string, key: string) => ({
  Records: [{ eventSource: 'aws:s3', eventName: 'ObjectCreated:Put', s3: { bucket: { name: bucket }, object: { key } } }],
});
const bridged = (bucket: string, key: string) => ({
  version: '0', id: 'e1', 'detail-type': 'Object Created', source: 'aws.s3', account: '123456789012', time: '2026-11-25T20:41:00Z',
  region: 'eu-west-2', resources: [`arn:aws:s3:::${bucket}`], detail: { version: '0', bucket: { name: bucket }, object: { key, size: 2 } },
});
const schedule = { version: '0', id: 's1', 'detail-type': 'Scheduled Event', source: 'aws.scheduler', account: '123456789012', time: '2026-11-25T20:40:00Z', region: 'eu-west-2', resources: [], detail: {} };

describe('transform handler', () => {
  it('transforms the pending batch once; a duplicate or replayed event does nothing', async () => {
    const { ctx, ingestion, processed, closed } = await localContext();
    await ingestion.put(extractManifestKey(1), '{}');
    const handler = createTransform({ env, log: silentLog, context: () => ctx, transformPending: fakeTransformPending });
    const event = bridged('totes-ingestion', extractManifestKey(1));
    expect(await handler(event)).toEqual({ batches: ['batch-1'], ignored: [] });
    expect(await handler(event)).toEqual({ batches: [], ignored: [] });
    expect(await handler(s3Notification('totes-ingestion', extractManifestKey(1)))).toEqual({ batches: [], ignored: [] });
    expect(await listTransformSeqs(processed)).toEqual([1]);
    expect(closed.filter((c) => c === 'engine')).toHaveLength(3);
  });

  it('ignores objects that are not extract manifests of the ingestion bucket', async () => {
    const { ctx, ingestion, processed } = await localContext();
    await ingestion.put(extractManifestKey(1), '{}');
    const handler = createTransform({ env, log: silentLog, context: () => ctx, transformPending: fakeTransformPending });
    const result = await handler(s3Notification('totes-ingestion', 'raw/staff/dt=2026-11-25/x.ndjson.gz'));
    expect(result).toEqual({ batches: [], ignored: ['s3://totes-ingestion/raw/staff/dt=2026-11-25/x.ndjson.gz'] });
    expect((await handler(bridged('other-bucket', extractManifestKey(1)))).ignored).toHaveLength(1);
    expect(await listTransformSeqs(processed)).toEqual([]);
  });

  it('rejects a malformed event before doing any work', async () => {
    const { ctx, ingestion, processed } = await localContext();
    await ingestion.put(extractManifestKey(1), '{}');
    const handler = createTransform({ env, log: silentLog, context: () => ctx, transformPending: fakeTransformPending });
    await expect(handler({ Records: [] })).rejects.toThrow(/Neither a schedule tick nor an S3 "Object Created" event/);
    await expect(handler({ ...schedule, time: 'yesterday' })).rejects.toThrow(/Schedule tick: time/);
    await expect(handler({ ...bridged('b', 'k'), detail: { bucket: { name: 'b' } } })).rejects.toThrow(/detail.object/);
    expect(await listTransformSeqs(processed)).toEqual([]);
  });

  it('decodes URL-encoded keys of S3 notifications', async () => {
    const { ctx } = await localContext();
    const handler = createTransform({ env, log: silentLog, context: () => ctx, transformPending: fakeTransformPending });
    expect((await handler(s3Notification('totes-ingestion', 'a+b%2Cc.json'))).ignored).toEqual(['s3://totes-ingestion/a b,c.json']);
  });
});

describe('load handler', () => {
  beforeEach(() => loaded.clear());

  it('loads once per batch; duplicates load nothing', async () => {
    const { ctx, processed } = await localContext();
    await processed.put(transformManifestKey(1), '{}');
    const handler = createLoad({ env: { ...env, TOTES_INGESTION_BUCKET: '' }, log: silentLog, context: () => ctx, loadPending: fakeLoadPending });
    const event = bridged('totes-processed', transformManifestKey(1));
    expect(await handler(event)).toEqual({ loaded: ['batch-1'], ignored: [] });
    expect(await handler(event)).toEqual({ loaded: [], ignored: [] });
  });

  it('ignores extract manifests and rejects malformed events', async () => {
    const { ctx } = await localContext();
    const handler = createLoad({ env, log: silentLog, context: () => ctx, loadPending: fakeLoadPending });
    expect((await handler(bridged('totes-ingestion', extractManifestKey(1)))).loaded).toEqual([]);
    await expect(handler('not an event')).rejects.toThrow(/Neither a schedule tick nor an S3 "Object Created" event \(EventBridge or S3 notification\): "not an event"/);
  });
});

/**
 * Heal on the next tick: a stage that failed through its retries while the source is quiet (no new
 * manifest will ever trigger it again) resumes on a tick of its own schedule once the cause is
 * gone; the failed event, redriven from the dead-letter queue afterwards, does nothing.
 */
describe('ticks', () => {
  beforeEach(() => loaded.clear());
  const tick = { ...schedule, time: '2026-11-25T20:45:00Z', resources: ['arn:aws:scheduler:eu-west-2:123456789012:schedule/default/totes-lake-transform-schedule'] };

  it('a transform that failed past its retries resumes on the next tick; the redriven event then does nothing', async () => {
    const { ctx, ingestion, processed } = await localContext();
    await ingestion.put(extractManifestKey(1), '{}');
    let athenaDown = true;
    const flaky = async (c: PipelineContext) => {
      if (athenaDown) throw new Error('ThrottlingException: Rate exceeded');
      return fakeTransformPending(c);
    };
    const handler = createTransform({ env, log: silentLog, context: () => ctx, transformPending: flaky });
    const event = bridged('totes-ingestion', extractManifestKey(1));
    for (let attempt = 0; attempt < 3; attempt++) await expect(handler(event)).rejects.toThrow(/ThrottlingException/); // the invocation and Lambda's two retries
    expect(await listTransformSeqs(processed)).toEqual([]);
    athenaDown = false;
    expect(await handler(tick)).toEqual({ batches: ['batch-1'], ignored: [] });
    expect(await handler(event)).toEqual({ batches: [], ignored: [] }); // redriven from the DLQ
    expect(await handler(tick)).toEqual({ batches: [], ignored: [] });
    expect(await listTransformSeqs(processed)).toEqual([1]);
  });

  it('a load that failed resumes on the next tick, which also reports freshness; redriven and late triggers load nothing twice', async () => {
    const { ctx, processed } = await localContext();
    await processed.put(transformManifestKey(1), '{}');
    let warehouseDown = true;
    const flaky = async (c: PipelineContext) => {
      if (warehouseDown) throw new Error('Cannot connect to the warehouse');
      return fakeLoadPending(c);
    };
    const measured: number[] = [];
    const handler = createLoad({ env, log: silentLog, context: () => ctx, loadPending: flaky, newestLoaded: async () => (measured.push(1), null) });
    const event = bridged('totes-processed', transformManifestKey(1));
    await expect(handler(event)).rejects.toThrow(/Cannot connect/);
    warehouseDown = false;
    expect((await handler(tick)).loaded).toEqual(['batch-1']);
    expect((await handler(event)).loaded).toEqual([]);
    expect((await handler({ ...tick, time: '2026-11-20T00:00:00Z' })).loaded).toEqual([]); // a tick that waited days in a queue
    expect(measured).toHaveLength(3); // every run that got past the load measured freshness
  });
});

describe('extract handler', () => {
  it('passes the commit lag and a deadline inside the Lambda budget; a repeated schedule publishes nothing twice', async () => {
    const { ctx, ingestion } = await localContext();
    const seen: { commitLagSeconds?: number; deadline?: Date }[] = [];
    const fakeExtract = async (c: PipelineContext, options: { commitLagSeconds?: number; deadline?: Date } = {}) => {
      seen.push(options);
      try {
        await c.ingestion.put(extractManifestKey(1), '{}', { ifNoneMatch: true });
        return { published: true, batchId: 'b1', seq: 1, rows: {}, bytes: 0, elapsedMs: 0, warnings: [] };
      } catch (err) {
        if (!(err instanceof ObjectExistsError)) throw err;
        return { published: false, reason: 'lost-race' as const, batchId: 'b1', seq: 1, rows: {}, bytes: 0, elapsedMs: 0, warnings: [] };
      }
    };
    const handler = createExtract({ env, log: silentLog, context: () => ctx, extract: fakeExtract });
    const before = Date.now();
    const first = await handler(schedule, { getRemainingTimeInMillis: () => 300_000 });
    const second = await handler(schedule, { getRemainingTimeInMillis: () => 300_000 });
    expect([first.published, second.published]).toEqual([true, false]);
    expect(await listExtractSeqs(ingestion)).toEqual([1]);
    expect(seen[0].commitLagSeconds).toBe(5);
    const budget = seen[0].deadline!.getTime() - before;
    expect(budget).toBeGreaterThan(230_000);
    expect(budget).toBeLessThanOrEqual(241_000);
  });

  it('rejects events that are not schedules, and bad environment values by name', async () => {
    const { ctx } = await localContext();
    const handler = createExtract({ env, log: silentLog, context: () => ctx, extract: async () => { throw new Error('must not run'); } });
    await expect(handler(bridged('b', 'k'))).rejects.toThrow(/Not an EventBridge schedule event/);
    await expect(handler({ ...schedule, time: 'yesterday' })).rejects.toThrow(/time/);
    const bad = createExtract({ env: { ...env, TOTES_COMMIT_LAG_SECONDS: '-1' }, log: silentLog, context: () => ctx });
    await expect(bad(schedule)).rejects.toThrow(/TOTES_COMMIT_LAG_SECONDS/);
  });
});
