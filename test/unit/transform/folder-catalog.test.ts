import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FolderCatalog } from '../../../functions/local/folder-catalog';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';

describe('FolderCatalog', () => {
  let dir: string;
  let catalog: FolderCatalog;
  const loc = (prefix: string, batchId: string, sqlHash = 'h1') => ({ prefix, batchId, sqlHash });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'totes-catalog-'));
    catalog = new FolderCatalog(new FolderObjectStore(dir));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('knows nothing before the first publication', async () => {
    expect(await catalog.location('dim_staff')).toBeUndefined();
    expect(await catalog.partitions('fact_payment')).toEqual([]);
  });

  it('repoints a rebuilt table in one step', async () => {
    await catalog.repoint('dim_staff', loc('star/dim_staff/b1/', 'b1'));
    await catalog.repoint('dim_staff', loc('star/dim_staff/b2/', 'b2'));
    expect(await catalog.location('dim_staff')).toEqual(loc('star/dim_staff/b2/', 'b2'));
  });

  it('replaces every partition of a fact in one step (a backfill), refusing a rebuilt table and a batch named twice', async () => {
    await catalog.addPartition('fact_payment', loc('star/fact_payment/batch_id=b1/', 'b1'));
    await catalog.addPartition('fact_payment', loc('star/fact_payment/batch_id=b2/', 'b2'));
    await catalog.replacePartitions('fact_payment', [loc('star/fact_payment/sql=h2/batch_id=b2/', 'b2', 'h2'), loc('star/fact_payment/sql=h2/batch_id=b1/', 'b1', 'h2')]);
    expect(await catalog.partitions('fact_payment')).toEqual([loc('star/fact_payment/sql=h2/batch_id=b1/', 'b1', 'h2'), loc('star/fact_payment/sql=h2/batch_id=b2/', 'b2', 'h2')]);
    // Later batches add their partitions beside them.
    await catalog.addPartition('fact_payment', loc('star/fact_payment/batch_id=b3/', 'b3', 'h2'));
    expect((await catalog.partitions('fact_payment')).map((p) => p.batchId)).toEqual(['b1', 'b2', 'b3']);
    await expect(catalog.replacePartitions('fact_payment', [loc('a/', 'b1'), loc('b/', 'b1')])).rejects.toThrow(/a batch is named twice/);
    await catalog.repoint('dim_staff', loc('star/dim_staff/b1/', 'b1'));
    await expect(catalog.replacePartitions('dim_staff', [])).rejects.toThrow(/rebuilt \(repointed\) table/);
  });

  it('adds fact partitions idempotently, oldest batch first', async () => {
    await catalog.addPartition('fact_payment', loc('star/fact_payment/batch_id=b2/', 'b2'));
    await catalog.addPartition('fact_payment', loc('star/fact_payment/batch_id=b1/', 'b1'));
    await catalog.addPartition('fact_payment', loc('star/fact_payment/batch_id=b2/', 'b2'));
    expect(await catalog.partitions('fact_payment')).toEqual([loc('star/fact_payment/batch_id=b1/', 'b1'), loc('star/fact_payment/batch_id=b2/', 'b2')]);
    await catalog.addPartition('fact_payment', loc('star/fact_payment/batch_id=b2/', 'b2', 'h2'));
    expect((await catalog.partitions('fact_payment')).map((p) => p.sqlHash)).toEqual(['h1', 'h2']);
  });

  it('publishes a compaction in one step: the batches and months it replaces give way to its months, refused if they changed', async () => {
    for (const b of ['b1', 'b2', 'b3']) await catalog.addPartition('fact_payment', loc(`star/fact_payment/batch_id=${b}/`, b));
    const month = (m: string, through: string) => ({ ...loc(`star/fact_payment/compacted=${through}/created_month=${m}/`, through), month: m });
    const batch = (b: string) => loc(`star/fact_payment/batch_id=${b}/`, b);
    await catalog.publishCompaction('fact_payment', [batch('b1'), batch('b2')], [month('2026-01', 'b2'), month('2026-02', 'b2')]);
    expect(await catalog.partitions('fact_payment')).toEqual([month('2026-01', 'b2'), month('2026-02', 'b2'), batch('b3')]);
    // A compacted batch published again (a re-run of a batch whose manifest was lost) changes nothing.
    await catalog.addPartition('fact_payment', batch('b2'));
    expect((await catalog.partitions('fact_payment')).length).toBe(3);
    // The next compaction rewrites month 2026-02 in place of its old location.
    await catalog.publishCompaction('fact_payment', [batch('b3'), month('2026-02', 'b2')], [month('2026-02', 'b3')]);
    expect(await catalog.partitions('fact_payment')).toEqual([month('2026-01', 'b2'), month('2026-02', 'b3')]);
    // Refused, nothing changed: what it replaces is no longer published, or a month would be there twice.
    const before = await catalog.partitions('fact_payment');
    await expect(catalog.publishCompaction('fact_payment', [batch('b3')], [month('2026-03', 'b3')])).rejects.toThrow(/no longer published/);
    await expect(catalog.publishCompaction('fact_payment', [], [month('2026-01', 'b3')])).rejects.toThrow(/a month would be published twice/);
    await expect(catalog.addPartition('fact_payment', month('2026-04', 'b4'))).rejects.toThrow(/a compaction publishes it/);
    expect(await catalog.partitions('fact_payment')).toEqual(before);
  });

  it('refuses to mix a rebuilt table and a partitioned one', async () => {
    await catalog.repoint('dim_staff', loc('star/dim_staff/b1/', 'b1'));
    await expect(catalog.addPartition('dim_staff', loc('x/', 'b1'))).rejects.toThrow(/rebuilt/);
  });

  it('says which pointer is damaged', async () => {
    await mkdir(path.join(dir, 'catalog'), { recursive: true });
    await writeFile(path.join(dir, 'catalog', 'dim_staff.json'), '{"kind":"nonsense"}');
    await expect(catalog.location('dim_staff')).rejects.toThrow(/catalog\/dim_staff\.json .* is damaged/);
  });
});
