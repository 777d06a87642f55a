/**
 * The lake's history carried from manifest to manifest (functions/core/lake/lake-history.ts): each
 * batch extends its predecessor's, to the numbers `totes status` used to add up over the whole log.
 */
import { extendExtractHistory, extendTransformHistory } from '../../../functions/core/lake/lake-history';
import type { ExtractHistory, ExtractManifest, TransformHistory, TransformManifest } from '../../../functions/core/lake/manifests';

const batch = (seq: number): string => `${String(seq).padStart(10, '0')}-20261207T0${seq}0000Z-ab${seq}c`;
const extract = (seq: number, rows: Record<string, number>): Pick<ExtractManifest, 'batchId' | 'tables'> => ({
  batchId: batch(seq),
  tables: Object.fromEntries(Object.entries(rows).map(([name, n]) => [name, { rows: n }])) as unknown as ExtractManifest['tables'],
});
const transform = (seq: number, rows: Record<string, number>): Pick<TransformManifest, 'batchId' | 'star'> => ({
  batchId: batch(seq),
  star: Object.fromEntries(Object.entries(rows).map(([name, n]) => [name, { rows: n }])) as unknown as TransformManifest['star'],
});

it('adds each extract batch’s row versions per table, and names the newest batch that had any', () => {
  const log = [extract(1, { staff: 20, currency: 3, sales_order: 100 }), extract(2, { staff: 0, currency: 0, sales_order: 7 }), extract(3, { staff: 1, sales_order: 0 })];
  expect(log.reduce(extendExtractHistory, {} as ExtractHistory)).toEqual({
    staff: { versions: 21, lastBatch: batch(3) },
    currency: { versions: 3, lastBatch: batch(1) },
    sales_order: { versions: 107, lastBatch: batch(2) },
  });
  // A table no batch had rows of has no entry; the history before a batch is left as it was.
  const before: ExtractHistory = { staff: { versions: 20, lastBatch: batch(1) } };
  expect(extendExtractHistory(before, extract(2, { payment: 0 }))).toEqual(before);
  expect(before).toEqual({ staff: { versions: 20, lastBatch: batch(1) } });
});

it('names the newest transform batch that wrote each star table, and adds only the facts’ rows', () => {
  const log = [
    transform(1, { dim_staff: 20, dim_transaction: 150, fact_sales_order: 100 }),
    transform(2, { dim_staff: 20, dim_transaction: 4, fact_sales_order: 7, fact_payment: 0 }),
    transform(3, { dim_transaction: 2, fact_sales_order: 0 }),
  ];
  expect(log.reduce(extendTransformHistory, {} as TransformHistory)).toEqual({
    dim_staff: { lastBatch: batch(2) },
    dim_transaction: { lastBatch: batch(3) },
    fact_sales_order: { lastBatch: batch(3), factRows: 107 },
    fact_payment: { lastBatch: batch(2), factRows: 0 },
  });
});
