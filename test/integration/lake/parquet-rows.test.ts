import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { starTable, type StarColumn } from '../../../functions/core/contract/star-tables';
import { formatDecimal, readParquetColumns, twosComplement, type LoadValue } from '../../../functions/core/lake/parquet-rows';

/** Reads DuckDB-written Parquet with hyparquet and checks every value's load form. */
describe('readParquetColumns', () => {
  let dir: string;
  let instance: DuckDBInstance;
  let duck: DuckDBConnection;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'totes-parquet-'));
    instance = await DuckDBInstance.create(':memory:');
    duck = await instance.connect();
  });
  afterAll(async () => {
    duck.closeSync();
    instance.closeSync();
    await rm(dir, { recursive: true, force: true });
  });

  async function write(select: string, compression: string): Promise<Uint8Array> {
    const file = path.join(dir, `${Math.random().toString(36).slice(2)}.parquet`);
    await duck.run(`COPY (${select}) TO '${file}' (FORMAT parquet, COMPRESSION ${compression})`);
    return readFile(file);
  }

  async function readAll(bytes: Uint8Array, columns: readonly StarColumn[], chunkRows?: number): Promise<{ rows: LoadValue[][]; chunks: number }> {
    const rows: LoadValue[][] = [];
    let chunks = 0;
    for await (const chunk of readParquetColumns(bytes, columns, { file: 'test.parquet', chunkRows })) {
      chunks++;
      for (let r = 0; r < chunk.rows; r++) rows.push(chunk.columns.map((col) => col[r]));
    }
    return { rows, chunks };
  }

  it.each(['zstd', 'snappy', 'uncompressed'])('converts dates, decimals, times, booleans and NULLs exactly (%s)', async (compression) => {
    const bytes = await write(
      `SELECT * FROM (VALUES
         (1, DATE '2025-01-31', '09:15:00.100', 0.05::DECIMAL(10,2), true, 'a\ttab'),
         (2, DATE '1969-12-31', '23:59:59.999', -1234567.89::DECIMAL(10,2), false, NULL),
         (3, DATE '2099-02-28', '00:00:00.000', 99999999.99::DECIMAL(10,2), NULL, 'é ☃'),
         (NULL, NULL, NULL, NULL, NULL, '')
       ) AS t(payment_id, payment_date, created_time, payment_amount, paid, note)`,
      compression,
    );
    const cols = ['payment_id', 'payment_date', 'created_time', 'payment_amount', 'paid'].map((n) => starTable('fact_payment').columns.find((c) => c.name === n)!);
    const text = { name: 'note', type: 'text', nullable: true, description: '' } as const;
    const { rows } = await readAll(bytes, [...cols, text]);
    expect(rows).toEqual([
      [1, '2025-01-31', '09:15:00.100', '0.05', true, 'a\ttab'],
      [2, '1969-12-31', '23:59:59.999', '-1234567.89', false, null],
      [3, '2099-02-28', '00:00:00.000', '99999999.99', null, 'é ☃'],
      [null, null, null, null, null, ''],
    ]);
  });

  it('formats DECIMAL(10,2) (the hot path, in number arithmetic) exactly as the BigInt formatting does', async () => {
    const values = ['0.00', '0.01', '-0.01', '-0.10', '0.99', '-1.00', '10.00', '-10.05', '12345678.90', '-99999999.99', '99999999.99'];
    const bytes = await write(values.map((v) => `SELECT ${v}::DECIMAL(10,2) AS unit_price`).join(' UNION ALL ') + ' UNION ALL SELECT NULL', 'zstd');
    const price = starTable('fact_sales_order').columns.find((c) => c.name === 'unit_price')!;
    const read = (await readAll(bytes, [price])).rows.map((r) => r[0]);
    expect([...read].sort()).toEqual([...values, null].sort());
    for (const v of values) expect(formatDecimal(BigInt(v.replace('.', '')), 2, 2)).toBe(v);
  });

  it('reads wide decimals (fixed-length byte arrays) and lower scales exactly', async () => {
    const bytes = await write(`SELECT 12345678901234567.25::DECIMAL(38,2) AS unit_price UNION ALL SELECT -0.01::DECIMAL(38,2) UNION ALL SELECT 7.5::DECIMAL(10,1)`, 'zstd');
    const price = starTable('fact_sales_order').columns.find((c) => c.name === 'unit_price')!;
    expect((await readAll(bytes, [price])).rows.map((r) => r[0])).toEqual(['12345678901234567.25', '-0.01', '7.50']);
  });

  it('yields chunks of at most chunkRows across row groups, rows in file order', async () => {
    const bytes = await write(`SELECT i::INTEGER AS design_id, 'd' || i AS design_name, '/x' AS file_location, 'f' AS file_name FROM range(300000) r(i)`, 'zstd');
    const { rows, chunks } = await readAll(bytes, starTable('dim_design').columns, 50_000);
    expect(rows).toHaveLength(300000);
    expect(chunks).toBeGreaterThanOrEqual(6);
    expect(rows[0]).toEqual([0, 'd0', '/x', 'f']);
    expect(rows[299999]).toEqual([299999, 'd299999', '/x', 'f']);
    expect(rows.every((r, i) => r[0] === i)).toBe(true);
  });

  it('reads bytes that are a view into a larger buffer (Node pools small Buffers)', async () => {
    const bytes = await write(`SELECT 42::INTEGER AS design_id, 'n' AS design_name, 'l' AS file_location, 'f' AS file_name`, 'snappy');
    const view = Buffer.concat([Buffer.from('garbage before'), Buffer.from(bytes), Buffer.from('and after')]).subarray(14, 14 + bytes.byteLength);
    expect(view.byteOffset).toBeGreaterThan(0);
    expect((await readAll(view, starTable('dim_design').columns)).rows).toEqual([[42, 'n', 'l', 'f']]);
  });

  it('names the file and column when a column is missing or the bytes are not Parquet', async () => {
    const bytes = await write(`SELECT 1::INTEGER AS design_id`, 'zstd');
    await expect(readAll(bytes, starTable('dim_design').columns)).rejects.toThrow(/test\.parquet has no column "design_name"/);
    await expect(readAll(new TextEncoder().encode('not parquet at all'), starTable('dim_design').columns)).rejects.toThrow(/test\.parquet is not a readable Parquet file/);
  });

  it('formats decimals from unscaled integers', () => {
    expect(formatDecimal(5n, 2, 2)).toBe('0.05');
    expect(formatDecimal(-5n, 2, 2)).toBe('-0.05');
    expect(formatDecimal(75n, 1, 2)).toBe('7.50');
    expect(formatDecimal(1200n, 3, 2)).toBe('1.20');
    expect(() => formatDecimal(1201n, 3, 2)).toThrow(/does not fit 2 decimal places/);
    expect(twosComplement(Uint8Array.of(0xff, 0xff))).toBe(-1n);
    expect(twosComplement(Uint8Array.of(0x00, 0x80))).toBe(128n);
  });
});
