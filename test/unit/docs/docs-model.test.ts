import { mkdtempSync } from 'node:fs';
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

  /** A lake of `hours` of hourly batches (the newest now), and a run record per batch; reads of the stores counted. */
  async function lake(hours: number, withHistory: boolean) {
    const ingestion = new FolderObjectStore(mkdtempSync(path.join(os.tmpdir(), 'totes-docs-in-')));
    const processed = new FolderObjectStore(mkdtempSync(path.join(os.tmpdir(), 'totes-docs-pr-')));
    let history: ExtractHistory | undefined = withHistory ? {} : undefined;
    for (let seq = 1; seq <= hours; seq++) {
      const m = manifest(seq, hours - seq, seq, history);
      history = m.history;
      await ingestion.put(extractManifestKey(seq), JSON.stringify(m));
      const at = new Date(m.finishedAt);
      await processed.put(runRecordKey(at, m.batchId), JSON.stringify({ broken: true }));
    }
    const gets: string[] = [];
    for (const store of [ingestion, processed]) {
      const get = store.get.bind(store);
      store.get = (key: string) => (gets.push(key), get(key));
    }
    return { ingestion, processed, gets };
  }

  it('reads the last day of a month-old lake: its batches and runs, and the totals of all', async () => {
    const { ingestion, processed, gets } = await lake(30 * 24, true);
    const model = await readDocsModel({ ingestion, processed, sqlRoot: REPO, now });
    expect(model.historySince).toBe(new Date(now.getTime() - DOCS_HISTORY_MS).toISOString());
    // Batches that finished 0…24 hours ago: seq 696…720.
    expect(model.batches.map((b) => b.seq)).toEqual(Array.from({ length: 25 }, (_, i) => 696 + i));
    expect(model.lake).toEqual({ batches: 720, versions: { sales_order: (720 * 721) / 2, payment: 720 } });
    // The run records of the day (unreadable here, so reported as problems): 25 of 720.
    expect(model.problems).toHaveLength(25);
    // The manifests read: the day's and one round before it, not the month's.
    expect(gets.filter((k) => k.startsWith('manifests/')).length).toBeLessThanOrEqual(25 + READ_CONCURRENCY);
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

  it('an empty lake: no batches, no runs', async () => {
    const { ingestion, processed } = await lake(0, true);
    const model = await readDocsModel({ ingestion, processed, sqlRoot: REPO, now });
    expect(model.lake).toEqual({ batches: 0, versions: {} });
    expect(model.batches).toEqual([]);
    expect(model.runs).toEqual([]);
  });
});
