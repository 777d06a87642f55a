import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { DuckDbEngine } from '../../../functions/engines/duckdb/engine';
import { RawLake } from './raw-lake';
import { batchOne, batchTwo } from './totesys-rows';
import { rawKey } from '../../../functions/core/lake/lake-layout';

/**
 * The local engine's own promises beyond the port's (test/integration/contract/query-engine.contract.ts,
 * run on DuckDB and Trino alike): a batch's raw files parsed once, and a SELECT whose columns are not
 * the target's refused before anything is written.
 */
describe('DuckDbEngine', () => {
  let lake: RawLake;
  beforeAll(async () => {
    lake = await RawLake.create();
    await lake.writeBatch(1, batchOne);
  });
  afterAll(async () => lake.close());

  const target = (over: Record<string, unknown> = {}) => ({
    table: 'scratch',
    prefix: 'scratch/out/',
    columns: [{ name: 'currency_id', trinoType: 'integer' }, { name: 'currency_code', trinoType: 'varchar' }],
    batchId: lake.batchId(1),
    sqlHash: 'h',
    origin: 'sql/transform/scratch.sql',
    ...over,
  });

  it('reads a batch\'s raw files once per batch: another file list gives that batch\'s rows, and close() leaves no scratch files', async () => {
    await lake.writeBatch(2, batchTwo);
    const ids = async (seq: number): Promise<number[]> =>
      (await lake.engine.query('SELECT department_id AS id FROM batch_department ORDER BY 1', { batch: { department: [rawKey('department', lake.batchId(seq))] }, current: {}, star: {} })).map((r) => Number(r.id));
    const one = await ids(1);
    const two = await ids(2);
    expect(one).toEqual(batchOne.department!.map((r) => Number(r.department_id)).sort((a, b) => a - b));
    expect(two).toEqual(batchTwo.department!.map((r) => Number(r.department_id)).sort((a, b) => a - b));
    expect(two).not.toEqual(one);
    expect(await ids(1)).toEqual(one); // back to batch 1: read again, not batch 2's cached rows
    const scratch = (await readdir(tmpdir())).filter((d) => d.startsWith('totes-duckdb-'));
    const other = await DuckDbEngine.create(lake.ingestion, lake.processed);
    await other.query('SELECT count(*) AS n FROM batch_department', { batch: { department: [rawKey('department', lake.batchId(1))] }, current: {}, star: {} });
    expect((await readdir(tmpdir())).filter((d) => d.startsWith('totes-duckdb-')).length).toBe(scratch.length + 1);
    await other.close();
    expect((await readdir(tmpdir())).filter((d) => d.startsWith('totes-duckdb-'))).toEqual(scratch);
  });

  it('refuses a SELECT whose columns are not the target\'s, naming them', async () => {
    await expect(lake.engine.write('SELECT currency_id FROM batch_currency', { batch: { currency: [] }, current: {}, star: {} }, target())).rejects.toThrow(
      /does not produce column\(s\) currency_code/,
    );
  });
});
