import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SOURCE_TABLE_NAMES } from '../../../functions/core/contract/source-tables';
import { writeExtractHeartbeat } from '../../../functions/core/lake/extract-heartbeat';
import { STAR_TABLE_NAMES } from '../../../functions/core/contract/star-tables';
import { extractManifestKey, transformManifestKey } from '../../../functions/core/lake/lake-layout';
import { ExtractManifest, TransformManifest } from '../../../functions/core/lake/manifests';
import { freshnessOf, measureFreshness } from '../../../functions/core/operate/freshness';
import { judgeSla } from '../../../functions/core/operate/pipeline-status';
import { RunRecord } from '../../../functions/core/operate/run-record';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';

/**
 * The definition of freshness (core/operate/freshness.ts) on lakes a test writes by hand: batches
 * with their bounds, heartbeats of quiet extracts, and which batch the warehouse holds last.
 */

const batchIdOf = (seq: number): string => `${String(seq).padStart(10, '0')}-20261125T090000Z-abcd`;

/** Batch `seq` whose extract read up to `bound` (every table's window ends there). */
function manifest(seq: number, bound: string): ExtractManifest {
  return ExtractManifest.parse({
    kind: 'extract', version: 1, batchId: batchIdOf(seq), seq, previousBatchId: seq > 1 ? batchIdOf(seq - 1) : null,
    startedAt: '2026-11-25T09:00:00.000Z', finishedAt: '2026-11-25T09:00:01.000Z', snapshotAt: bound,
    tables: Object.fromEntries(SOURCE_TABLE_NAMES.map((t) => [t, { files: [], rows: 1, window: { from: null, upperBound: bound }, cursor: null, maxLastUpdated: '2024-06-01 00:00:00.000' }])),
  });
}

/** Transform manifest of batch `seq`, with the bound its extract read up to (no outputs: freshness reads none). */
function transformManifest(seq: number, bound: string): TransformManifest {
  const output = { kind: 'current', prefix: 'current/x/', files: [], rows: 0, origin: 'generated', sqlHash: 'h', bytesScanned: 0, elapsedMs: 0 };
  return TransformManifest.parse({
    kind: 'transform', version: 1, batchId: batchIdOf(seq), seq, engine: 'duckdb', startedAt: '', finishedAt: '',
    current: Object.fromEntries(SOURCE_TABLE_NAMES.map((t) => [t, 'current/x/'])),
    currentOutputs: Object.fromEntries(SOURCE_TABLE_NAMES.map((t) => [t, output])),
    star: Object.fromEntries(STAR_TABLE_NAMES.map((t) => [t, { ...output, kind: 'fact' }])),
    extract: { snapshotAt: bound, upperBound: bound },
  });
}

function lake() {
  const root = mkdtempSync(path.join(tmpdir(), 'totes-freshness-'));
  const stores = { ingestion: new FolderObjectStore(path.join(root, 'ingestion')), processed: new FolderObjectStore(path.join(root, 'processed')) };
  return {
    stores,
    /** Publishes batch `seq` with bound `bound`. */
    batch: async (seq: number, bound: string) => stores.ingestion.put(extractManifestKey(seq), JSON.stringify(manifest(seq, bound))),
    /** A quiet extract after batch `afterSeq` read up to `bound`. */
    quiet: (afterSeq: number, bound: string) =>
      writeExtractHeartbeat(stores.processed, { afterSeq, afterBatchId: batchIdOf(afterSeq), snapshotAt: bound, upperBound: bound, at: `${bound.replace(' ', 'T')}Z` }),
    loaded: (seq: number) => ({ seq, batchId: batchIdOf(seq) }),
  };
}

const at = (text: string) => new Date(`${text.replace(' ', 'T')}Z`);

