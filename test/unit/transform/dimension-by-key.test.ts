import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Parser } from 'node-sql-parser';
import { STAR_TABLES, starTable, type StarTable } from '../../../functions/core/contract/star-tables';
import { currentPrefix, dimensionChangesPrefix, dimensionPrefix } from '../../../functions/core/lake/lake-layout';
import type { TransformOutput } from '../../../functions/core/lake/manifests';
import { DEFAULT_COMPACTION } from '../../../functions/core/transform/current-compaction';
import { currentStateSql, latestStarSql } from '../../../functions/core/transform/current-state';
import { besideDeltaSql, byKeySource, dimensionBindings, dimensionCompactionDue, newKeysSql, planByKey, planByKeyBesideDelta } from '../../../functions/core/transform/dimension-by-key';
import { sourceTable } from '../../../functions/core/contract/source-tables';
import { stripOuter } from '../../../functions/core/sql/sql-text';

const SQL_DIR = path.resolve(__dirname, '../../../sql/transform');
const parser = new Parser();
const stripComments = (sql: string) => sql.replace(/--.*$/gm, '');

/** Every object node of an AST, depth first. */
function nodes(value: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(value)) for (const v of value) nodes(v, out);
  else if (value && typeof value === 'object') {
    out.push(value as Record<string, unknown>);
    for (const v of Object.values(value)) nodes(v, out);
  }
  return out;
}

/**
 * What makes by-key sound (dimension-by-key.ts): a row of the dimension is a function of one row
 * of one source table. So the SELECT reads exactly `current_<its source>`, once, and nothing
 * combines rows: no JOIN, GROUP BY/HAVING, DISTINCT, window (OVER), aggregate, set operation or
 * subquery. Returns the violations found (empty when sound).
 */
function byKeyViolations(table: StarTable, sql: string): string[] {
  const source = byKeySource(table)!;
  const text = stripComments(sql);
  const ast = parser.astify(text, { database: 'trino' });
  const statements = Array.isArray(ast) ? ast : [ast];
  const found: string[] = [];
  if (statements.length !== 1) found.push(`${statements.length} statements`);
  const tables = parser.tableList(text, { database: 'trino' });
  if (tables.length !== 1 || tables[0] !== `select::null::current_${source}`) found.push(`reads ${tables.join(', ')}`);
  const selects = nodes(ast).filter((n) => n.type === 'select');
  if (selects.length !== 1) found.push(`${selects.length} SELECTs (subquery or set operation)`);
  for (const select of selects) {
    const from = (select.from as Record<string, unknown>[] | null) ?? [];
    if (from.length !== 1) found.push(`FROM lists ${from.length} relations`);
    if (from.some((f) => f.join || f.expr)) found.push('JOIN or derived table');
    if (select.groupby) found.push('GROUP BY');
    if (select.having) found.push('HAVING');
    if ((select.distinct as { type: unknown } | null)?.type) found.push('DISTINCT');
    if (select.with) found.push('WITH');
    if (select._next || select.set_op) found.push('set operation');
  }
  for (const n of nodes(ast)) {
    if (n.type === 'aggr_func') found.push(`aggregate ${String(n.name)}`);
    if (n.type === 'window_func' || (n.over !== undefined && n.over !== null)) found.push('window (OVER)');
  }
  return found;
}

