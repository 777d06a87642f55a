import pg from 'pg';
import { STAR_TABLES, type StarTableName } from '../../../functions/core/contract/star-tables';
import { loadPending, readWarehouseTable } from '../../../functions/core/load/load';
import type { Log } from '../../../functions/core/ports/log';
import { firstBatch, LoadFixture, salesOrder, warehouseDatabase, withoutSurrogate, type WarehouseDb } from './load-fixtures';

/**
 * The one-pass COPY of the `copy` method (a real PostgreSQL server): facts, and dimensions while
 * still empty, are copied straight into their warehouse table; a version already in the warehouse
 * makes that COPY fail with unique_violation, and the table falls back to staging + ON CONFLICT.
 * Assertions are on the warehouse's rows, its load ledger, and what the load logged.
 */

interface Logged {
  level: 'info' | 'warn' | 'error' | 'progress';
  message: string;
  fields?: Record<string, unknown>;
}

function recordingLog(): { log: Log; lines: Logged[] } {
  const lines: Logged[] = [];
  return {
    lines,
    log: {
      info: (message, fields) => lines.push({ level: 'info', message, fields }),
      warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
      error: (message, fields) => lines.push({ level: 'error', message, fields }),
      progress: (message, fields) => lines.push({ level: 'progress', message, fields }),
      metric: () => undefined,
    },
  };
}

/** Tables the load reported copying straight in, per batch id. */
const directCopies = (lines: Logged[]): Record<string, string[]> => {
  const out: Record<string, string[]> = {};
  for (const l of lines.filter((x) => x.level === 'progress' && x.fields?.path === 'direct-copy')) {
    (out[String(l.fields!.batchId)] ??= []).push(String(l.fields!.table));
  }
  return out;
};

