import { sourceTable } from '../../../functions/core/contract/source-tables';
import { lowestXidOf, rescueSelect, shiftSeconds, snapshotWithSubxids, widenXid, widenXidSql } from '../../../functions/core/extract/late-commits';

const EPOCH = 1n << 32n;

describe('widenXid: a row 32-bit xmin in the epoch of the current snapshot', () => {
  it('keeps the epoch of xmax when the id is not newer than xmax', () => {
    expect(widenXid(100n, 3n * EPOCH + 500n)).toBe(3n * EPOCH + 100n);
    expect(widenXid(500n, 3n * EPOCH + 500n)).toBe(3n * EPOCH + 500n);
  });

  it('takes the previous epoch for an id above xmax (it wrapped: the row is older than the snapshot)', () => {
    expect(widenXid(4_294_967_000n, 3n * EPOCH + 500n)).toBe(2n * EPOCH + 4_294_967_000n);
    expect(widenXid(501n, 3n * EPOCH + 500n)).toBe(2n * EPOCH + 501n);
  });

  it('works in epoch 0 (no wraparound yet)', () => {
    expect(widenXid(735n, 900n)).toBe(735n);
  });

  it('leaves invalid, bootstrap and frozen ids (0, 1, 2) as they are: visible to every snapshot', () => {
    for (const special of [0n, 1n, 2n]) expect(widenXid(special, 7n * EPOCH + 10n)).toBe(special);
  });

  it('is what the SQL expression computes (written once, for both)', () => {
    const sql = widenXidSql('x', 'm');
    expect(sql).toContain('4294967296');
    expect(sql).toMatch(/WHEN \(x\) < 3 THEN \(x\)/);
    expect(sql.endsWith('::text::xid8')).toBe(true);
  });
});

describe('snapshotWithSubxids', () => {
  it('adds in-flight sub-transaction ids to the xip list, ascending (pg_snapshot requires it)', () => {
    expect(snapshotWithSubxids({ current: '100:120:100,115', subxids: ['101', '116', '103'] })).toBe('100:120:100,101,103,115,116');
  });

  it('keeps a snapshot with nothing in flight as it is', () => {
    expect(snapshotWithSubxids({ current: '120:120:', subxids: [] })).toBe('120:120:');
  });

  it('sorts 64-bit ids numerically, not as text', () => {
    expect(snapshotWithSubxids({ current: `${9n * EPOCH}:${10n * EPOCH}:${9n * EPOCH + 10n}`, subxids: [`${9n * EPOCH + 9n}`] })).toBe(
      `${9n * EPOCH}:${10n * EPOCH}:${9n * EPOCH + 9n},${9n * EPOCH + 10n}`,
    );
  });
});

describe('lowestXidOf', () => {
  it('is the lowest ended transaction id, or the previous xmax for a session that had none', () => {
    const previous = { current: '100:130:105,110', subxids: [], longInFlight: [], lookbackSeconds: 300 };
    expect(lowestXidOf(previous, [{ xid: '110' }, { xid: '105' }])).toBe('105');
    expect(lowestXidOf(previous, [{ pid: 7, xactStart: '2026-01-01 00:00:00.000000' }])).toBe('130');
  });
});

describe('rescueSelect', () => {
  const t = sourceTable('sales_order');
  it('reads the band at or below the cursor, above cursor − lookback, by visibility in the previous snapshot', () => {
    const sql = rescueSelect(t, 'band', { batchSnapshot: false });
    expect(sql).toContain(`("last_updated", "sales_order_id") <= (`);
    expect(sql).toContain(`"last_updated" >= (SELECT current_setting('totes.rescue_band_from')`);
    expect(sql).toContain('NOT pg_visible_in_snapshot(');
    expect(sql).not.toContain('totes.batch_snapshot');
  });

  it('reads below the band only from the ended long transactions ids on, and a resumed batch only what its first snapshot saw', () => {
    const sql = rescueSelect(t, 'below', { batchSnapshot: true });
    expect(sql).toContain(`"last_updated" < (SELECT current_setting('totes.rescue_band_from')`);
    expect(sql).toContain(`>= (SELECT current_setting('totes.rescue_from_xid')::xid8)`);
    expect(sql).toContain(`pg_visible_in_snapshot(`);
    expect(sql).toContain('totes.batch_snapshot');
  });
});

describe('shiftSeconds', () => {
  it('moves a timestamp text by seconds, across midnight, keeping milliseconds', () => {
    expect(shiftSeconds('2026-01-01 00:02:00.250', -300)).toBe('2025-12-31 23:57:00.250');
    expect(shiftSeconds('2026-01-01 00:00:00.000', 0.5)).toBe('2026-01-01 00:00:00.500');
  });
});