describe('by-key dimensions (star contract byKey)', () => {
  const byKey = STAR_TABLES.filter((t) => t.byKey);

  it('is dim_transaction alone, with its one source table', () => {
    expect(byKey.map((t) => t.name)).toEqual(['dim_transaction']);
    expect(byKeySource(starTable('dim_transaction'))).toBe('transaction');
    expect(byKeySource(starTable('dim_staff'))).toBeUndefined();
  });

  it.each(byKey.map((t) => t.name))('%s.sql reads one current_ table, row by row (no JOIN, GROUP BY, DISTINCT, OVER, aggregate)', (name) => {
    const table = starTable(name);
    expect(byKeyViolations(table, readFileSync(path.join(SQL_DIR, `${name}.sql`), 'utf8'))).toEqual([]);
  });

  it('the check catches each way a SELECT combines rows', () => {
    const table = starTable('dim_transaction');
    const cols = 'transaction_id, transaction_type, sales_order_id, purchase_order_id';
    const bad: Record<string, string> = {
      join: `SELECT ${cols} FROM current_transaction t JOIN current_payment p ON p.transaction_id = t.transaction_id`,
      other: `SELECT ${cols} FROM current_payment`,
      group: `SELECT transaction_id, transaction_type, sales_order_id, purchase_order_id FROM current_transaction GROUP BY 1, 2, 3, 4`,
      distinct: `SELECT DISTINCT ${cols} FROM current_transaction`,
      window: `SELECT transaction_id, row_number() OVER (ORDER BY transaction_id) AS transaction_type, sales_order_id, purchase_order_id FROM current_transaction`,
      aggregate: `SELECT max(transaction_id) AS transaction_id FROM current_transaction`,
      union: `SELECT ${cols} FROM current_transaction UNION ALL SELECT ${cols} FROM current_transaction`,
      subquery: `SELECT ${cols} FROM current_transaction WHERE sales_order_id IN (SELECT sales_order_id FROM current_sales_order)`,
    };
    for (const [what, sql] of Object.entries(bad)) expect({ what, sound: byKeyViolations(table, sql).length === 0 }).toEqual({ what, sound: false });
  });

  it('refuses a byKey declaration the contract cannot keep', () => {
    expect(() => byKeySource({ ...starTable('dim_staff'), byKey: true })).toThrow(/dim_staff is declared byKey.*2 source/);
  });
});

