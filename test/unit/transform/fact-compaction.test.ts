import { factBatchPrefix, factCompactionPrefix, factMonthPrefix, parseFactBatchPrefix, parseFactMonthPrefix } from '../../../functions/core/lake/lake-layout';
import { DEFAULT_FACT_COMPACTION, planFactCompaction } from '../../../functions/core/transform/fact-compaction';

const batch = (minute: number, sqlHash = 'h1') => {
  const id = `${String(minute + 1).padStart(10, '0')}-20260101T${String(Math.floor(minute / 60)).padStart(2, '0')}${String(minute % 60).padStart(2, '0')}00Z-00aa`;
  return { prefix: factBatchPrefix('fact_payment', id), batchId: id, sqlHash };
};
const month = (m: string, through: string, sqlHash = 'h1') => ({ prefix: factMonthPrefix(factCompactionPrefix('fact_payment', through, 'abcdef0123'), m), batchId: through, sqlHash, month: m });

describe('planFactCompaction', () => {
  const policy = DEFAULT_FACT_COMPACTION;

  it('waits until the oldest batch partition is compactAfterMs older than the newest batch, then takes every transformed batch', () => {
    const batches = [batch(0), batch(5), batch(30), batch(59)];
    expect(planFactCompaction('fact_payment', batches, batches[3].batchId, policy)).toBe('not-due');
    const later = batch(60);
    const plan = planFactCompaction('fact_payment', [...batches, later], later.batchId, policy);
    expect(typeof plan === 'object' && plan.batches.map((b) => b.batchId)).toEqual([...batches, later].map((b) => b.batchId));
    // Forced, it compacts what there is; a batch after the newest transformed one (no manifest yet) is never taken.
    const forced = planFactCompaction('fact_payment', [...batches, later], batches[1].batchId, policy, true);
    expect(typeof forced === 'object' && forced.batches.map((b) => b.batchId)).toEqual([batches[0].batchId, batches[1].batchId]);
  });

  it('keeps the months, stops at maxBatches and at a change of SQL version, and leaves mixed versions to the backfill', () => {
    const m = month('2025-12', batch(0).batchId);
    const batches = [batch(10), batch(20), batch(30, 'h2')];
    const plan = planFactCompaction('fact_payment', [m, ...batches], batches[2].batchId, { ...policy, maxBatches: 5 }, true);
    expect(typeof plan === 'object' && { batches: plan.batches.length, months: plan.months }).toEqual({ batches: 2, months: [m] });
    const capped = planFactCompaction('fact_payment', batches.slice(0, 2), batches[1].batchId, { ...policy, maxBatches: 1 }, true);
    expect(typeof capped === 'object' && capped.batches.length).toBe(1);
    expect(planFactCompaction('fact_payment', [m, batch(40, 'h2')], batch(40).batchId, policy, true)).toBe('mixed-versions');
    expect(planFactCompaction('fact_payment', [m], batch(40).batchId, policy, true)).toBe('nothing');
  });
});

describe('compacted month prefixes', () => {
  it('are built and parsed back, and refuse what is not a batch, a hash or a month', () => {
    const through = batch(3).batchId;
    const prefix = factMonthPrefix(factCompactionPrefix('fact_sales_order', through, 'deadbeef99'), '2026-02');
    expect(prefix).toBe(`star/fact_sales_order/compacted=${through}-deadbeef/created_month=2026-02/`);
    expect(parseFactMonthPrefix(prefix)).toEqual({ table: 'fact_sales_order', throughBatchId: through, month: '2026-02' });
    expect(parseFactBatchPrefix(prefix)).toBeUndefined();
    expect(parseFactMonthPrefix(factBatchPrefix('fact_sales_order', through))).toBeUndefined();
    expect(() => factCompactionPrefix('fact_sales_order', 'nope', 'deadbeef')).toThrow(/not a batch id/);
    expect(() => factCompactionPrefix('fact_sales_order', through, 'XYZ')).toThrow(/not a hex hash/);
    expect(() => factMonthPrefix('star/fact_sales_order/compacted=x/', '2026-13')).toThrow(/not a month/);
  });
});
