import {
  decodePrestoView,
  factViewColumns,
  factViewInput,
  factViewSql,
  factViewState,
  isFact,
  isFactDataTable,
  monthsTableName,
} from '../../../functions/aws/fact-view';
import { STAR_TABLES } from '../../../functions/core/contract/star-tables';

const B2 = '0000000002-20261125T200500Z-bbbb';
const FACTS = STAR_TABLES.filter((t) => t.kind === 'fact');

describe('a fact as an Athena view (functions/aws/fact-view.ts)', () => {
  it.each(FACTS.map((f) => [f.name, f] as const))('%s: both sides of the UNION ALL give the view\'s columns, in its order', (name, fact) => {
    const sql = factViewSql('proc', name, { batchesTable: `${name}_batches`, monthsTable: monthsTableName(name, B2), through: B2 });
    const [months, batches] = sql.split('\nUNION ALL\n');
    // Each item's output name: its last quoted identifier (`"x"` or `… AS "x"`).
    const selected = (side: string) =>
      side
        .split('\n')[0]
        .replace(/^SELECT /, '')
        .replace(/substr\(CAST\("created_date" AS varchar\), 1, 7\)/, 'MONTH')
        .split(', ')
        .map((c) => /"(\w+)"$/.exec(c)?.[1]);
    const columns = factViewColumns(fact).map((c) => c.name);
    expect(selected(months)).toEqual(columns);
    expect(selected(batches)).toEqual(columns);
    expect(months).toContain(`FROM "proc"."${name}_months_${B2.toLowerCase().replace(/-/g, '_')}"`);
    expect(batches).toContain(`FROM "proc"."${name}_batches"\nWHERE "batch_id" > '${B2}'`);
    // Before any compaction: the batches alone, every one.
    expect(factViewSql('proc', name, { batchesTable: `${name}_batches` })).not.toMatch(/UNION|WHERE/);
  });

  it('stores the view as Athena and Trino read it, its state in the parameters', () => {
    const state = { batchesTable: 'fact_payment_batches_0123456789ab', monthsTable: monthsTableName('fact_payment', B2), through: B2 };
    const input = factViewInput('proc', 'awsdatacatalog', 'fact_payment', state);
    expect(input).toMatchObject({ TableType: 'VIRTUAL_VIEW', ViewExpandedText: '/* Presto View */', Parameters: { presto_view: 'true', comment: 'Presto View' } });
    expect(input.Description).toBeUndefined(); // Athena would read it as the view's comment and stop seeing a view
    const view = decodePrestoView(input.ViewOriginalText)!;
    expect(view).toMatchObject({ catalog: 'awsdatacatalog', schema: 'proc', originalSql: factViewSql('proc', 'fact_payment', state), owner: 'totes-lake', runAsInvoker: false });
    expect(view.columns.find((c) => c.name === 'created_month')).toEqual({ name: 'created_month', type: 'varchar' });
    expect(factViewState(input)).toEqual(state);
    expect(input.Parameters?.['totes.description']).toMatch(/Filter on created_month/);
    expect(input.StorageDescriptor?.Columns?.every((c) => Boolean(c.Comment))).toBe(true);
    // Not a fact's view: no state.
    expect(factViewState({ Name: 'fact_payment', TableType: 'EXTERNAL_TABLE' })).toBeUndefined();
    expect(decodePrestoView('SELECT 1')).toBeUndefined();
  });

  it('knows the facts and the tables a fact\'s clean-up may drop', () => {
    expect(FACTS.map((f) => isFact(f.name))).toEqual(FACTS.map(() => true));
    expect(isFact('dim_staff')).toBe(false);
    expect(isFactDataTable('fact_payment', 'fact_payment_months_x')).toBe(true);
    expect(isFactDataTable('fact_payment', 'fact_payment_batches_0123456789ab')).toBe(true);
    expect(isFactDataTable('fact_payment', 'fact_payment_current')).toBe(false);
    expect(isFactDataTable('fact_payment', 'fact_payment')).toBe(false);
  });
});
