import { compactionStep, DEFAULT_COMPACTION, type CompactionPolicy } from '../../../functions/core/transform/current-compaction';
import { currentPrefix } from '../../../functions/core/lake/lake-layout';
import type { TransformOutput } from '../../../functions/core/lake/manifests';

const batch = (seq: number, time: string): string => `${String(seq).padStart(10, '0')}-20260101T${time}Z-abcd`;
const output = (batchId: string, rows: number): TransformOutput => ({
  kind: 'current', prefix: currentPrefix('sales_order', batchId), files: [], rows, origin: 'generated', sqlHash: 'h', bytesScanned: 0, elapsedMs: 0,
});
const policy: CompactionPolicy = { ...DEFAULT_COMPACTION };
const base = output(batch(1, '000000'), 1_000_000);

describe('compactionStep', () => {
  it('compacts the first batch of a table (no base yet)', () => {
    expect(compactionStep(policy, { base: undefined, deltas: [] }, { batchId: batch(1, '000000'), rows: 10 })).toBe('compact');
  });

  it('adds a delta for a small change to a large table, and keeps a table the batch did not change', () => {
    expect(compactionStep(policy, { base, deltas: [] }, { batchId: batch(2, '000500'), rows: 1000 })).toBe('delta');
    expect(compactionStep(policy, { base, deltas: [output(batch(2, '000500'), 1000)] }, { batchId: batch(3, '001000'), rows: 0 })).toBe('keep');
  });

  it('always compacts a small table', () => {
    expect(compactionStep(policy, { base: output(batch(1, '000000'), 9_999), deltas: [] }, { batchId: batch(2, '000500'), rows: 1 })).toBe('compact');
    expect(compactionStep(policy, { base: output(batch(1, '000000'), 86_000), deltas: [] }, { batchId: batch(2, '000500'), rows: 60 })).toBe('delta');
  });

  it('compacts once the deltas reach their number or their share of the base', () => {
    const eleven = Array.from({ length: 11 }, (_, i) => output(batch(i + 2, `00${String(i).padStart(2, '0')}00`), 10));
    expect(compactionStep(policy, { base, deltas: eleven.slice(0, 10) }, { batchId: batch(13, '001500'), rows: 10 })).toBe('delta');
    expect(compactionStep(policy, { base, deltas: eleven }, { batchId: batch(13, '001500'), rows: 10 })).toBe('compact');
    expect(compactionStep(policy, { base, deltas: [output(batch(2, '000500'), 99_000)] }, { batchId: batch(3, '001000'), rows: 1000 })).toBe('delta');
    expect(compactionStep(policy, { base, deltas: [output(batch(2, '000500'), 99_000)] }, { batchId: batch(3, '001000'), rows: 1001 })).toBe('compact');
  });

  it('compacts deltas older than the age limit, even in a batch that does not change the table', () => {
    const deltas = [output(batch(2, '000000'), 10)];
    expect(compactionStep(policy, { base, deltas }, { batchId: batch(14, '010000'), rows: 0 })).toBe('keep'); // exactly an hour
    expect(compactionStep(policy, { base, deltas }, { batchId: batch(14, '010001'), rows: 0 })).toBe('compact');
    expect(compactionStep(policy, { base, deltas }, { batchId: batch(14, '010001'), rows: 5 })).toBe('compact');
  });
});
