import { postgresDataType, SOURCE_TABLES } from '../../../functions/core/contract/source-tables';
import { detectDrift, type InformationSchemaColumn } from '../../../functions/core/extract/schema-drift';

const exact = (): InformationSchemaColumn[] =>
  SOURCE_TABLES.flatMap((t) =>
    t.columns.map((c) => ({ table_name: t.name, column_name: c.name, data_type: postgresDataType(c.type), is_nullable: c.nullable ? ('YES' as const) : ('NO' as const) })),
  );

describe('detectDrift', () => {
  it('finds nothing when totesys matches the contract', () => {
    expect(detectDrift(exact())).toEqual({ errors: [], warnings: [] });
  });
  it('reports a missing table, a dropped column, a retyped column and a column that became nullable', () => {
    const cols = exact()
      .filter((c) => c.table_name !== 'design')
      .filter((c) => !(c.table_name === 'staff' && c.column_name === 'email_address'))
      .map((c) => (c.table_name === 'sales_order' && c.column_name === 'units_sold' ? { ...c, data_type: 'bigint' } : c))
      .map((c) => (c.table_name === 'payment' && c.column_name === 'paid' ? { ...c, is_nullable: 'YES' as const } : c));
    const { errors } = detectDrift(cols);
    expect(errors).toEqual(
      expect.arrayContaining([
        'table "design" is missing from the source database',
        'column staff.email_address is missing',
        'column sales_order.units_sold is bigint, the contract says integer',
        'column payment.paid became nullable; the contract says NOT NULL',
      ]),
    );
  });
  it('warns about, and does not extract, a column totesys added', () => {
    const { errors, warnings } = detectDrift([...exact(), { table_name: 'currency', column_name: 'symbol', data_type: 'text', is_nullable: 'YES' }]);
    expect(errors).toEqual([]);
    expect(warnings).toEqual(['column currency.symbol is new in the source and is not extracted (add it to the table contract to carry it)']);
  });
});