describe('planByKey', () => {
  const BATCH = '0000000007-20250101T000500Z-abcd';
  const EARLIER = '0000000006-20250101T000000Z-abcd';
  const file = { table: starTable('dim_transaction'), sqlHash: 'h1' };
  const output = (prefix: string, sqlHash = 'h1'): TransformOutput => ({ kind: 'current', prefix, files: [], rows: 1, origin: 'generated', sqlHash, bytesScanned: 0, elapsedMs: 0 });
  const previous = { ...output(dimensionPrefix('dim_transaction', EARLIER)), kind: 'dimension' as const, origin: 'sql/transform/dim_transaction.sql' };
  const deltaNow = output(currentPrefix('transaction', BATCH), 'merge');
  const deltaBefore = output(currentPrefix('transaction', EARLIER), 'merge');

  it('builds by key from this batch\'s delta and the previous version', () => {
    expect(planByKey(file, previous, { transaction: [deltaBefore, deltaNow] }, BATCH)).toEqual({
      source: 'transaction',
      deltaPrefix: deltaNow.prefix,
      previous,
    });
  });

  it('folds the deltas into a new base (a whole rebuild) when the compaction policy says so', () => {
    const big = { ...previous, rows: 1_000_000 };
    const delta = (batch: string, rows = 10) => ({ prefix: dimensionChangesPrefix('dim_transaction', batch), files: [], rows });
    const policy = DEFAULT_COMPACTION;
    expect(planByKey(file, big, { transaction: [deltaNow] }, BATCH, policy)).toMatchObject({ previous: big });
    // A small dimension is always rebuilt whole; deltas are for the big ones.
    expect(planByKey(file, previous, { transaction: [deltaNow] }, BATCH, policy)).toBeUndefined();
    expect(dimensionCompactionDue(policy, { ...big, deltas: [delta(EARLIER)] }, BATCH)).toBe(false);
    expect(dimensionCompactionDue(policy, { ...big, deltas: Array.from({ length: 11 }, () => delta(EARLIER)) }, BATCH)).toBe(true);
    expect(dimensionCompactionDue(policy, { ...big, deltas: [delta(EARLIER, 100_001)] }, BATCH)).toBe(true);
    expect(dimensionCompactionDue(policy, { ...big, deltas: [delta('0000000001-20241231T225959Z-abcd')] }, BATCH)).toBe(true);
  });

  it('beside the delta: the same plan decided from the source\'s step, reading the batch\'s raw files', () => {
    const big = { ...previous, rows: 1_000_000 };
    const files = ['raw/transaction/dt=2025-01-01/x.ndjson.gz'];
    expect(planByKeyBesideDelta(file, big, 'delta', files, BATCH, DEFAULT_COMPACTION)).toEqual({ source: 'transaction', deltaPrefix: deltaNow.prefix, previous: big, batchFiles: files });
    expect(planByKeyBesideDelta(file, big, 'delta', files, BATCH, DEFAULT_COMPACTION)).toEqual({ ...planByKey(file, big, { transaction: [deltaNow] }, BATCH, DEFAULT_COMPACTION), batchFiles: files });
    // The source compacts or keeps its state: no delta to stand for; a small or changed dimension is rebuilt whole.
    for (const step of ['compact', 'keep'] as const) expect(planByKeyBesideDelta(file, big, step, files, BATCH, DEFAULT_COMPACTION)).toBeUndefined();
    expect(planByKeyBesideDelta(file, previous, 'delta', files, BATCH, DEFAULT_COMPACTION)).toBeUndefined();
    expect(planByKeyBesideDelta({ ...file, sqlHash: 'h2' }, big, 'delta', files, BATCH, DEFAULT_COMPACTION)).toBeUndefined();
    expect(planByKeyBesideDelta(file, undefined, 'delta', files, BATCH, DEFAULT_COMPACTION)).toBeUndefined();
  });

  it('beside the delta, the SQL file reads current_<source> as the delta\'s own SELECT over the batch, valid Trino', () => {
    const sql = besideDeltaSql(readFileSync(path.join(SQL_DIR, 'dim_transaction.sql'), 'utf8'), 'transaction');
    expect(sql).toMatch(/^WITH\n"current_transaction" AS \(\nSELECT /);
    expect(sql).toContain('FROM batch_transaction');
    expect(sql).toContain(stripOuter(currentStateSql(sourceTable('transaction'), { hasPrevious: false })));
    expect(() => new Parser().astify(sql, { database: 'trino' })).not.toThrow();
  });

  it('rebuilds whole on a first build, a changed SQL file, a compaction, or no delta of this batch', () => {
    expect(planByKey(file, undefined, { transaction: [deltaNow] }, BATCH)).toBeUndefined();
    expect(planByKey({ ...file, sqlHash: 'h2' }, previous, { transaction: [deltaNow] }, BATCH)).toBeUndefined();
    expect(planByKey(file, previous, {}, BATCH)).toBeUndefined();
    expect(planByKey(file, previous, { transaction: [deltaBefore] }, BATCH)).toBeUndefined();
  });

  it('never applies to a dimension not declared byKey', () => {
    expect(planByKey({ table: starTable('dim_design'), sqlHash: 'h1' }, previous, { design: [output(currentPrefix('design', BATCH))] }, BATCH)).toBeUndefined();
  });
});

describe('the merge of base + deltas (latestStarSql) and the new-key count', () => {
  it('takes the latest batch\'s row per key, in Trino SQL', () => {
    const sql = latestStarSql(starTable('dim_transaction'), '_segments_dim_transaction');
    expect(() => parser.astify(sql, { database: 'trino' })).not.toThrow();
    expect(sql).toMatch(/row_number\(\) OVER \(PARTITION BY transaction_id ORDER BY _batch_id DESC\) AS version_rank/);
    expect(sql).toMatch(/SELECT transaction_id, transaction_type, sales_order_id, purchase_order_id, _batch_id, _sql_hash\n/);
  });

  it('counts the change set\'s keys no earlier segment holds, in Trino SQL', () => {
    const sql = newKeysSql(starTable('dim_transaction'));
    expect(() => parser.astify(sql, { database: 'trino' })).not.toThrow();
    // The previous segments are read at the change set's keys only (a semi-join the engines push into the scan).
    expect(sql).toMatch(/LEFT JOIN \(SELECT DISTINCT transaction_id FROM previous_dim_transaction WHERE transaction_id IN \(SELECT transaction_id FROM dim_transaction\)\) AS kept ON kept\.transaction_id = changed\.transaction_id\nWHERE kept\.transaction_id IS NULL/);
  });

  it('binds a dimension as readers see it: base, with deltas merged', () => {
    const base = dimensionPrefix('dim_transaction', '0000000001-20250101T000000Z-abcd');
    const d = dimensionChangesPrefix('dim_transaction', '0000000002-20250101T000500Z-abcd');
    expect(dimensionBindings('dim_transaction', { prefix: base, deltas: [{ prefix: d, files: [], rows: 1 }] }, { prefix: base })).toEqual({
      batch: {}, current: {}, star: { dim_transaction: [base] }, starDeltas: { dim_transaction: [d] }, previousStar: { dim_transaction: base },
    });
  });
});
