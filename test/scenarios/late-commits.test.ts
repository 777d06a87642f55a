/**
 * Capture by commit, not by the writer's clock (functions/core/extract/late-commits.ts), against
 * the audit-trigger oracle: writers whose `last_updated` lies — a clock behind or ahead of the
 * database's, a stamp taken before BEGIN, a savepoint, a prepared transaction — commit after an
 * extract's snapshot, and every version current at a later extract still reaches the lake and the
 * warehouse exactly once. No commit lag is set anywhere.
 *
 * Each case that can lose a version checks its own precondition (the stamp lies at or below the
 * cursor the extract left), so it cannot pass for want of the case it is about. Writers commit
 * between extracts, never during one, so the oracle's marks (taken right before each extract) are
 * exact and the closing check is the mark-based `check()`.
 *
 * PGlite serves one transaction at a time: while a writer's transaction is open the extract waits,
 * so no commit can come after its snapshot there. The in-flight cases need a server and are skipped
 * where none can run (with that reason; in CI they fail instead); the rest run on both.
 */
import { Client } from 'pg';
import { extract, type ExtractOptions } from '../../functions/core/extract/extract';
import { gunzipSync } from 'node:zlib';
import { latestExtractManifest, listExtractSeqs, readExtractManifest } from '../../functions/core/lake/manifest-log';
import { loadPending } from '../../functions/core/load/load';
import { transformPending } from '../../functions/core/transform/transform';
import { formatVerifyReport, verify } from '../../functions/core/verify/verify';
import { withCurrentViews } from '../../functions/core/analysis/current-views';
import { lakeBindings } from '../../functions/core/transform/lake-bindings';
import { itRequiring } from '../support/requires';
import { serverSkipReason } from '../support/test-postgres';
import { NOW, openScenario, type Scenario } from './scenario-harness';

jest.setTimeout(180_000);
let s: Scenario;

beforeAll(async () => {
  s = await openScenario('late_commits');
  await s.cycle();
  // One connection for honest writes, so a writer can begin within milliseconds of one (not on PGlite: one connection at a time).
  if (s.source.kind !== 'pglite') honest = await openWriter(false);
});
afterAll(async () => {
  await honest?.end();
  await s?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * A case with a writer in flight at an extract's snapshot: it needs a PostgreSQL server (on PGlite,
 * which serves one transaction at a time, no commit can come after a snapshot), so where none can
 * run it is skipped, with that reason (in CI it fails instead, test/support/requires.ts).
 */
const noServer = serverSkipReason();
const itInFlight = (name: string, fn: () => Promise<void>) =>
  itRequiring(name, noServer && `${noServer} (PGlite serves one transaction at a time: no commit can come after an extract's snapshot)`, async () => {
    if (s.source.kind === 'pglite') throw new Error('A server was expected (test/support/test-postgres.ts serverSkipReason), but the scenario runs on PGlite');
    await fn();
  });

/** One extract (oracle-marked) with options, then transform and load. */
async function run(options: ExtractOptions = {}) {
  await s.beforeExtract();
  const result = await extract(s.ctx, options);
  await s.oracle.extracted(s.ctx.ingestion, result);
  await transformPending(s.ctx);
  await loadPending(s.ctx);
  return result;
}

/** A writer on its own connection; `begin` opens its transaction (connecting takes longer than a skew of 50 ms). */
async function openWriter(begin = true): Promise<Client> {
  const c = new Client({ connectionString: s.source.url });
  await c.connect();
  if (begin) await c.query('BEGIN');
  return c;
}

/** The stamp a sales order carries now, and the sales_order cursor of the newest batch. */
async function stampAndCursor(id: number): Promise<{ stamp: string; cursor: string }> {
  const [row] = await s.sql<{ t: string }>(`SELECT to_char(last_updated, 'YYYY-MM-DD HH24:MI:SS.MS') AS t FROM sales_order WHERE sales_order_id = $1`, [id]);
  const manifest = await latestExtractManifest(s.ctx.ingestion);
  return { stamp: row.t, cursor: manifest!.tables.sales_order!.cursor!.lastUpdated };
}

/** Honest single-statement amendment of a sales order (the seed has 35), stamped from the database clock. */
async function amend(id: number): Promise<void> {
  const sql = `UPDATE sales_order SET units_sold = units_sold % 500 + 1, last_updated = ${NOW} WHERE sales_order_id = $1`;
  const res = honest ? await honest.query(sql, [id]) : { rowCount: (await s.sql(`${sql} RETURNING 1`, [id])).length };
  if (res.rowCount !== 1) throw new Error(`no sales order ${id} to amend`);
}
let honest: Client | undefined;

/** Every row of `table` in the raw lake's published batches, in batch order. */
async function rawRows(table: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const seq of await listExtractSeqs(s.ctx.ingestion)) {
    for (const file of (await readExtractManifest(s.ctx.ingestion, seq)).tables[table as 'sales_order']?.files ?? []) {
      for (const line of gunzipSync(await s.ctx.ingestion.get(file.key)).toString('utf8').split('\n')) if (line) rows.push(JSON.parse(line) as Record<string, unknown>);
    }
  }
  return rows;
}

