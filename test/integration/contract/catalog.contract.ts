import type { Catalog } from '../../../functions/core/ports/catalog';
import type { TableLocation } from '../../../functions/core/ports/catalog';
import { backfillFactPrefix, currentPrefix, dimensionChangesPrefix, dimensionPrefix, factBatchPrefix, factCompactionPrefix, factMonthPrefix } from '../../../functions/core/lake/lake-layout';

const B1 = '0000000001-20261125T200000Z-aaaa';
const B2 = '0000000002-20261125T200500Z-bbbb';
const B3 = '0000000003-20261125T201000Z-cccc';
const B4 = '0000000004-20261125T201500Z-dddd';

/**
 * What every Catalog adapter promises (functions/core/ports/catalog.ts), run against each one
 * (catalog.test.ts): the local folder catalog and Glue. `open` gives an empty catalog of the
 * processed tables; each test uses tables of its own.
 */
export function catalogContract(open: () => Promise<{ catalog: Catalog; close?: () => Promise<void> }>): void {
  let catalog: Catalog;
  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ catalog, close } = await open());
  });
  afterAll(async () => {
    await close?.();
  });

  it('knows no location for a table never published', async () => {
    expect(await catalog.location('dim_design')).toBeUndefined();
    expect(await catalog.partitions('fact_purchase_order')).toEqual([]);
  });

  it('repoints a rebuilt table in one step, recording the batch and SQL version', async () => {
    await catalog.repoint('dim_staff', { prefix: dimensionPrefix('dim_staff', B1), batchId: B1, sqlHash: 'h1' });
    expect(await catalog.location('dim_staff')).toEqual({ prefix: dimensionPrefix('dim_staff', B1), batchId: B1, sqlHash: 'h1' });
    await catalog.repoint('dim_staff', { prefix: dimensionPrefix('dim_staff', B2), batchId: B2, sqlHash: 'h2' });
    expect(await catalog.location('dim_staff')).toEqual({ prefix: dimensionPrefix('dim_staff', B2), batchId: B2, sqlHash: 'h2' });
  });

  it('repoints a current-state table', async () => {
    await catalog.repoint('current_currency', { prefix: currentPrefix('currency', B1), batchId: B1, sqlHash: 'g' });
    expect(await catalog.location('current_currency')).toEqual({ prefix: currentPrefix('currency', B1), batchId: B1, sqlHash: 'g' });
  });

  it('adds fact partitions idempotently and lists them oldest batch first', async () => {
    const loc = (b: string) => ({ prefix: factBatchPrefix('fact_payment', b), batchId: b, sqlHash: `h-${b.slice(9, 10)}` });
    for (const b of [B2, B1, B3, B2]) await catalog.addPartition('fact_payment', loc(b));
    expect(await catalog.partitions('fact_payment')).toEqual([loc(B1), loc(B2), loc(B3)]);
  });

  it('refuses to add a partition to a rebuilt table', async () => {
    await catalog.repoint('dim_location', { prefix: dimensionPrefix('dim_location', B1), batchId: B1, sqlHash: 'h' });
    await expect(catalog.addPartition('dim_location', { prefix: dimensionPrefix('dim_location', B2), batchId: B2, sqlHash: 'h' })).rejects.toThrow();
    expect(await catalog.location('dim_location')).toEqual({ prefix: dimensionPrefix('dim_location', B1), batchId: B1, sqlHash: 'h' });
  });

  it('holds a by-key dimension as base + deltas, each repoint replacing the whole set (dimension-by-key.ts)', async () => {
    const base = (b: string) => dimensionPrefix('dim_transaction', b);
    const delta = (b: string) => dimensionChangesPrefix('dim_transaction', b);
    const steps = [
      { prefix: base(B1), batchId: B1, sqlHash: 'h' },
      { prefix: base(B1), batchId: B2, sqlHash: 'h', deltas: [delta(B2)] },
      { prefix: base(B1), batchId: B3, sqlHash: 'h', deltas: [delta(B2), delta(B3)] },
      { prefix: base(B4), batchId: B4, sqlHash: 'h' }, // compacted: a new base, no deltas
    ];
    for (const step of steps) {
      await catalog.repoint('dim_transaction', step);
      expect(await catalog.location('dim_transaction')).toEqual(step);
    }
  });

  it('publishes a compaction in one step: the months replace the batches and months they rewrote; a stale one is refused', async () => {
    if (!catalog.publishCompaction) throw new Error('every catalog adapter publishes compactions');
    const fact = 'fact_sales_order';
    const batch = (b: string): TableLocation => ({ prefix: factBatchPrefix(fact, b), batchId: b, sqlHash: 'h' });
    const month = (m: string, through: string): TableLocation => ({ prefix: factMonthPrefix(factCompactionPrefix(fact, through, 'abcd1234'), m), batchId: through, sqlHash: 'h', month: m });
    for (const b of [B1, B2, B3]) await catalog.addPartition(fact, batch(b));
    await catalog.publishCompaction(fact, [batch(B1), batch(B2)], [month('2026-10', B2), month('2026-11', B2)]);
    expect(await catalog.partitions(fact)).toEqual([month('2026-10', B2), month('2026-11', B2), batch(B3)]);
    // A batch the months hold is not added again; a later one is.
    await catalog.addPartition(fact, batch(B2));
    await catalog.addPartition(fact, batch(B4));
    expect(await catalog.partitions(fact)).toEqual([month('2026-10', B2), month('2026-11', B2), batch(B3), batch(B4)]);
    // Stale: B1 is no longer published as a batch. Nothing changes.
    await expect(catalog.publishCompaction(fact, [batch(B1), batch(B3)], [month('2026-11', B3)])).rejects.toThrow(/no longer published/);
    expect(await catalog.partitions(fact)).toEqual([month('2026-10', B2), month('2026-11', B2), batch(B3), batch(B4)]);
    // A second compaction rewrites one month and keeps the other.
    await catalog.publishCompaction(fact, [batch(B3), month('2026-11', B2)], [month('2026-11', B3)]);
    expect(await catalog.partitions(fact)).toEqual([month('2026-10', B2), month('2026-11', B3), batch(B4)]);
  });

  it('replaces every partition of a fact in one step (a backfill), later batches joining the new set', async () => {
    if (!catalog.replacePartitions) throw new Error('every catalog adapter replaces partitions');
    const fact = 'fact_purchase_order';
    const old = (b: string): TableLocation => ({ prefix: factBatchPrefix(fact, b), batchId: b, sqlHash: 'h1' });
    const rebuilt = (b: string): TableLocation => ({ prefix: backfillFactPrefix(fact, 'h2h2h2h2h2h2', B1, b), batchId: b, sqlHash: 'h2' });
    for (const b of [B1, B2]) await catalog.addPartition(fact, old(b));
    await catalog.replacePartitions(fact, [rebuilt(B2), rebuilt(B1)]);
    expect(await catalog.partitions(fact)).toEqual([rebuilt(B1), rebuilt(B2)]);
    await catalog.replacePartitions(fact, [rebuilt(B2), rebuilt(B1)]); // a re-run of the publish
    const next = { prefix: factBatchPrefix(fact, B3), batchId: B3, sqlHash: 'h2' };
    await catalog.addPartition(fact, next);
    expect(await catalog.partitions(fact)).toEqual([rebuilt(B1), rebuilt(B2), next]);
    await expect(catalog.replacePartitions(fact, [rebuilt(B1), rebuilt(B1)])).rejects.toThrow(/named twice/);
  });
}
