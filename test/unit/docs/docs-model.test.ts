import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SOURCE_TABLE_NAMES, type SourceTableName } from '../../../functions/core/contract/source-tables';
import { DOCS_HISTORY_MS, readDocsModel } from '../../../functions/core/docs/docs-model';
import { renderDocsSite } from '../../../functions/core/docs/docs-site';
import { extendExtractHistory } from '../../../functions/core/lake/lake-history';
import { extractManifestKey, runRecordKey } from '../../../functions/core/lake/lake-layout';
import type { ExtractHistory, ExtractManifest, ExtractTable } from '../../../functions/core/lake/manifests';
import { READ_CONCURRENCY } from '../../../functions/core/operate/run-history';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';

/**
 * The data docs read the history window, not the lake's age (docs-model.ts): the batches and runs of
 * the last day, found from the newest manifest back, and the lake's totals from the newest
 * manifest's history — or, in a log begun before manifests recorded one, folded from every manifest
 * to the same numbers.
 */
describe('readDocsModel: the window of history, and the lake from its newest manifest', () => {
  const now = new Date('2026-12-07T12:00:00.000Z');
  const HOUR = 3_600_000;
  const REPO = path.resolve(__dirname, '../../..');

  /** An extract manifest of batch `seq`, finished `hoursAgo` before now, with `rows` sales orders and one payment. */
  function manifest(seq: number, hoursAgo: number, rows: number, before: ExtractHistory | undefined): ExtractManifest {
    const finishedAt = new Date(now.getTime() - hoursAgo * HOUR).toISOString();
    const batchId = `${String(seq).padStart(10, '0')}-${finishedAt.slice(0, 19).replace(/[-:]/g, '')}Z-abcd`;
    const table = (n: number): ExtractTable => ({ files: [], rows: n, window: { from: null, upperBound: finishedAt }, cursor: null, maxLastUpdated: null });
    const m: ExtractManifest = {
      kind: 'extract', version: 1, batchId, seq, previousBatchId: null, startedAt: finishedAt, finishedAt, snapshotAt: finishedAt,
      tables: Object.fromEntries(SOURCE_TABLE_NAMES.map((t) => [t, table(t === 'sales_order' ? rows : t === 'payment' ? 1 : 0)])) as Record<SourceTableName, ExtractTable>,
    };
    return before ? { ...m, history: extendExtractHistory(before, m) } : m;
  }

  const dirs: string[] = [];
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  /**
   * A lake of `hours` of hourly batches, the newest `idleHours` before now, and a run record per
   * batch (the one of batch `broken` unreadable); reads of the stores counted.
   */
  async function lake(hours: number, withHistory: boolean, { idleHours = 0, broken = 0 } = {}) {
    const [ingestion, processed] = ['in', 'pr'].map((name) => {
      dirs.push(mkdtempSync(path.join(os.tmpdir(), `totes-docs-${name}-`)));
      return new FolderObjectStore(dirs.at(-1)!);
    });
    let history: ExtractHistory | undefined = withHistory ? {} : undefined;
    for (let seq = 1; seq <= hours; seq++) {
      const m = manifest(seq, hours - seq + idleHours, seq, history);
      history = m.history;
      await ingestion.put(extractManifestKey(seq), JSON.stringify(m));
      const key = runRecordKey(new Date(m.finishedAt), m.batchId);
      const record = { kind: 'run', version: 1, key, startedAt: m.startedAt, finishedAt: m.finishedAt, outcome: 'success', batchId: m.batchId, stages: {} };
      await processed.put(key, seq === broken ? 'not a run' : JSON.stringify(record));
    }
    const gets: string[] = [];
    for (const store of [ingestion, processed]) {
      const get = store.get.bind(store);
      store.get = (key: string) => (gets.push(key), get(key));
    }
    return { ingestion, processed, gets };
  }

  it('reads the last day of a month-old lake: its batches and runs, and the totals of all', async () => {
    const { ingestion, processed, gets } = await lake(30 * 24, true, { broken: 710 });
    const model = await readDocsModel({ ingestion, processed, sqlRoot: REPO, now });
    expect(model.historySince).toBe(new Date(now.getTime() - DOCS_HISTORY_MS).toISOString());
    // Batches that finished 0…24 hours ago: seq 696…720.
    expect(model.batches.map((b) => b.seq)).toEqual(Array.from({ length: 25 }, (_, i) => 696 + i));
    expect(model.lake).toEqual({ batches: 720, versions: { sales_order: (720 * 721) / 2, payment: 720 } });
    // The run records of the day, in order: 25 of 720, one of them unreadable (a problem, not a run).
    expect(model.runs.map((r) => r.batchId)).toEqual(model.batches.filter((b) => b.seq !== 710).map((b) => b.batchId));
    expect(model.problems).toEqual([expect.stringMatching(/^Run record runs\/\S+-0000000710-\S+ is unreadable/)]);
    // The manifests read: the day's, and the rest of their rounds and one round more, not the month's.
    expect(gets.filter((k) => k.startsWith('manifests/')).length).toBeLessThanOrEqual(25 + 2 * READ_CONCURRENCY);
    expect(gets.filter((k) => k.startsWith('runs/'))).toHaveLength(25);
    const pages = renderDocsSite(model);
    expect(pages['index.html']).toContain('<span class="muted">published batches</span><b>720</b>');
    expect(pages['index.html']).toContain('runs in the last 24 h');
    expect(pages['raw.html']).toContain(`${((720 * 721) / 2).toLocaleString('en-GB')} row versions in the lake`);
    expect(pages['history.html'].match(/<rect class="bar"/g)).toHaveLength(25);
  });

  it('folds every manifest when the log records no history, to the same totals; --history widens the window', async () => {
    const { ingestion, processed } = await lake(72, false);
    const model = await readDocsModel({ ingestion, processed, sqlRoot: REPO, now, historyMs: 48 * HOUR });
    expect(model.lake).toEqual({ batches: 72, versions: { sales_order: (72 * 73) / 2, payment: 72 } });
    expect(model.batches.map((b) => b.seq)).toEqual(Array.from({ length: 49 }, (_, i) => 24 + i));
    expect(renderDocsSite(model)['index.html']).toContain('runs in the last 2 days');
  });

  it('a lake idle for the whole window: its totals from the newest manifest, and charts that say the window was quiet', async () => {
    const { ingestion, processed, gets } = await lake(100, true, { idleHours: 30 });
    const model = await readDocsModel({ ingestion, processed, sqlRoot: REPO, now });
    expect(model.lake).toEqual({ batches: 100, versions: { sales_order: (100 * 101) / 2, payment: 100 } });
    expect([model.batches, model.runs]).toEqual([[], []]);
    expect(gets.filter((k) => k.startsWith('manifests/'))).toHaveLength(READ_CONCURRENCY);
    const history = renderDocsSite(model)['history.html'];
    expect(history).toContain('No batch in the last 24 h');
    expect(history).toContain('No run in the last 24 h');
    expect(history).not.toContain('No data yet');
  });

  it('an empty lake: no batches, no runs', async () => {
    const { ingestion, processed } = await lake(0, true);
    const model = await readDocsModel({ ingestion, processed, sqlRoot: REPO, now });
    expect(model.lake).toEqual({ batches: 0, versions: {} });
    expect(model.batches).toEqual([]);
    expect(model.runs).toEqual([]);
  });
});
