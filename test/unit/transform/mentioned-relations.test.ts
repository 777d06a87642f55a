import { compileRelations, mentionedRelations } from '../../../functions/core/sql/relations';
import type { RelationBindings } from '../../../functions/core/ports/query-engine';

/**
 * What a statement binds is what it names (core/sql/relations.ts `mentionedRelations`): the DuckDB
 * engine lists, parses and reads only those of the relations a stage binds.
 */
describe('mentionedRelations', () => {
  const BATCH = '0000000042-20261125T204100Z-3f9a';
  const bindings: RelationBindings = {
    batch: { payment: [`raw/payment/dt=2026-11-25/${BATCH}.ndjson.gz`], sales_order: [], currency: [] },
    current: { payment: [`current/payment/${BATCH}/`], sales_order: [`current/sales_order/${BATCH}/`, `current/sales_order/${BATCH}-delta/`] },
    star: { dim_date: [`star/dim_date/${BATCH}/`] },
  };
  const names = (sql: string): string[] => mentionedRelations(compileRelations(bindings), sql).map((r) => r.name);

  it('keeps the relations the SQL names as whole words, in any case or quoted, and drops the rest', () => {
    expect(names('SELECT * FROM batch_payment')).toEqual(['batch_payment']);
    expect(names('SELECT p.* FROM "BATCH_PAYMENT" p JOIN Current_Sales_Order s ON true JOIN dim_date d ON true')).toEqual(['current_sales_order', 'batch_payment', 'dim_date']); // in contract order
    // Longer or shorter names are other names.
    expect(names('SELECT * FROM batch_payment_type, xcurrent_payment, current_payments')).toEqual([]);
    // A mention in a comment keeps one (harmless: it is bound and not read).
    expect(names('-- reads batch_currency\nSELECT 1')).toEqual(['batch_currency']);
  });

  it('keeps a current state held as base and deltas whole: its segments come with it', () => {
    const [latest] = mentionedRelations(compileRelations(bindings), 'SELECT count(*) FROM current_sales_order');
    expect(latest).toMatchObject({ kind: 'latest', name: 'current_sales_order', segments: { name: '_segments_current_sales_order' } });
  });
});