/** Rows of a query on the warehouse. */
async function warehouseRows(sql: string): Promise<Record<string, unknown>[]> {
  const c = new Client({ connectionString: s.warehouse.url });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

it('starts clean', async () => {
  expect(await s.check()).toEqual([]);
});

for (const [skew, id, other] of [
  ['50 ms', 10, 1],
  ['2 s', 11, 2],
  ['30 s', 12, 3],
] as const) {
  itInFlight(`rescues a writer whose clock is ${skew} behind the database, committed after the next extract`, async () => {
    // An honest commit just before the writer begins, then the writer stamps "now" by a clock
    // behind the database's: its stamp lies before the honest one, which the extract reads.
    const w = await openWriter(false);
    await amend(other);
    await sleep(5); // the honest stamp must lie below the bound the writer's start holds (millisecond precision)
    await w.query('BEGIN');
    try {
      await w.query(`UPDATE sales_order SET units_sold = units_sold % 500 + 1, last_updated = ${NOW} - interval '${skew}' WHERE sales_order_id = $1`, [id]);
      await sleep(5);
      await run();
      await w.query('COMMIT');
    } finally {
      await w.end();
    }
    const { stamp, cursor } = await stampAndCursor(id);
    expect(stamp < cursor).toBe(true); // the version lies below the cursor: only the rescue can read it
    // totes verify sees the version missing, and says the next run picks it up.
    expect(formatVerifyReport(await verify(s.ctx))).toMatch(new RegExp(`absent from the raw lake: sales_order_id ${id} \\(1 of them committed after batch \\d+'s snapshot below its cursor: the next run rescues them`));
    const next = await run();
    expect(next.manifest?.tables.sales_order?.rescued?.rows).toBe(1);
    expect(await s.check()).toEqual([]);
  });
}

itInFlight('reads writers whose clocks are 50 ms, 2 s and 30 s ahead of the database once their stamps are below the bound', async () => {
  const writers: Client[] = [];
  try {
    for (const [skew, id] of [['50 ms', 20], ['2 s', 21], ['30 s', 22]] as const) {
      const w = await openWriter();
      writers.push(w);
      await w.query(`UPDATE sales_order SET units_sold = units_sold % 500 + 1, last_updated = ${NOW} + interval '${skew}' WHERE sales_order_id = $1`, [id]);
    }
    await amend(4);
    await run();
    for (const w of writers) await w.query('COMMIT');
  } finally {
    for (const w of writers) await w.end();
  }
  await run();
  // A stamp in the future is read once the bound passes it: wait for the 30 s one.
  const [{ t }] = await s.sql<{ t: string }>(`SELECT to_char(last_updated, 'YYYY-MM-DD HH24:MI:SS.MS') AS t FROM sales_order WHERE sales_order_id = 22`);
  const waitMs = Date.parse(`${t.replace(' ', 'T')}Z`) - Date.now() + 1000;
  if (waitMs > 0) await sleep(waitMs);
  await run();
  expect(await s.check()).toEqual([]);
  expect(s.log.text('warn')).not.toMatch(/rescued/);
});

itInFlight('rescues a transaction that stamped before BEGIN and commits across several extracts (long in flight: below the band)', async () => {
  const lookback = { lateCommitLookbackSeconds: 1 }; // the band reaches 1 s below the cursor; 0.5 s makes a transaction long
  const wrote = await openWriter(false);
  const idle = await openWriter(false);
  await amend(5);
  await sleep(5);
  await wrote.query('BEGIN');
  await idle.query('BEGIN');
  // One writer that wrote at once, one that only began (no transaction id yet): both stamp 3 s
  // before their start, so their versions lie below the band once the cursor passes them.
  try {
    await wrote.query(`UPDATE sales_order SET units_sold = units_sold % 500 + 1, last_updated = ${NOW} - interval '3 s' WHERE sales_order_id = 30`);
    const [{ stamp }] = (await idle.query<{ stamp: string }>(`SELECT to_char(${NOW} - interval '3 s', 'YYYY-MM-DD HH24:MI:SS.MS') AS stamp`)).rows;
    await sleep(700);
    await run(lookback);
    await amend(6);
    await sleep(300);
    await run(lookback);
    await idle.query(`UPDATE sales_order SET units_sold = units_sold % 500 + 1, last_updated = $1::timestamp WHERE sales_order_id = 31`, [stamp]);
    await amend(7);
    await sleep(300);
    await run(lookback);
    await wrote.query('COMMIT');
    await idle.query('COMMIT');
  } finally {
    await wrote.end();
    await idle.end();
  }
  for (const id of [30, 31]) {
    const { stamp, cursor } = await stampAndCursor(id);
    expect(stamp < cursor).toBe(true);
  }
  const next = await run(lookback);
  expect(next.manifest?.tables.sales_order?.rescued).toMatchObject({ rows: 2, reason: expect.stringMatching(/long-in-flight/) });
  expect(await s.check()).toEqual([]);
});

itInFlight('rescues versions written in savepoints (released, and one left open), not the rolled-back one', async () => {
  const w = await openWriter(false);
  await amend(8);
  await sleep(5);
  await w.query('BEGIN');
  try {
    const stamp = `${NOW} - interval '2 s'`;
    await w.query('SAVEPOINT a');
    await w.query(`UPDATE sales_order SET units_sold = units_sold % 500 + 1, last_updated = ${stamp} WHERE sales_order_id = 13`);
    await w.query('RELEASE SAVEPOINT a');
    await w.query('SAVEPOINT b');
    await w.query(`UPDATE sales_order SET units_sold = units_sold % 500 + 1, last_updated = ${stamp} WHERE sales_order_id = 14`);
    await w.query('ROLLBACK TO SAVEPOINT b');
    await w.query('SAVEPOINT c');
    await w.query(`UPDATE sales_order SET units_sold = units_sold % 500 + 1, last_updated = ${stamp} WHERE sales_order_id = 15`);
    // A commit after the savepoints' ids were taken moves the snapshot's xmax past them, so they
    // lie inside it, where pg_current_snapshot() cannot tell them from committed ids.
    await amend(12);
    await run();
    await w.query('COMMIT');
  } finally {
    await w.end();
  }
  const manifest = await latestExtractManifest(s.ctx.ingestion);
  // In flight inside the snapshot: a (released), b as ROLLBACK TO re-opened it (it takes an id when
  // c, nested in it, writes) and c; the rolled-back b's id is aborted, not in flight.
  expect(manifest!.source!.subxids.length).toBe(3);
  for (const id of [13, 15]) expect((await stampAndCursor(id)).stamp < manifest!.tables.sales_order!.cursor!.lastUpdated).toBe(true);
  const next = await run();
  expect(next.manifest?.tables.sales_order?.rescued?.rows).toBe(2);
  expect(await s.check()).toEqual([]);
});

itInFlight('rescues a prepared transaction stamped an hour early and committed after the next extract', async () => {
  const [{ max }] = await s.sql<{ max: string }>(`SELECT current_setting('max_prepared_transactions') AS max`);
  if (Number(max) === 0) {
    console.warn('prepared-transaction scenario skipped: the server has max_prepared_transactions = 0 (test/support/pg-server.sh sets 10)');
    return;
  }
  const w = await openWriter();
  try {
    await w.query(`UPDATE sales_order SET units_sold = units_sold % 500 + 1, last_updated = ${NOW} - interval '1 hour' WHERE sales_order_id = 16`);
    await w.query(`PREPARE TRANSACTION 'totes_late_13'`);
  } finally {
    await w.end();
  }
  try {
    await amend(9);
    await run();
  } finally {
    await s.sql(`COMMIT PREPARED 'totes_late_13'`);
  }
  const { stamp, cursor } = await stampAndCursor(16);
  expect(stamp < cursor).toBe(true);
  const next = await run();
  expect(next.manifest?.tables.sales_order?.rescued).toMatchObject({ rows: 1, reason: expect.stringMatching(/long-in-flight/) });
  expect(await s.check()).toEqual([]);
});

it('takes the latest version of a row updated twice between extracts (a late commit, then an honest update)', async () => {
  if (s.source.kind !== 'pglite') {
    const w = await openWriter(false);
    await amend(18);
    await sleep(5);
    await w.query('BEGIN');
    try {
      await w.query(`UPDATE sales_order SET units_sold = 7, last_updated = ${NOW} - interval '2 s' WHERE sales_order_id = 17`);
      await run();
      await w.query('COMMIT');
    } finally {
      await w.end();
    }
  }
  // Superseded before any extract saw it: only the newer version is ever current at a snapshot.
  await s.sql(`UPDATE sales_order SET units_sold = 8, last_updated = ${NOW} WHERE sales_order_id = 17`);
  await sleep(5);
  await s.sql(`UPDATE sales_order SET units_sold = 9, last_updated = ${NOW} WHERE sales_order_id = 17`);
  await run();
  expect(await s.check()).toEqual([]);
});

it('makes a rescued version current even when its stamp is older than the version it supersedes', async () => {
  // The lake's current state, the facts' current views and the warehouse must take the version of
  // the later batch, not the greater stamp: a writer whose clock is 2 s behind supersedes a version
  // stamped by the database clock, committed after the extract that read the first one.
  await amend(24);
  await run();
  // Stamped 2 s before the version it supersedes (however long the cycle above took).
  await s.sql(`UPDATE sales_order SET units_sold = 11, last_updated = last_updated - interval '2 s' WHERE sales_order_id = 24`);
  const { stamp, cursor } = await stampAndCursor(24);
  expect(stamp < cursor).toBe(true); // older than the version the lake holds: only the rescue reads it
  const next = await run();
  expect(next.manifest?.tables.sales_order?.rescued?.rows).toBe(1);
  expect(await s.check()).toEqual([]);
  const [lake] = await s.ctx.engine.query(withCurrentViews(`SELECT units_sold FROM fact_sales_order_current WHERE sales_order_id = 24`), await lakeBindings(s.ctx));
  expect(Number(lake.units_sold)).toBe(11);
  const [wh] = await warehouseRows(`SELECT units_sold FROM fact_sales_order_current WHERE sales_order_id = 24`);
  expect(Number(wh.units_sold)).toBe(11);
});

it('keeps both versions of a row stamped in the same millisecond: the lake holds each once, the warehouse the later', async () => {
  // Two writes of one row stamped alike (two transactions started together, the second waiting on
  // the first's row lock): two versions with one key (sales_order_id, last_updated). The first is
  // read by one batch; the second, committed after that batch's snapshot at its cursor, is rescued
  // by the next. Not a version read twice: verify says so, and the warehouse, which keeps one row
  // per key, keeps the later.
  await amend(25);
  await run();
  await s.sql(`UPDATE sales_order SET units_sold = 12 WHERE sales_order_id = 25`); // the same stamp, other values
  const { stamp, cursor } = await stampAndCursor(25);
  expect(stamp <= cursor).toBe(true);
  const next = await run();
  expect(next.manifest?.tables.sales_order?.rescued?.rows).toBe(1);
  expect(await s.check()).toEqual([]);
  const copies = (await rawRows('sales_order')).filter((r) => r.sales_order_id === 25 && r.last_updated === stamp).map((r) => Number(r.units_sold));
  expect(copies).toHaveLength(2);
  expect(copies[1]).toBe(12);
  expect(copies[0]).not.toBe(12);
  const report = await verify(s.ctx);
  expect(report.ok).toBe(true);
  expect(formatVerifyReport(report)).toMatch(new RegExp(`· 1 key\\(s\\) carry two or more different versions stamped in the same millisecond.*: 25@${stamp.replace(/\./g, '\\.')}`));
  const [lake] = await s.ctx.engine.query(withCurrentViews(`SELECT units_sold FROM fact_sales_order_current WHERE sales_order_id = 25`), await lakeBindings(s.ctx));
  expect(Number(lake.units_sold)).toBe(12);
  const wh = await warehouseRows(
    `SELECT units_sold, (SELECT units_sold FROM fact_sales_order_current WHERE sales_order_id = 25) AS current FROM fact_sales_order
      WHERE sales_order_id = 25 AND last_updated_date + last_updated_time = TIMESTAMP '${stamp}'`,
  );
  expect(wh.map((r) => [Number(r.units_sold), Number(r.current)])).toEqual([[12, 12]]);
});

it('repairs, once and when asked, a version stamped more than the lookback before its own transaction (the rescue leaves it)', async () => {
  // A short transaction (not long in flight) whose stamp lies 10 minutes back, committed after an
  // extract: below the rescue's band, so only a repair reads it. No writer needs to be in flight.
  await amend(5);
  await run();
  await s.sql(`UPDATE sales_order SET units_sold = 13, last_updated = ${NOW} - interval '10 minutes' WHERE sales_order_id = 30`);
  await amend(9);
  const plain = await run();
  expect(plain.published).toBe(true);
  expect(plain.manifest?.tables.sales_order?.rescued).toBeUndefined(); // the rescue does not reach it
  expect(formatVerifyReport(await verify(s.ctx))).toMatch(/absent from the raw lake: sales_order_id 30; `totes run --repair` reads them, once/);
  // A late commit within the band in the same batch as the repair: the rescue reads it, the repair does not read it again.
  await amend(6);
  await run();
  await s.sql(`UPDATE sales_order SET units_sold = 14, last_updated = (SELECT last_updated FROM sales_order WHERE sales_order_id = 6) - interval '2 s' WHERE sales_order_id = 31`);
  const repaired = await run({ repair: true });
  expect(repaired.manifest?.repair).toBe(true);
  expect(repaired.manifest?.tables.sales_order?.repaired?.rows).toBe(1);
  expect(repaired.manifest?.tables.sales_order?.repaired?.reason).toMatch(/sales_order_id 30\)/);
  expect(repaired.manifest?.tables.sales_order?.rescued?.rows).toBe(1);
  expect(await s.check()).toEqual([]);
  // Asked again, nothing is missing: nothing is read twice.
  await amend(7);
  const again = await run({ repair: true });
  expect(Object.values(again.manifest!.tables).some((t) => t.repaired)).toBe(false);
  expect(await s.check()).toEqual([]);
});

