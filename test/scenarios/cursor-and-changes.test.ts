/**
 * The cursor and the shape of change, proven against the audit oracle: every version current at an
 * extract reaches the lake and the warehouse exactly once; `totes verify` is clean after each.
 */
import { Client } from 'pg';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import { NOW, openScenario, type Scenario } from './scenario-harness';

jest.setTimeout(60_000);
let s: Scenario;

beforeAll(async () => {
  s = await openScenario('cursor');
  await s.cycle();
});
afterAll(async () => s?.close());

it('starts clean: the first full cycle matches the oracle', async () => {
  expect(await s.check()).toEqual([]);
});

it('runs a warm cycle without listing a manifest log: its cost follows the batch, not the age of the lake', async () => {
  // On the folder store any listing reads its folder whole, and a manifest log gains a file a batch
  // (15 ms at a month, 150 ms at a year, each time): after a process's first look, the stages find
  // the manifests after the newest they know by name (manifest-log.ts manifestSeqsAfter).
  const listed: string[] = [];
  const recording = <T extends PipelineContext['ingestion']>(store: T): T =>
    new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'list') return (prefix: string, options?: { startAfter?: string }) => (listed.push(prefix), target.list(prefix, options));
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  const warm: PipelineContext = { ...s.ctx, ingestion: recording(s.ctx.ingestion), processed: recording(s.ctx.processed) };
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = ${NOW} WHERE sales_order_id = 1`);
  const changed = await s.cycle(warm);
  expect(changed.loaded.map((r) => r.seq)).toEqual(changed.transformed.map((r) => r.seq));
  expect(changed.loaded).toHaveLength(1);
  await s.cycle(warm); // quiet: nothing extracted, transformed or loaded
  expect(listed.length).toBeGreaterThan(0); // the per-batch folders (leases, progress, a written prefix) are still listed
  expect(listed.filter((prefix) => /^manifests\//.test(prefix))).toEqual([]);
  expect(await s.check()).toEqual([]);
});

it('reads many rows sharing one last_updated, straddling the cursor boundary, once each', async () => {
  // 40 designs with ONE last_updated, committed in two steps: the first extract's cursor lands in
  // the middle of the tie, at (ts, 10025); the second reads 10026..10040 and nothing twice.
  const ts = (await s.sql<{ t: string }>(`SELECT to_char(${NOW} - interval '1 second', 'YYYY-MM-DD HH24:MI:SS.MS') AS t`))[0].t;
  await s.sql(`INSERT INTO design (design_id, design_name, file_location, file_name, created_at, last_updated)
               SELECT 10000 + g, 'tie ' || g, '/t', 'tie.jpg', $1::timestamp, $1::timestamp FROM generate_series(1, 25) g`, [ts]);
  await s.cycle();
  await s.sql(`INSERT INTO design (design_id, design_name, file_location, file_name, created_at, last_updated)
               SELECT 10000 + g, 'tie ' || g, '/t', 'tie.jpg', $1::timestamp, $1::timestamp FROM generate_series(26, 40) g`, [ts]);
  await s.cycle();
  const rows = await s.sql<{ n: string }>(`SELECT count(*) AS n FROM design WHERE design_id > 10000`);
  expect(Number(rows[0].n)).toBe(40);
  expect(await s.check()).toEqual([]);
});

it('holds back a transaction that stamped last_updated and commits after an extract (late commit)', async () => {
  if (s.source.kind === 'pglite') {
    console.warn('late-commit scenario skipped: PGlite serves one connection at a time, so no transaction can stay open beside the extract');
    return;
  }
  const late = new Client({ connectionString: s.source.url });
  await late.connect();
  try {
    await late.query('BEGIN');
    await late.query(`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = ${NOW} WHERE sales_order_id = 1`);
    await new Promise((r) => setTimeout(r, 20));
    await s.sql(`UPDATE sales_order SET units_sold = units_sold + 2, last_updated = ${NOW} WHERE sales_order_id = 2`);
    await s.cycle(); // must not pass over order 1's stamp, nor read order 2 (stamped after the open transaction began)
    await late.query('COMMIT');
  } finally {
    await late.end();
  }
  await s.cycle();
  expect(await s.check()).toEqual([]);
});

it('keeps every version of a sales order amended twice between runs and once more within a window', async () => {
  await s.sql(`UPDATE sales_order SET units_sold = 11, last_updated = ${NOW} WHERE sales_order_id = 3`);
  await new Promise((r) => setTimeout(r, 5));
  await s.sql(`UPDATE sales_order SET units_sold = 12, last_updated = ${NOW} WHERE sales_order_id = 3`); // supersedes the first: one lake version
  await s.cycle();
  await s.sql(`UPDATE sales_order SET units_sold = 13, unit_price = 9.99, last_updated = ${NOW} WHERE sales_order_id = 3`);
  await s.cycle();
  const versions = await s.sql<{ n: string }>(`SELECT count(*) AS n FROM audit.row_version WHERE table_name = 'sales_order' AND pk = 3`);
  expect(Number(versions[0].n)).toBeGreaterThanOrEqual(4);
  expect(await s.check()).toEqual([]);
});

it('follows payments flipping to paid, a department move and an address change into the facts and dimensions', async () => {
  await s.sql(`UPDATE payment SET paid = true, last_updated = ${NOW} WHERE payment_id IN (SELECT payment_id FROM payment WHERE NOT paid ORDER BY payment_id LIMIT 3)`);
  const staff = (await s.sql<{ staff_id: number; department_id: number }>(`SELECT staff_id, department_id FROM staff ORDER BY staff_id LIMIT 1`))[0];
  await s.sql(`UPDATE staff SET department_id = $2, last_updated = ${NOW} WHERE staff_id = $1`, [staff.staff_id, staff.department_id === 1 ? 2 : 1]);
  await s.sql(`UPDATE department SET location = 'Moved', last_updated = ${NOW} WHERE department_id = 2`);
  const cp = (await s.sql<{ legal_address_id: number; counterparty_id: number }>(`SELECT counterparty_id, legal_address_id FROM counterparty ORDER BY counterparty_id LIMIT 1`))[0];
  await s.sql(`UPDATE address SET city = 'Newtown', last_updated = ${NOW} WHERE address_id = $1`, [cp.legal_address_id]);
  await s.cycle();
  const wh = new Client({ connectionString: s.warehouse.url });
  await wh.connect();
  try {
    const dimStaff = await wh.query(`SELECT department_name FROM dim_staff WHERE staff_id = $1`, [staff.staff_id]);
    const dept = await s.sql<{ department_name: string }>(`SELECT d.department_name FROM staff s JOIN department d USING (department_id) WHERE staff_id = $1`, [staff.staff_id]);
    expect(dimStaff.rows[0].department_name).toBe(dept[0].department_name);
    const dimCp = await wh.query(`SELECT counterparty_legal_city FROM dim_counterparty WHERE counterparty_id = $1`, [cp.counterparty_id]);
    expect(dimCp.rows[0].counterparty_legal_city).toBe('Newtown');
    const moved = await wh.query(`SELECT count(*)::int AS n FROM dim_staff WHERE location = 'Moved'`);
    expect(moved.rows[0].n).toBeGreaterThan(0);
  } finally {
    await wh.end();
  }
  expect(await s.check()).toEqual([]);
});

it('detects a deleted row, marks it in the lake and the warehouse, and reports it', async () => {
  // A payment without dependants can be deleted despite RESTRICT foreign keys.
  const [victim] = await s.sql<{ payment_id: number }>(`SELECT max(payment_id) AS payment_id FROM payment`);
  await s.sql(`DELETE FROM payment WHERE payment_id = $1`, [victim.payment_id]);
  const cycle = await s.cycle();
  expect(cycle.extract.published).toBe(true); // a deletion alone makes a batch
  expect(s.log.text('warn')).toMatch(new RegExp(`row\\(s\\) of payment were deleted in totesys \\(payment_id ${victim.payment_id}\\)`));
  const wh = new Client({ connectionString: s.warehouse.url });
  await wh.connect();
  try {
    const marked = await wh.query(`SELECT source_table, source_id FROM deleted_rows`);
    expect(marked.rows).toEqual([{ source_table: 'payment', source_id: victim.payment_id }]);
  } finally {
    await wh.end();
  }
  expect(await s.check()).toEqual([]);
  // A quiet run afterwards finds nothing new and marks nothing twice.
  expect((await s.cycle()).extract.published).toBe(false);
});