describe('loadPending, COPY straight into the warehouse tables (PostgreSQL server)', () => {
  let db: WarehouseDb;
  let fx: LoadFixture;
  let schema: string;
  let tests = 0;

  beforeAll(async () => {
    db = await warehouseDatabase('server');
  });
  afterAll(async () => {
    await db.close();
  });
  beforeEach(async () => {
    fx = await LoadFixture.create();
    schema = `direct_${++tests}`;
  });
  afterEach(async () => {
    await fx.close();
  });

  // Every table by the COPY paths, however few its rows (a small output otherwise merges by one INSERT: the last test).
  const load = (log: Log, smallOutputRows = 0) => loadPending({ ...fx.context(db.url, schema), log }, { method: 'copy', smallOutputRows });
  const table = async (name: StarTableName) => withoutSurrogate(name, await readWarehouseTable(db.url, schema, name));
  const ledgerRows = async () => (await readWarehouseTable(db.url, schema, 'load_ledger')).map((l) => JSON.parse(l.rows!) as Record<string, unknown>);

  /** Batch 1 (every table) and batch 2 (a staff member's department changed, one new sales order version), written. */
  const writeTwoBatches = async () => {
    const first = firstBatch();
    await fx.writeBatch(1, first);
    const second = firstBatch();
    second.dim_staff![1] = { ...second.dim_staff![1], department_name: 'Sales' };
    second.fact_sales_order = [salesOrder('1', '2025-01-02', '08:00:00.000', '9', '3.10')];
    delete second.fact_purchase_order;
    delete second.fact_payment;
    await fx.writeBatch(2, second);
    return { first, second };
  };

  it('copies every fact and every still-empty dimension straight in; later dimension change sets upsert', async () => {
    const { first, second } = await writeTwoBatches();

    const { log, lines } = recordingLog();
    const results = await load(log);
    expect(results.map((r) => [r.seq, r.method, r.skipped])).toEqual([[1, 'copy', false], [2, 'copy', false]]);

    // Batch 1: an empty warehouse, so all 11 tables go straight in. Batch 2: the dimensions hold rows
    // now (upsert through staging); the one fact with rows is copied straight in again.
    expect(directCopies(lines)).toEqual({
      [fx.batchId(1)]: STAR_TABLES.map((t) => t.name),
      [fx.batchId(2)]: ['fact_sales_order'],
    });
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);

    for (const t of STAR_TABLES.filter((x) => x.kind === 'dimension')) expect({ t: t.name, rows: await table(t.name) }).toEqual({ t: t.name, rows: second[t.name] });
    expect(await table('fact_sales_order')).toEqual([first.fact_sales_order![0], second.fact_sales_order![0], first.fact_sales_order![1]]);
    expect(await table('fact_payment')).toEqual(first.fact_payment);
    // The surrogate key comes from the identity column, in load order.
    expect((await readWarehouseTable(db.url, schema, 'fact_sales_order')).map((r) => r.sales_record_id)).toEqual(['1', '3', '2']);
  });

  it('merges a small output by one INSERT of array parameters instead, to the same rows, surrogate keys and ledger', async () => {
    await writeTwoBatches();
    const snapshot = async () => ({
      tables: await Promise.all(STAR_TABLES.map((t) => readWarehouseTable(db.url, schema, t.name))),
      ledger: await ledgerRows(),
    });

    const copied = recordingLog();
    const viaCopy = await load(copied.log, 0);
    const byCopy = await snapshot();
    schema = `${schema}_small`;
    const merged = recordingLog();
    const viaInsert = await load(merged.log, 1_000);
    expect(directCopies(merged.lines)).toEqual({});
    expect(directCopies(copied.lines)).not.toEqual({});
    expect(viaInsert.map((r) => r.tables)).toEqual(viaCopy.map((r) => r.tables));
    expect(await snapshot()).toEqual(byCopy);
  });

  it('records in the ledger the rows read and the rows the COPY wrote, per table', async () => {
    await fx.writeBatch(1, firstBatch());
    const { log } = recordingLog();
    const [r] = await load(log);
    const expected = Object.fromEntries(
      Object.entries(firstBatch()).map(([name, rows]) => [name, { read: rows.length, written: rows.length, files: 1 }]),
    );
    expect(r.tables).toEqual(expected);
    expect(await ledgerRows()).toEqual([expected]);
  });

  for (const [path, smallOutputRows, warning] of [
    ['the COPY fails, the table falls back to the upsert on its natural key', 0, 'holds a version of fact_sales_order whose key the warehouse already has.*upsert on its natural key.*stamped in the same millisecond'],
    ['a small output merged by one INSERT skips it', 1_000, 'holds 1 version\\(s\\) of fact_sales_order the warehouse already has with the same values; they were skipped'],
  ] as const) {
    it(`a fact version already in the warehouse: ${path}, with a warning`, async () => {
      const first = firstBatch();
      await fx.writeBatch(1, first);
      const { log, lines } = recordingLog();
      await load(log, smallOutputRows);

      // Someone wrote batch 2's version of sales order 2 into the warehouse behind the ledger's back.
      const repeated = salesOrder('2', '2025-01-03', '10:00:00.000', '12', '0.05');
      const fresh = salesOrder('3', '2025-01-03', '10:00:01.000', '4', '1.00');
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const cols = Object.keys(repeated);
        await client.query(
          `INSERT INTO "${schema}".fact_sales_order (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
          cols.map((c) => repeated[c]),
        );
      } finally {
        await client.end();
      }
      await fx.writeBatch(2, { fact_sales_order: [fresh, repeated] });

      const [r2] = await load(log, smallOutputRows);
      expect(r2).toMatchObject({ seq: 2, skipped: false, method: 'copy' });
      expect(r2.tables.fact_sales_order).toEqual({ read: 2, written: 1, files: 1 });
      expect((await ledgerRows())[1]).toMatchObject({ fact_sales_order: { read: 2, written: 1, files: 1 } });

      // Each version once: the two of batch 1, the one inserted behind the ledger's back, the fresh one.
      expect(await table('fact_sales_order')).toEqual([...first.fact_sales_order!, repeated, fresh]);

      const warnings = lines.filter((l) => l.level === 'warn');
      expect(warnings).toHaveLength(1);
      expect(warnings[0].message).toMatch(new RegExp(`batch ${fx.batchId(2)} ${warning}`));
      expect(warnings[0].fields).toEqual({ batchId: fx.batchId(2), table: 'fact_sales_order' });
      expect(directCopies(lines)[fx.batchId(2)]).toBeUndefined();
    });
  }

  it('a later version with the key of one already loaded (stamped in the same millisecond) replaces it and orders last', async () => {
    await fx.writeBatch(1, firstBatch());
    const { log, lines } = recordingLog();
    await load(log);
    const sameStamp = salesOrder('1', '2025-01-01', '09:15:00.100', '8', '3.10'); // batch 1 held units 7 under this key
    await fx.writeBatch(2, { fact_sales_order: [sameStamp] });
    const [r2] = await load(log);
    expect(r2.tables.fact_sales_order).toEqual({ read: 1, written: 1, files: 1 });
    const rows = await readWarehouseTable(db.url, schema, 'fact_sales_order');
    expect(rows.filter((r) => r.sales_order_id === '1').map((r) => r.units_sold)).toEqual(['8']);
    // A new surrogate key: the current view (latest by surrogate key) shows it.
    const ids = rows.map((r) => Number(r.sales_record_id));
    expect(Number(rows.find((r) => r.sales_order_id === '1')!.sales_record_id)).toBe(Math.max(...ids));
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([expect.stringMatching(/stamped in the same millisecond/)]);
  });

  it('an error other than a duplicate version fails the batch and rolls it back', async () => {
    await fx.writeBatch(1, firstBatch());
    const bad = firstBatch();
    bad.fact_payment![1] = { ...bad.fact_payment![1], created_time: '25:61:00.000' }; // not a time of day
    await fx.writeBatch(2, { fact_payment: bad.fact_payment, fact_sales_order: [salesOrder('3', '2025-01-03', '10:00:01.000', '4', '1.00')] });
    const { log, lines } = recordingLog();
    await expect(load(log)).rejects.toThrow(new RegExp(`Load of batch ${fx.batchId(2)} failed on table fact_payment .*25:61:00\\.000`));
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
    expect((await readWarehouseTable(db.url, schema, 'load_ledger')).map((l) => l.seq)).toEqual(['1']);
    expect(await table('fact_sales_order')).toEqual(firstBatch().fact_sales_order); // batch 2's sales order rolled back too
  });
});