it('repairs nothing when the lake lacks nothing (on every source)', async () => {
  await amend(8);
  const result = await run({ repair: true });
  expect(result.manifest?.repair).toBe(true);
  expect(Object.values(result.manifest!.tables).some((t) => t.repaired)).toBe(false);
  expect(await s.check()).toEqual([]);
});

it('records each batch snapshot and rescues nothing when nothing committed late', async () => {
  await amend(19);
  const result = await run();
  expect(result.manifest?.source?.current).toMatch(/^\d+:\d+:/);
  expect(result.manifest?.source?.lookbackSeconds).toBe(300);
  expect(Object.values(result.manifest!.tables).some((t) => t.rescued)).toBe(false);
  expect(await s.check()).toEqual([]);
});

itInFlight('is not held back by an autovacuum of the source database: a vacuum writes no rows', async () => {
  // A real autovacuum worker in the source database, slowed to a crawl (a cost delay after every
  // page) so it is still running when the extract reads its bound. Counted as an open transaction,
  // it held every window back to its start, so the extract read nothing newer while it ran.
  const [{ superuser }] = await s.sql<{ superuser: boolean }>('SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user');
  if (!superuser) throw new Error('this case sets autovacuum_naptime (ALTER SYSTEM): run it as a superuser, as the throwaway server (test/support/pg-server.sh) does');
  const worker = `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'autovacuum worker' AND query LIKE '%vacuum_ballast%'`;
  await s.sql(`CREATE TABLE vacuum_ballast (id int PRIMARY KEY, pad text)
                 WITH (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1)`);
  try {
    await s.sql(`INSERT INTO vacuum_ballast SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g`);
    await s.sql(`UPDATE vacuum_ballast SET pad = pad || 'y'`);
    await s.sql('ALTER SYSTEM SET autovacuum_naptime = 1');
    await s.sql('SELECT pg_reload_conf()');
    const deadline = Date.now() + 60_000;
    while (!(await s.sql(worker)).length) {
      if (Date.now() > deadline) throw new Error('no autovacuum worker started on vacuum_ballast within 60 s');
      await sleep(200);
    }
    await sleep(50); // the vacuum's start lies well before the amendment's stamp
    await amend(23);
    await sleep(5);
    const result = await run();
    expect((await s.sql(worker)).length).toBe(1); // the vacuum ran through the extract: the case held
    expect(result.rows.sales_order).toBe(1);
    const { stamp, cursor } = await stampAndCursor(23);
    expect(cursor >= stamp).toBe(true);
    expect(await s.check()).toEqual([]);
  } finally {
    await s.sql('ALTER SYSTEM RESET autovacuum_naptime');
    await s.sql('SELECT pg_reload_conf()');
    await s.sql(`SELECT pg_cancel_backend(pid) FROM (${worker}) AS w`);
    await s.sql('DROP TABLE vacuum_ballast');
  }
});
