import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { sourceTable } from '../../../functions/core/contract/source-tables';
import { currentStateColumns, currentStateSql } from '../../../functions/core/transform/current-state';

/**
 * The generated current-state merge, run on DuckDB over hand-made `previous_*` and `batch_*`
 * relations: which version wins, and that a version read twice yields one row.
 */

const currency = sourceTable('currency');
let db: DuckDBInstance;
let c: DuckDBConnection;

beforeAll(async () => {
  db = await DuckDBInstance.create(':memory:');
  c = await db.connect();
});
afterAll(() => {
  c.closeSync();
  db.closeSync();
});

async function relation(name: string, rows: [number, string, string, string][]): Promise<void> {
  await c.run(`CREATE OR REPLACE TABLE ${name} (currency_id INTEGER, currency_code VARCHAR, created_at TIMESTAMP, last_updated TIMESTAMP, _batch_id VARCHAR)`);
  for (const [id, code, updated, batch] of rows) {
    await c.run(`INSERT INTO ${name} VALUES ($1, $2, TIMESTAMP '2022-11-03 14:20:49.962', CAST($3 AS TIMESTAMP), $4)`, [id, code, updated, batch]);
  }
}

async function merge(hasPrevious: boolean): Promise<unknown[][]> {
  const reader = await c.runAndReadAll(`${currentStateSql(currency, { hasPrevious })} ORDER BY currency_id`);
  return reader.getRowsJson().map((r) => [r[0], r[1], r[3], r[4]]);
}

describe('currentStateSql', () => {
  it('lists the contract columns then _batch_id', () => {
    expect(currentStateColumns(currency).map((col) => col.name)).toEqual(['currency_id', 'currency_code', 'created_at', 'last_updated', '_batch_id']);
    expect(currentStateColumns(currency).map((col) => col.trinoType)).toEqual(['integer', 'varchar', 'timestamp(3)', 'timestamp(3)', 'varchar']);
  });

  it('reads no previous state on the first batch', async () => {
    expect(currentStateSql(currency, { hasPrevious: false })).not.toMatch(/previous_currency/);
    await relation('batch_currency', [
      [1, 'GBP', '2022-11-03 14:20:49.962', 'b1'],
      [2, 'USD', '2022-11-03 14:20:49.962', 'b1'],
    ]);
    expect(await merge(false)).toEqual([
      [1, 'GBP', '2022-11-03 14:20:49.962', 'b1'],
      [2, 'USD', '2022-11-03 14:20:49.962', 'b1'],
    ]);
  });

  it('keeps the latest version per key and untouched rows as they were', async () => {
    await relation('previous_currency', [
      [1, 'GBP', '2022-11-03 14:20:49.962', 'b1'],
      [2, 'USD', '2022-11-03 14:20:49.962', 'b1'],
    ]);
    await relation('batch_currency', [[2, 'EUR', '2022-11-04 09:00:00', 'b2']]);
    expect(await merge(true)).toEqual([
      [1, 'GBP', '2022-11-03 14:20:49.962', 'b1'],
      [2, 'EUR', '2022-11-04 09:00:00', 'b2'],
    ]);
  });

  it("takes the later batch's version even when its last_updated is older (a late commit by a writer whose clock is behind)", async () => {
    await relation('previous_currency', [[1, 'GBP', '2022-11-05 00:00:00', 'b1']]);
    await relation('batch_currency', [[1, 'XXX', '2022-11-04 00:00:00', 'b2']]);
    expect(await merge(true)).toEqual([[1, 'XXX', '2022-11-04 00:00:00', 'b2']]);
  });

  it('folds a version seen twice into one row, preferring the later batch', async () => {
    await relation('previous_currency', [[1, 'GBP', '2022-11-05 00:00:00', 'b1']]);
    await relation('batch_currency', [
      [1, 'GBP', '2022-11-05 00:00:00', 'b2'],
      [1, 'GBP', '2022-11-05 00:00:00', 'b2'],
    ]);
    expect(await merge(true)).toEqual([[1, 'GBP', '2022-11-05 00:00:00', 'b2']]);
  });

  it('chooses deterministically between differing copies of one version', async () => {
    await relation('previous_currency', []);
    await relation('batch_currency', [
      [1, 'USD', '2022-11-05 00:00:00', 'b2'],
      [1, 'GBP', '2022-11-05 00:00:00', 'b2'],
    ]);
    const first = await merge(true);
    await relation('batch_currency', [
      [1, 'GBP', '2022-11-05 00:00:00', 'b2'],
      [1, 'USD', '2022-11-05 00:00:00', 'b2'],
    ]);
    expect(await merge(true)).toEqual(first);
    expect(first).toHaveLength(1);
  });
});
