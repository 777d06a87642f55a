import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExtractManifest, TransformManifest } from '../../../functions/core/lake/manifests';
import { modelVersionKey } from '../../../functions/core/lake/lake-layout';
import { silentLog } from '../../../functions/core/ports/log';
import { checkModelVersions, publishedVersion, type ModelVersion } from '../../../functions/core/transform/model-versions';
import { loadSqlFiles } from '../../../functions/core/transform/sql-files';
import { batchOnlySources } from '../../../functions/core/transform/backfill';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';
import { REPO_ROOT } from '../../../functions/local/folder-pipeline';

const B2 = '0000000002-20260101T000500Z-bbbb';
const B3 = '0000000003-20260101T001000Z-cccc';

/** A transform manifest whose star tables carry the given SQL versions (only what the check reads). */
const manifest = (seq: number, batchId: string, hashes: Record<string, string>): TransformManifest =>
  ({ seq, batchId, star: Object.fromEntries(Object.entries(hashes).map(([t, h]) => [t, { sqlHash: h, rows: 1 }])) }) as unknown as TransformManifest;
const extract = (rows: Record<string, number>): ExtractManifest =>
  ({ batchId: B3, seq: 3, tables: Object.fromEntries(Object.entries(rows).map(([t, n]) => [t, { rows: n, files: [] }])) }) as unknown as ExtractManifest;
const record = (sqlHash: string, throughSeq: number): ModelVersion => ({
  kind: 'model-version', table: 'fact_sales_order', origin: 'sql/transform/fact_sales_order.sql', sqlHash, throughSeq, throughBatchId: B2, publishedAt: '2026-01-01T00:00:00Z', backfill: 'backfills/x',
});

describe('publishedVersion', () => {
  it('is the previous batch output’s version, unless a backfill published another through that batch or later', () => {
    expect(publishedVersion('fact_sales_order', undefined, undefined)).toBeUndefined();
    expect(publishedVersion('fact_sales_order', manifest(2, B2, { fact_sales_order: 'old' }), undefined)).toBe('old');
    expect(publishedVersion('fact_sales_order', manifest(2, B2, { fact_sales_order: 'old' }), record('new', 2))).toBe('new');
    expect(publishedVersion('fact_sales_order', manifest(3, B3, { fact_sales_order: 'newer' }), record('new', 2))).toBe('newer');
  });
});

describe('checkModelVersions', () => {
  it('lets a batch rebuild a changed dimension, makes one with versions of a changed fact wait, and names the command', async () => {
    const files = await loadSqlFiles(REPO_ROOT);
    const hashes = Object.fromEntries(files.map((f) => [f.table.name, f.sqlHash]));
    const processed = new FolderObjectStore(mkdtempSync(path.join(os.tmpdir(), 'totes-models-')));
    const ctx = { processed, log: silentLog };
    const previous = manifest(2, B2, { ...hashes, dim_staff: 'old-staff', fact_sales_order: 'old-sales' });

    const quiet = await checkModelVersions(ctx, extract({ staff: 1 }), previous, files);
    expect(quiet.waiting).toBeUndefined();
    expect(quiet.changes).toEqual([expect.objectContaining({ table: 'dim_staff', action: 'rebuilt', published: 'old-staff' })]);
    expect(quiet.published.fact_sales_order).toBe('old-sales');

    const busy = await checkModelVersions(ctx, extract({ sales_order: 2 }), previous, files);
    expect(busy.waiting).toMatch(/sql\/transform\/fact_sales_order\.sql changed since it built the published fact_sales_order .*`totes backfill fact_sales_order`/);

    // Once a backfill published the file's version through the previous batch, the batch goes on.
    await processed.put(modelVersionKey('fact_sales_order'), JSON.stringify(record(hashes.fact_sales_order, 2)));
    const after = await checkModelVersions(ctx, extract({ sales_order: 2 }), previous, files);
    expect(after.waiting).toBeUndefined();
    expect(after.published.fact_sales_order).toBe(hashes.fact_sales_order);
  });

  it('checks nothing before the first batch', async () => {
    const files = await loadSqlFiles(REPO_ROOT);
    const processed = new FolderObjectStore(mkdtempSync(path.join(os.tmpdir(), 'totes-models-')));
    expect(await checkModelVersions({ processed, log: silentLog }, extract({ sales_order: 1 }), undefined, files)).toEqual({ published: {}, changes: [] });
  });
});

describe('batchOnlySources', () => {
  it('groups a fact file that reads only its batch rows, and nothing else', async () => {
    const files = await loadSqlFiles(REPO_ROOT);
    const of = (name: string) => batchOnlySources(files.find((f) => f.table.name === name)!);
    expect(of('fact_sales_order')).toEqual(['sales_order']);
    expect(of('fact_payment')).toEqual(['payment']);
    expect(of('dim_staff')).toBeUndefined();
    expect(batchOnlySources({ sql: '-- x: reads batch_payment\nSELECT p.payment_id FROM batch_payment p JOIN current_transaction t ON t.transaction_id = p.transaction_id' })).toBeUndefined();
    expect(batchOnlySources({ sql: 'WITH v AS (SELECT * FROM batch_payment) SELECT * FROM v' })).toBeUndefined();
  });
});
