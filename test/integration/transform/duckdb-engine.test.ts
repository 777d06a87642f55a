import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { DuckDbClient } from '../../../functions/engines/duckdb/client';
import { DuckDbEngine } from '../../../functions/engines/duckdb/engine';
import { RawLake } from './raw-lake';
import { batchOne, batchTwo } from './totesys-rows';
import { rawKey } from '../../../functions/core/lake/lake-layout';
import { ObjectExistsError } from '../../../functions/core/ports/object-store';

/**
 * The local engine's own promises beyond the port's (test/integration/contract/query-engine.contract.ts,
 * run on DuckDB and Trino alike): a batch's raw files parsed once, and a SELECT whose columns are not
 * the target's refused before anything is written; statements sent together run at once, each on
 * a connection of its own, up to the client's number.
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

  it('statements sent together that read one batch parse its raw files once, and each gets the rows', async () => {
    const sent: string[] = [];
    const engine = await DuckDbEngine.create(lake.ingestion, lake.processed, { onStatement: (sql) => sent.push(sql) });
    try {
      const bindings = { batch: { department: [rawKey('department', lake.batchId(1))] }, current: {}, star: {} };
      const answers = await Promise.all([0, 1, 2, 3].map(() => engine.query('SELECT count(*) AS n FROM batch_department', bindings)));
      expect(answers.map((rows) => Number(rows[0].n))).toEqual([0, 1, 2, 3].map(() => batchOne.department!.length));
      expect(sent.filter((sql) => sql.includes('read_json'))).toHaveLength(1);
      expect(sent.filter((sql) => sql.includes('FROM batch_department'))).toHaveLength(4);
    } finally {
      await engine.close();
    }
  });

  it('prepare() parses a table\'s raw files ahead of the statements: a statement binding the same files waits for that parse and parses nothing itself', async () => {
    const sent: string[] = [];
    const engine = await DuckDbEngine.create(lake.ingestion, lake.processed, { onStatement: (sql) => sent.push(sql) });
    const parses = (table: string) => sent.filter((sql) => sql.includes('read_json') && sql.includes(`"${table}_id"`)).length;
    try {
      const files = [rawKey('department', lake.batchId(1))];
      engine.prepare({ department: files });
      // A table no statement reads: only prepare() parses it.
      engine.prepare({ currency: [rawKey('currency', lake.batchId(1))] });
      const rows = await engine.query('SELECT count(*) AS n FROM batch_department', { batch: { department: files }, current: {}, star: {} });
      expect(Number(rows[0].n)).toBe(batchOne.department!.length);
      expect(parses('department')).toBe(1);
    } finally {
      await engine.close();
    }
    // close() waited for the parse no statement asked for.
    expect(parses('currency')).toBe(1);
  });

  it('a batch prepare() parsed stays parsed while an older batch of its table is read first, then is read without a parse', async () => {
    // Batch 2, unless the first test wrote it already.
    await lake.writeBatch(2, batchTwo).catch((err: unknown) => {
      if (!(err instanceof ObjectExistsError)) throw err;
    });
    const sent: string[] = [];
    const engine = await DuckDbEngine.create(lake.ingestion, lake.processed, { onStatement: (sql) => sent.push(sql) });
    const count = (seq: number) => engine.query('SELECT count(*) AS n FROM batch_department', { batch: { department: [rawKey('department', lake.batchId(seq))] }, current: {}, star: {} });
    try {
      engine.prepare({ department: [rawKey('department', lake.batchId(2))] });
      // The older batch first, by two statements (as a transform reads a batch), then the prepared one.
      expect(Number((await count(1))[0].n)).toBe(batchOne.department!.length);
      expect(Number((await count(1))[0].n)).toBe(batchOne.department!.length);
      expect(Number((await count(2))[0].n)).toBe(batchTwo.department!.length);
      expect(sent.filter((sql) => sql.includes('read_json'))).toHaveLength(2);
    } finally {
      await engine.close();
    }
  });

  it('a prepare() whose parse fails is forgotten: the statement reading those files parses them again and reports its own error; nothing starts once close() has begun', async () => {
    const sent: string[] = [];
    const engine = await DuckDbEngine.create(lake.ingestion, lake.processed, { onStatement: (sql) => sent.push(sql) });
    const parses = () => sent.filter((sql) => sql.includes('read_json')).length;
    try {
      const missing = [rawKey('department', lake.batchId(9))];
      engine.prepare({ department: missing });
      // Files of two batches do not make a batch relation: nothing is parsed for them.
      engine.prepare({ department: [rawKey('department', lake.batchId(1)), rawKey('department', lake.batchId(2))] });
      const read = () => engine.query('SELECT count(*) AS n FROM batch_department', { batch: { department: missing }, current: {}, star: {} });
      // The statement joins the parse in flight (or, once it failed, parses again): either way it reports the failure, naming the table.
      await expect(read()).rejects.toThrow(/raw files of department/);
      const before = parses();
      expect(before).toBeGreaterThanOrEqual(1);
      // The failed parse is not kept: the next statement parses again.
      await expect(read()).rejects.toThrow(/raw files of department/);
      expect(parses()).toBe(before + 1);
    } finally {
      const closing = engine.close();
      engine.prepare({ currency: [rawKey('currency', lake.batchId(1))] });
      await closing;
    }
    expect(sent.some((sql) => sql.includes('read_json') && sql.includes('"currency_id"'))).toBe(false);
  });

  it('binds only the relations a statement names: the others are neither parsed nor listed', async () => {
    const sent: string[] = [];
    const engine = await DuckDbEngine.create(lake.ingestion, lake.processed, { onStatement: (sql) => sent.push(sql) });
    try {
      const bindings = { batch: { department: [rawKey('department', lake.batchId(1))], currency: [rawKey('currency', lake.batchId(1))] }, current: {}, star: {} };
      const rows = await engine.query('SELECT count(*) AS n FROM batch_department', bindings);
      expect(Number(rows[0].n)).toBe(batchOne.department!.length);
      // One parse (department's), and the query binds batch_department alone.
      expect(sent.filter((sql) => sql.includes('read_json'))).toHaveLength(1);
      expect(sent.at(-1)).toContain('"batch_department" AS');
      expect(sent.join('\n')).not.toContain('batch_currency');
    } finally {
      await engine.close();
    }
  });

  it('runs a session while another holds its connection, up to the client\'s connections; one connection runs them in turn', async () => {
    // Session A holds its connection until released; what B can do meanwhile tells how many run at once.
    const overlap = async (connections: number): Promise<string[]> => {
      const client = new DuckDbClient(undefined, connections);
      const order: string[] = [];
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let running!: () => void;
      const aRunning = new Promise<void>((resolve) => (running = resolve));
      const a = client.session(async (session) => {
        await session.run('SELECT 1', [], 'a');
        order.push('a running');
        running();
        await held;
        order.push('a done');
      });
      const b = client.session(async (session) => {
        await aRunning;
        await session.run('SELECT day_of_week(DATE \'2025-01-06\') AS d', [], 'b');
        order.push('b done');
        release();
      });
      // With one connection B waits for A, which waits for B: A is released from here instead.
      if (connections === 1) setImmediate(() => setImmediate(release));
      await Promise.all([a, b]);
      await client.close();
      return order;
    };
    expect(await overlap(2)).toEqual(['a running', 'b done', 'a done']);
    expect(await overlap(1)).toEqual(['a running', 'a done', 'b done']);
    expect(() => new DuckDbClient(undefined, 0)).toThrow(/at least 1/);
  });

  it('refuses a SELECT whose columns are not the target\'s, naming them, and leaves nothing at the prefix', async () => {
    await expect(lake.engine.write('SELECT currency_id FROM batch_currency', { batch: { currency: [] }, current: {}, star: {} }, target())).rejects.toThrow(
      /does not produce column\(s\) currency_code/,
    );
    // One column too many is written by the COPY, found in its file, and the file is discarded.
    const extra = target({ prefix: 'scratch/extra/' });
    await expect(
      lake.engine.write('SELECT currency_id, currency_code, 1 AS surplus FROM batch_currency', { batch: { currency: [rawKey('currency', lake.batchId(1))] }, current: {}, star: {} }, extra),
    ).rejects.toThrow(/produces column\(s\) surplus that scratch does not have/);
    // So is a lineage column the SELECT produces while the engine appends it.
    await expect(
      lake.engine.write('SELECT currency_id, currency_code, _batch_id FROM batch_currency', { batch: { currency: [rawKey('currency', lake.batchId(1))] }, current: {}, star: {} }, extra),
    ).rejects.toThrow(/produces column\(s\) _batch_id that scratch does not have/);
    expect(await readdir(lake.processed.pathOf('scratch/extra/')).catch(() => [])).toEqual([]);
    // The same SELECT with the target's columns writes its rows.
    const written = await lake.engine.write('SELECT currency_id, currency_code FROM batch_currency', { batch: { currency: [rawKey('currency', lake.batchId(1))] }, current: {}, star: {} }, extra);
    expect(written.rows).toBe(batchOne.currency!.length);
    expect(written.files).toEqual(['scratch/extra/part-00000.parquet']);
  });
});
