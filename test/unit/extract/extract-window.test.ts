import { sourceTable } from '../../../functions/core/contract/source-tables';
import { cursorOf, maxTimestamp, planWindow, windowSelect, withBatchId } from '../../../functions/core/extract/extract-window';

const salesOrder = sourceTable('sales_order');

describe('planWindow', () => {
  it('starts from nothing on the first extract and stops short of the bound', () => {
    const w = planWindow(salesOrder, undefined, '2026-11-25 10:00:00.000');
    expect(w.from).toBeNull();
    expect(w.upperBound).toBe('2026-11-25 10:00:00.000');
  });

  it('continues from the previous cursor', () => {
    const previous = {
      files: [],
      rows: 3,
      window: { from: null, upperBound: '2026-11-25 09:00:00.000' },
      cursor: { lastUpdated: '2026-11-25 08:59:59.999', id: 17 },
      maxLastUpdated: '2026-11-25 08:59:59.999',
    };
    const w = planWindow(salesOrder, previous, '2026-11-25 10:00:00.000');
    expect(w.from).toEqual({ lastUpdated: '2026-11-25 08:59:59.999', id: 17 });
  });

  it('reads nothing (not again) when the bound moved behind the cursor', () => {
    const previous = {
      files: [],
      rows: 1,
      window: { from: null, upperBound: '2026-11-25 10:00:00.000' },
      cursor: { lastUpdated: '2026-11-25 09:59:59.000', id: 1 },
      maxLastUpdated: null,
    };
    const w = planWindow(salesOrder, previous, '2026-11-25 09:00:00.000');
    expect(w.upperBound).toBe('2026-11-25 09:59:59.000');
  });

  it('refuses a malformed bound or cursor', () => {
    expect(() => planWindow(salesOrder, undefined, '2026-11-25T10:00:00Z')).toThrow(/not a timestamp/);
  });
});

describe('maxTimestamp', () => {
  it('orders timestamp text correctly', () => {
    expect(maxTimestamp('2026-01-02 00:00:00.000', '2025-12-31 23:59:59.999')).toBe('2026-01-02 00:00:00.000');
    expect(maxTimestamp(null, '2025-12-31 23:59:59.999')).toBe('2025-12-31 23:59:59.999');
    expect(maxTimestamp(undefined, null)).toBeNull();
  });
});

describe('windowSelect', () => {
  it('uses a strict tuple comparison after the cursor and a strict upper bound, with no values in the text', () => {
    const sql = windowSelect(planWindow(salesOrder, { files: [], rows: 0, window: { from: null, upperBound: 'x' }, cursor: { lastUpdated: '2026-11-25 08:00:00.000', id: 4 }, maxLastUpdated: null }, '2026-11-25 10:00:00.000'));
    expect(sql).toContain(`("last_updated", "sales_order_id") > ((SELECT current_setting('totes.from_ts')::timestamp(3)), (SELECT current_setting('totes.from_id')::integer))`);
    expect(sql).toContain(`"last_updated" < (SELECT current_setting('totes.upper_bound')::timestamp(3))`);
    expect(sql).toContain('ORDER BY "last_updated", "sales_order_id"');
    expect(sql).not.toContain('2026-11-25');
    for (const column of salesOrder.columns) expect(sql).toContain(`'${column.name}', `);
  });
  it('renders timestamps as UTC text with milliseconds and enums as text', () => {
    const sql = windowSelect(planWindow(sourceTable('transaction'), undefined, '2026-11-25 10:00:00.000'));
    expect(sql).toContain(`to_char("last_updated", 'YYYY-MM-DD HH24:MI:SS.MS')`);
    expect(sql).toContain(`"transaction_type"::text`);
    expect(sql).not.toContain('totes.from_ts');
  });
});

describe('withBatchId and cursorOf', () => {
  it('appends the batch id to the row object', () => {
    const line = withBatchId('{"sales_order_id" : 5, "last_updated" : "2026-11-25 09:00:00.123"}', '0000000001-20261125T100000Z-abcd');
    expect(JSON.parse(line)).toEqual({ sales_order_id: 5, last_updated: '2026-11-25 09:00:00.123', _batch_id: '0000000001-20261125T100000Z-abcd' });
  });
  it('reads the cursor of a row and rejects a row without one', () => {
    expect(cursorOf(salesOrder, { sales_order_id: 5, last_updated: '2026-11-25 09:00:00.123' })).toEqual({ lastUpdated: '2026-11-25 09:00:00.123', id: 5 });
    expect(() => cursorOf(salesOrder, { last_updated: '2026-11-25 09:00:00.123' })).toThrow(/lacks/);
  });
});