describe('freshness = now − the source instant the warehouse reflects', () => {
  it('first run: nothing loaded yet, so freshness is unknown and the SLA breached', async () => {
    const { stores, batch } = lake();
    await batch(1, '2026-11-25 09:00:00.000');
    expect(await measureFreshness(stores, null, at('2026-11-25 09:01:00.000'))).toBeUndefined();
    expect(judgeSla(undefined, 60, true)).toMatchObject({ breached: true, reason: 'no batch has been loaded into the warehouse yet' });
  });

  it('first batch loaded: the instant is its bound', async () => {
    const { stores, batch, loaded } = lake();
    await batch(1, '2026-11-25 09:00:00.000');
    expect(await measureFreshness(stores, loaded(1), at('2026-11-25 09:00:45.000'))).toEqual({
      sourceAt: '2026-11-25 09:00:00.000', seconds: 45, batchId: batchIdOf(1), seq: 1, via: 'batch',
    });
  });

  it('quiet source: each extract that finds nothing new keeps the warehouse within one tick, for hours', async () => {
    const { stores, batch, quiet, loaded } = lake();
    await batch(1, '2026-11-25 09:00:00.000');
    // Every five minutes from 09:05 to 21:00 the source had nothing new: no batch, one heartbeat each.
    for (let minute = 5; minute <= 12 * 60; minute += 5) {
      const t = new Date(at('2026-11-25 09:00:00.000').getTime() + minute * 60_000).toISOString().replace('T', ' ').replace('Z', '');
      await quiet(1, t);
    }
    const freshness = await measureFreshness(stores, loaded(1), at('2026-11-25 21:02:00.000'));
    expect(freshness).toMatchObject({ sourceAt: '2026-11-25 21:00:00.000', seconds: 120, via: 'heartbeat', seq: 1 });
    expect(judgeSla(freshness!.seconds, 300, true).breached).toBe(false);
  });

  it('backlog: batches extracted but not loaded do not count, nor the quiet extracts after them', async () => {
    const { stores, batch, quiet, loaded } = lake();
    await batch(1, '2026-11-25 09:00:00.000');
    await quiet(1, '2026-11-25 09:05:00.000');
    await batch(2, '2026-11-25 09:10:00.000');
    await batch(3, '2026-11-25 09:15:00.000');
    await quiet(3, '2026-11-25 09:20:00.000');
    // The warehouse still holds batch 1: it reflects totesys as of the last quiet extract after it.
    expect(await measureFreshness(stores, loaded(1), at('2026-11-25 09:21:00.000'))).toMatchObject({ sourceAt: '2026-11-25 09:05:00.000', seconds: 960, via: 'heartbeat' });
    // Once 3 is loaded (and so 2), the heartbeat after 3 counts.
    expect(await measureFreshness(stores, loaded(3), at('2026-11-25 09:21:00.000'))).toMatchObject({ sourceAt: '2026-11-25 09:20:00.000', seconds: 60, via: 'heartbeat' });
    expect(await measureFreshness(stores, loaded(2), at('2026-11-25 09:21:00.000'))).toMatchObject({ sourceAt: '2026-11-25 09:10:00.000', via: 'batch' });
  });

  it('quarantined batch: the quiet ticks after it do not count, so freshness grows until it goes through', async () => {
    const { stores, batch, quiet, loaded } = lake();
    await batch(1, '2026-11-25 09:00:00.000');
    await batch(2, '2026-11-25 09:05:00.000'); // quarantined by the transform: never loaded
    const ages: number[] = [];
    for (const tick of ['09:10', '09:15', '09:20', '09:25']) {
      await quiet(2, `2026-11-25 ${tick}:00.000`);
      ages.push((await measureFreshness(stores, loaded(1), at(`2026-11-25 ${tick}:01.000`)))!.seconds);
    }
    expect(ages).toEqual([601, 901, 1201, 1501]);
    expect(judgeSla(ages.at(-1), 1200, true, { batches: 1, next: { batchId: batchIdOf(2), seq: 2, at: null }, state: 'quarantined', quarantineReport: `quarantine/${batchIdOf(2)}.json` })).toEqual({
      seconds: 1200,
      breached: true,
      reason: `freshness 25m 01s is past the SLA of 20m 00s; 1 batch(es) extracted but not loaded, the oldest ${batchIdOf(2)} quarantined (report quarantine/${batchIdOf(2)}.json)`,
    });
    // Fixed and loaded: the warehouse reflects the newest quiet extract after it.
    expect(await measureFreshness(stores, loaded(2), at('2026-11-25 09:26:00.000'))).toMatchObject({ seconds: 60, via: 'heartbeat' });
  });

  it('a heartbeat vouches only for its own batch, and never moves the instant back', () => {
    const m = manifest(1, '2026-11-25 09:00:00.000');
    const now = at('2026-11-25 09:30:00.000');
    const beat = { kind: 'extract-heartbeat', version: 1, afterSeq: 1, afterBatchId: batchIdOf(1), snapshotAt: '', upperBound: '2026-11-25 09:25:00.000', at: '' } as const;
    expect(freshnessOf(m, beat, now)).toMatchObject({ seconds: 300, via: 'heartbeat' });
    expect(freshnessOf(m, { ...beat, afterBatchId: '0000000001-20261125T090000Z-ffff' }, now)).toMatchObject({ seconds: 1800, via: 'batch' });
    expect(freshnessOf(m, { ...beat, upperBound: '2026-11-25 08:59:00.000' }, now)).toMatchObject({ sourceAt: '2026-11-25 09:00:00.000', via: 'batch' });
  });

  it('a batch whose cursor was past the bound for some table takes the batch bound, the earliest window end', () => {
    const m = manifest(1, '2026-11-25 09:00:00.000');
    m.tables.staff!.window.upperBound = '2026-11-25 09:03:00.000';
    expect(freshnessOf(m, undefined, at('2026-11-25 09:10:00.000'))).toMatchObject({ sourceAt: '2026-11-25 09:00:00.000', seconds: 600 });
  });

  it('takes the bound from the transform manifest, which copies it, so the load reads no extract manifest', async () => {
    const { stores, quiet, loaded } = lake();
    await stores.processed.put(transformManifestKey(1), JSON.stringify(transformManifest(1, '2026-11-25 09:00:00.000')));
    const noIngestion = { ...stores, ingestion: new Proxy(stores.ingestion, { get: () => { throw new Error('the ingestion store is not read'); } }) };
    expect(await measureFreshness(noIngestion, loaded(1), at('2026-11-25 09:01:00.000'))).toMatchObject({ sourceAt: '2026-11-25 09:00:00.000', seconds: 60, via: 'batch' });
    await quiet(1, '2026-11-25 09:05:00.000');
    expect(await measureFreshness(noIngestion, loaded(1), at('2026-11-25 09:06:00.000'))).toMatchObject({ sourceAt: '2026-11-25 09:05:00.000', via: 'heartbeat' });
    await expect(measureFreshness(noIngestion, { seq: 1, batchId: '0000000001-20261125T090000Z-ffff' }, new Date())).rejects.toThrow(/transform manifest 1 .* belong to different runs/);
  });

  it('reads the extract manifest for a transform manifest written before it carried the bound', async () => {
    const { stores, batch, loaded } = lake();
    await batch(1, '2026-11-25 09:00:00.000');
    const { extract: _bound, ...older } = transformManifest(1, '2026-11-25 08:00:00.000');
    await stores.processed.put(transformManifestKey(1), JSON.stringify(older));
    expect(await measureFreshness(stores, loaded(1), at('2026-11-25 09:01:00.000'))).toMatchObject({ sourceAt: '2026-11-25 09:00:00.000', seconds: 60 });
  });

  it('refuses to tell when the warehouse holds a batch of another lake', async () => {
    const { stores, batch } = lake();
    await batch(1, '2026-11-25 09:00:00.000');
    await expect(measureFreshness(stores, { seq: 1, batchId: '0000000001-20261125T090000Z-ffff' }, new Date())).rejects.toThrow(/belong to different runs/);
  });
});

it('reads run records of the former definition (now − newest change loaded) without their freshness', () => {
  const record = { kind: 'run', version: 1, key: 'runs/x-noop.json', startedAt: 'a', finishedAt: 'b', outcome: 'nothing-new', batchId: null, stages: {} };
  expect(RunRecord.parse({ ...record, freshness: { newestSourceUpdate: '2024-06-01 00:00:00.000', seconds: 6e7 } }).freshness).toBeUndefined();
  const now = { sourceAt: '2026-11-25 09:00:00.000', seconds: 3, batchId: batchIdOf(1), seq: 1, via: 'heartbeat' };
  expect(RunRecord.parse({ ...record, freshness: now }).freshness).toEqual(now);
});
