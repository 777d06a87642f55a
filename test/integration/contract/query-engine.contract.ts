import { sourceTable } from '../../../functions/core/contract/source-tables';
import { lakeTrinoType, starTable } from '../../../functions/core/contract/star-tables';
import { rawKey } from '../../../functions/core/lake/lake-layout';
import type { QueryEngine, RelationBindings, WriteTarget } from '../../../functions/core/ports/query-engine';
import { currentStateColumns, currentStateSql } from '../../../functions/core/transform/current-state';
import type { FolderObjectStore } from '../../../functions/local/folder-object-store';
import { RawLake, type RawRow } from '../transform/raw-lake';

/**
 * What every QueryEngine adapter promises (functions/core/ports/query-engine.ts), run against each
 * one (query-engine.test.ts): DuckDB and Trino (the Athena engine runs the same Trino statements;
 * test/cloud proves it on Trino behind an Athena facade). The same relations — raw files of a
 * batch, Parquet prefixes, a current state in segments, a table with no files — must read the same,
 * and a write must leave exactly its rows, with lineage, under its prefix.
 *
 * `open` gives an engine over the two stores of a lake the suite writes by hand (RawLake); values
 * are compared as text, since each engine encodes numbers and dates its own way.
 */
export function queryEngineContract(open: (stores: { ingestion: FolderObjectStore; processed: FolderObjectStore }) => Promise<{ engine: QueryEngine; close?: () => Promise<void> }>): void {
  let lake: RawLake;
  let engine: QueryEngine;
  let close: (() => Promise<void>) | undefined;

  const currency = (id: number, code: string, updated: string): RawRow => ({ currency_id: id, currency_code: code, created_at: '2022-11-03 14:20:49.962', last_updated: updated });
  const first = [currency(1, 'GBP', '2022-11-03 14:20:49.962'), currency(2, 'USD', '2022-11-03 14:20:49.962'), currency(3, 'EUR', '2022-11-03 14:20:49.962'), currency(4, 'JPY', '2022-11-03 14:20:49.962')];
  // Batch 2 changes USD and adds CHF.
  const second = [currency(2, 'usd', '2022-11-04 09:00:00.000'), currency(5, 'CHF', '2022-11-04 09:00:00.000')];

  beforeAll(async () => {
    lake = await RawLake.create();
    await lake.writeBatch(1, { currency: first });
    await lake.writeBatch(2, { currency: second });
    ({ engine, close } = await open({ ingestion: lake.ingestion, processed: lake.processed }));
  }, 900_000);
  afterAll(async () => {
    await engine?.close();
    await close?.();
    await lake?.close();
  });

  const batch = (seq: number): string[] => [rawKey('currency', lake.batchId(seq))];
  const bind = (over: Partial<RelationBindings>): RelationBindings => ({ batch: {}, current: {}, star: {}, ...over });
  /** Rows as text (null stays null): the engines agree on values, not on their JSON encoding. */
  const rows = async (sql: string, bindings?: RelationBindings): Promise<Record<string, string | null>[]> =>
    (await engine.query(sql, bindings)).map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === null ? null : String(v)])));
  const dimCurrency = (prefix: string, over: Partial<WriteTarget> = {}): WriteTarget => ({
    table: 'dim_currency',
    prefix,
    columns: starTable('dim_currency').columns.map((c) => ({ name: c.name, trinoType: lakeTrinoType(c.type) })),
    batchId: lake.batchId(2),
    sqlHash: 'contract-hash',
    origin: 'sql/transform/contract.sql',
    ...over,
  });
  const asDimCurrency = (where = 'true'): string => `SELECT currency_id, currency_code, CAST(NULL AS varchar) AS currency_name FROM batch_currency WHERE ${where}`;

  it("reads a batch's raw files with the contract's columns, and a table without files as an empty relation of them", async () => {
    expect(await rows('SELECT currency_id, currency_code, _batch_id FROM batch_currency ORDER BY currency_id', bind({ batch: { currency: batch(1) } }))).toEqual(
      first.map((r) => ({ currency_id: String(r.currency_id), currency_code: r.currency_code, _batch_id: lake.batchId(1) })),
    );
    expect(await rows('SELECT count(*) AS n, min(currency_code) AS c FROM batch_currency', bind({ batch: { currency: [] } }))).toEqual([{ n: '0', c: null }]);
    const columns = sourceTable('staff').columns.map((c) => c.name).join(', ');
    expect(await rows(`SELECT ${columns}, _batch_id FROM batch_staff`, bind({ batch: { currency: batch(1), staff: [] } }))).toEqual([]);
  });

  it('reads, in each statement, its own batch when statements reading different batches of one table run at once', async () => {
    // The transform stages a batch while its input check reads a later batch of the same table.
    const counted = (seq: number) => rows('SELECT count(*) AS n, min(_batch_id) AS b FROM batch_currency', bind({ batch: { currency: batch(seq) } }));
    for (let round = 0; round < 3; round++) {
      const seqs = [1, 2, 1, 2, 2, 1];
      expect(await Promise.all(seqs.map(counted))).toEqual(seqs.map((seq) => [{ n: String(seq === 1 ? first.length : second.length), b: lake.batchId(seq) }]));
    }
  });

  it('reads raw_<table> over the published files of several batches', async () => {
    expect(await rows('SELECT _batch_id, count(*) AS n FROM raw_currency GROUP BY _batch_id ORDER BY _batch_id', bind({ raw: { currency: [...batch(1), ...batch(2)] } }))).toEqual([
      { _batch_id: lake.batchId(1), n: '4' },
      { _batch_id: lake.batchId(2), n: '2' },
    ]);
  });

  it("writes a SELECT as Parquet under the target prefix with this write's lineage, read back as a star table", async () => {
    const prefix = `star/dim_currency/${lake.batchId(2)}/`;
    const stats = await engine.write(asDimCurrency(), bind({ batch: { currency: batch(1) } }), dimCurrency(prefix));
    expect(stats.rows).toBe(4);
    expect(stats.files.length).toBeGreaterThan(0);
    expect(stats.files.every((f) => f.startsWith(prefix))).toBe(true);
    expect(await rows('SELECT currency_id, currency_code, currency_name, _batch_id, _sql_hash FROM dim_currency ORDER BY currency_id', bind({ star: { dim_currency: [prefix] } }))).toEqual(
      first.map((r) => ({ currency_id: String(r.currency_id), currency_code: r.currency_code, currency_name: null, _batch_id: lake.batchId(2), _sql_hash: 'contract-hash' })),
    );
  });

  it("binds the relations in front of the file's own WITH entries, in writes and queries", async () => {
    const prefix = 'scratch/with-entries/';
    const select = `-- a header\nWITH picked AS (SELECT * FROM batch_currency WHERE currency_id < 3)\nSELECT currency_id, currency_code, CAST(NULL AS varchar) AS currency_name FROM picked;`;
    expect((await engine.write(select, bind({ batch: { currency: batch(1) } }), dimCurrency(prefix))).rows).toBe(2);
    expect(await rows('WITH ids AS (SELECT currency_id FROM dim_currency) SELECT count(*) AS n FROM ids;', bind({ star: { dim_currency: [prefix] } }))).toEqual([{ n: '2' }]);
  });

  it('rewrites a prefix on a re-run: it then holds only the last write', async () => {
    const prefix = 'scratch/rerun/';
    await engine.write(asDimCurrency(), bind({ batch: { currency: batch(1) } }), dimCurrency(prefix));
    expect((await engine.write(asDimCurrency('currency_id = 1'), bind({ batch: { currency: batch(1) } }), dimCurrency(prefix))).rows).toBe(1);
    expect(await rows('SELECT currency_id FROM dim_currency', bind({ star: { dim_currency: [prefix] } }))).toEqual([{ currency_id: '1' }]);
  });

  it('writes an empty result as no rows, read back as an empty relation', async () => {
    const prefix = 'scratch/empty/';
    expect((await engine.write(asDimCurrency('false'), bind({ batch: { currency: batch(1) } }), dimCurrency(prefix))).rows).toBe(0);
    expect(await rows('SELECT count(*) AS n FROM dim_currency', bind({ star: { dim_currency: [prefix] } }))).toEqual([{ n: '0' }]);
    expect(await rows('SELECT count(*) AS n FROM dim_currency', bind({ star: { dim_currency: ['scratch/never-written/'] } }))).toEqual([{ n: '0' }]);
  });

  it('keeps a lineage column the target lists as data, and reads a current state in segments as the latest version of each row', async () => {
    const table = sourceTable('currency');
    const target = (seq: number): WriteTarget => ({
      table: 'current_currency',
      prefix: `current/currency/${lake.batchId(seq)}/`,
      columns: currentStateColumns(table),
      batchId: lake.batchId(3),
      sqlHash: 'h',
      origin: 'generated',
    });
    // Base from batch 1, delta from batch 2; each row keeps the batch that extracted it, not the writer's.
    await engine.write(currentStateSql(table, { hasPrevious: false }), bind({ batch: { currency: batch(1) } }), target(1));
    await engine.write(currentStateSql(table, { hasPrevious: false }), bind({ batch: { currency: batch(2) } }), target(2));
    const segments = [target(1).prefix, target(2).prefix];
    expect(await rows('SELECT currency_id, currency_code, _batch_id FROM current_currency ORDER BY currency_id', bind({ current: { currency: segments } }))).toEqual([
      { currency_id: '1', currency_code: 'GBP', _batch_id: lake.batchId(1) },
      { currency_id: '2', currency_code: 'usd', _batch_id: lake.batchId(2) },
      { currency_id: '3', currency_code: 'EUR', _batch_id: lake.batchId(1) },
      { currency_id: '4', currency_code: 'JPY', _batch_id: lake.batchId(1) },
      { currency_id: '5', currency_code: 'CHF', _batch_id: lake.batchId(2) },
    ]);
    // The same state through previous_<table>, merged with a batch by the generated current-state SQL.
    const merged = target(3);
    const stats = await engine.write(currentStateSql(table, { hasPrevious: true }), bind({ batch: { currency: batch(2) }, previous: { currency: segments } }), { ...merged, prefix: 'scratch/merged/' });
    expect(stats.rows).toBe(5);
    expect(await rows('SELECT count(*) AS n FROM current_currency', bind({ current: { currency: target(1).prefix } }))).toEqual([{ n: '4' }]);
  });

  it('reads a column of the source contract that a current-state segment lacks as NULL (written before the contract had it)', async () => {
    const table = sourceTable('currency');
    const columns = currentStateColumns(table);
    const segment = (name: string, without: string[]): WriteTarget => ({
      table: 'current_currency', prefix: `current/currency/${name}/`, columns: columns.filter((c) => !without.includes(c.name)), batchId: lake.batchId(2), sqlHash: 'h', origin: 'generated',
    });
    const old = segment('old-base', ['currency_code']);
    await engine.write(`SELECT ${old.columns.map((c) => c.name).join(', ')} FROM batch_currency`, bind({ batch: { currency: batch(1) } }), old);
    // No segment has the column yet: every row reads NULL.
    expect(await rows('SELECT currency_id, currency_code FROM current_currency ORDER BY currency_id', bind({ current: { currency: [old.prefix] } }))).toEqual(
      first.map((r) => ({ currency_id: String(r.currency_id), currency_code: null })),
    );
    // A later delta has it: its rows carry it, the base's rows still read NULL.
    const delta = segment('new-delta', []);
    await engine.write(`SELECT ${delta.columns.map((c) => c.name).join(', ')} FROM batch_currency`, bind({ batch: { currency: batch(2) } }), delta);
    expect(await rows('SELECT currency_id, currency_code FROM current_currency ORDER BY currency_id', bind({ current: { currency: [old.prefix, delta.prefix] } }))).toEqual([
      { currency_id: '1', currency_code: null },
      { currency_id: '2', currency_code: 'usd' },
      { currency_id: '3', currency_code: null },
      { currency_id: '4', currency_code: null },
      { currency_id: '5', currency_code: 'CHF' },
    ]);
  });

  it('binds previous_<star table> beside the star table, and refuses it alone', async () => {
    const before = 'scratch/before/';
    const after = 'scratch/after/';
    await engine.write(asDimCurrency('currency_id <= 2'), bind({ batch: { currency: batch(1) } }), dimCurrency(before));
    await engine.write(asDimCurrency(), bind({ batch: { currency: batch(1) } }), dimCurrency(after));
    const changed = 'SELECT currency_id FROM dim_currency EXCEPT SELECT currency_id FROM previous_dim_currency ORDER BY currency_id';
    expect(await rows(changed, bind({ star: { dim_currency: [after] }, previousStar: { dim_currency: before } }))).toEqual([{ currency_id: '3' }, { currency_id: '4' }]);
    await expect(engine.query(changed, bind({ previousStar: { dim_currency: before } }))).rejects.toThrow(/bound without dim_currency/);
  });

  it('writes Hive partitions when asked', async () => {
    const stats = await engine.write(asDimCurrency(), bind({ batch: { currency: batch(1) } }), dimCurrency('scratch/parts/', { partitionedBy: ['currency_code'] }));
    expect(stats.rows).toBe(4);
    expect([...new Set(stats.files.map((f) => f.split('/')[2]))].sort()).toEqual(['currency_code=EUR', 'currency_code=GBP', 'currency_code=JPY', 'currency_code=USD']);
  });

  it('names the SQL file and the batch when a statement fails, and runs only read-only queries', async () => {
    const failed = await engine.write('SELECT nope FROM batch_currency', bind({ batch: { currency: batch(1) } }), dimCurrency('scratch/failed/')).catch((err: unknown) => err as Error);
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).message).toContain('sql/transform/contract.sql');
    expect((failed as Error).message).toContain(lake.batchId(2));
    await expect(engine.query('CREATE TABLE x (a integer)')).rejects.toThrow(/Only read-only SELECT/);
  });
}
