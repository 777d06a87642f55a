import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { DuckDbEngine } from '../../../functions/engines/duckdb/engine';
import { RawLake } from './raw-lake';
import { batchOne, batchTwo } from './totesys-rows';
import { rawKey } from '../../../functions/core/lake/lake-layout';

/** The local engine's own promises: typed raw reads, lineage, partitions, clear errors, read-only queries. */
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

  it('binds an empty file list as an empty relation with the contract columns', async () => {
    const rows = await lake.engine.query('SELECT count(*) AS n, min(currency_code) AS c FROM batch_currency', { batch: { currency: [] }, current: {}, star: {} });
    expect(rows).toEqual([{ n: '0', c: null }]);
  });

  it('appends lineage to unlisted columns and writes one Parquet file', async () => {
    const bindings = { batch: { currency: [rawKey('currency', lake.batchId(1))] }, current: {}, star: {} };
    const stats = await lake.engine.write('SELECT currency_id, currency_code FROM batch_currency', bindings, target());
    expect(stats).toMatchObject({ rows: 4, files: ['scratch/out/part-00000.parquet'] });
    const rows = await lake.readParquet('scratch/out/', 'currency_id');
    expect(rows[0]).toEqual({ currency_id: 1, currency_code: 'GBP', _batch_id: lake.batchId(1), _sql_hash: 'h' });
  });

  it('writes Hive partitions when asked', async () => {
    const bindings = { batch: { currency: [rawKey('currency', lake.batchId(1))] }, current: {}, star: {} };
    const stats = await lake.engine.write('SELECT currency_id, currency_code FROM batch_currency', bindings, target({ prefix: 'scratch/parts/', partitionedBy: ['currency_code'] }));
    expect(stats.rows).toBe(4);
    expect(stats.files.map((f) => f.split('/')[2]).sort()).toEqual(['currency_code=EUR', 'currency_code=GBP', 'currency_code=JPY', 'currency_code=USD']);
  });

  it('names the SQL file, the batch and DuckDB\'s message when a statement fails', async () => {
    await expect(lake.engine.write('SELECT nope FROM batch_currency', { batch: { currency: [] }, current: {}, star: {} }, target())).rejects.toThrow(
      /sql\/transform\/scratch\.sql \(table scratch, batch 0000000001-.*\) failed on DuckDB: .*nope/,
    );
    await expect(lake.engine.write('SELECT currency_id FROM batch_currency', { batch: { currency: [] }, current: {}, star: {} }, target())).rejects.toThrow(
      /does not produce column\(s\) currency_code/,
    );
  });

  it('runs only read-only queries', async () => {
    await expect(lake.engine.query('CREATE TABLE x (a INTEGER)')).rejects.toThrow(/Only read-only SELECT/);
  });
});
