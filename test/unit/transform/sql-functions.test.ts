import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { SOURCE_TABLES } from '../../../functions/core/contract/source-tables';
import { STAR_TABLE_NAMES } from '../../../functions/core/contract/star-tables';
import { currentStateSql } from '../../../functions/core/transform/current-state';
import { dataTests } from '../../../functions/core/transform/data-tests';
import { readAcceptedOnly } from '../../../functions/core/transform/input-checks';
import { DUCKDB_TRINO_MACROS } from '../../../functions/engines/duckdb/client';

/**
 * The transform SQL runs on Athena/Trino and on DuckDB, so it may call only the functions
 * sql/transform/FUNCTIONS.md lists, and the DuckDB macros must give those names the Trino meaning.
 */

const DIR = path.resolve(__dirname, '../../../sql/transform');
/** Words followed by '(' that are syntax, not function calls. */
const SYNTAX = new Set(['as', 'in', 'on', 'and', 'or', 'not', 'from', 'join', 'over', 'exists', 'values', 'when', 'then', 'else', 'select', 'where', 'with']);

async function allowedFunctions(): Promise<Set<string>> {
  const doc = await readFile(path.join(DIR, 'FUNCTIONS.md'), 'utf8');
  const names = new Set<string>();
  for (const line of doc.split('\n').filter((l) => l.startsWith('| `'))) {
    const firstCell = line.split('|')[1];
    for (const m of firstCell.matchAll(/(\bAS\s+)?\b([A-Za-z_][A-Za-z0-9_]*)\s*\(/g)) {
      if (!m[1] && !SYNTAX.has(m[2].toLowerCase())) names.add(m[2].toLowerCase());
    }
  }
  return names;
}

function calledFunctions(sql: string): string[] {
  const code = sql
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/'(?:[^']|'')*'/g, "''");
  const called: string[] = [];
  for (const m of code.matchAll(/(\bAS\s+)?\b([A-Za-z_][A-Za-z0-9_]*)\s*\(/gi)) {
    if (m[1]) continue; // `AS alias (column)`: a column list, not a call
    const name = m[2].toLowerCase();
    if (!SYNTAX.has(name)) called.push(name);
  }
  return called;
}

describe('sql/transform functions', () => {
  it('FUNCTIONS.md lists every function the SQL files call', async () => {
    const allowed = await allowedFunctions();
    expect(allowed).toEqual(new Set(['cast', 'format_datetime', 'sequence', 'unnest', 'year', 'month', 'day', 'day_of_week', 'quarter', 'min', 'max', 'row_number', 'count', 'try_cast']));
    for (const table of STAR_TABLE_NAMES) {
      const sql = await readFile(path.join(DIR, `${table}.sql`), 'utf8');
      const strays = calledFunctions(sql).filter((name) => !allowed.has(name));
      expect({ table, strays }).toEqual({ table, strays: [] });
    }
  });

  it('the generated current-state merges call only listed functions', async () => {
    const allowed = await allowedFunctions();
    for (const table of SOURCE_TABLES) {
      const strays = calledFunctions(currentStateSql(table, { hasPrevious: true })).filter((name) => !allowed.has(name));
      expect({ table: table.name, strays }).toEqual({ table: table.name, strays: [] });
    }
  });

  it('the generated data tests and input checks call only listed functions', async () => {
    const allowed = await allowedFunctions();
    const statements = [
      ...dataTests().map((t) => ({ name: `${t.table} ${t.name}`, sql: t.sql })),
      ...SOURCE_TABLES.map((t) => ({ name: `${t.name} accepted rows`, sql: readAcceptedOnly(`SELECT count(*) AS n FROM batch_${t.name}`, [t.name]) })),
    ];
    expect(statements.filter((s) => /try_cast/.test(s.sql)).map((s) => s.name)).toEqual(['sales_order accepted rows', 'purchase_order accepted rows', 'payment accepted rows']);
    for (const { name, sql } of statements) {
      const strays = calledFunctions(sql).filter((fn) => !allowed.has(fn));
      expect({ name, strays }).toEqual({ name, strays: [] });
    }
  });

  it('the checker does see a stray function', () => {
    expect(calledFunctions("SELECT dayname(d) AS x, CAST(y AS date) FROM t CROSS JOIN UNNEST(a) AS u (v) WHERE z IN (1)")).toEqual(['dayname', 'cast', 'unnest']);
  });

  it('FUNCTIONS.md names every DuckDB macro', async () => {
    const doc = await readFile(path.join(DIR, 'FUNCTIONS.md'), 'utf8');
    for (const macro of DUCKDB_TRINO_MACROS) expect(doc).toContain(`\`${macro.name}(`);
  });

  it('uses format_datetime only with the one supported pattern', async () => {
    for (const table of STAR_TABLE_NAMES) {
      const sql = await readFile(path.join(DIR, `${table}.sql`), 'utf8');
      for (const m of sql.matchAll(/format_datetime\([^,]+,\s*('[^']*')\)/g)) expect(m[1]).toBe("'HH:mm:ss.SSS'");
    }
  });
});

describe('DuckDB macros give the Trino meaning', () => {
  let db: DuckDBInstance;
  let c: DuckDBConnection;
  beforeAll(async () => {
    db = await DuckDBInstance.create(':memory:');
    c = await db.connect();
    for (const macro of DUCKDB_TRINO_MACROS) await c.run(macro.sql);
  });
  afterAll(() => {
    c.closeSync();
    db.closeSync();
  });
  const one = async (sql: string): Promise<unknown> => (await c.runAndReadAll(sql)).getRowsJson()[0][0];

  it("format_datetime(ts, 'HH:mm:ss.SSS') always prints three fraction digits", async () => {
    expect(await one("SELECT format_datetime(TIMESTAMP '2022-11-03 14:20:49', 'HH:mm:ss.SSS')")).toBe('14:20:49.000');
    expect(await one("SELECT format_datetime(TIMESTAMP '2022-11-03 14:20:49.962', 'HH:mm:ss.SSS')")).toBe('14:20:49.962');
    expect(await one("SELECT format_datetime(TIMESTAMP '2022-11-03 00:00:00.005', 'HH:mm:ss.SSS')")).toBe('00:00:00.005');
    expect(await one("SELECT format_datetime(TIMESTAMP '2022-11-03 23:59:59.999', 'HH:mm:ss.SSS')")).toBe('23:59:59.999');
  });

  it('format_datetime refuses any other pattern rather than differ from Trino', async () => {
    await expect(one("SELECT format_datetime(TIMESTAMP '2022-11-03 14:20:49', 'yyyy-MM-dd')")).rejects.toThrow(/only the pattern HH:mm:ss.SSS/);
  });

  it('sequence(date, date) lists every day, both ends included; NULL bounds give no rows', async () => {
    expect(await one("SELECT sequence(DATE '2024-02-27', DATE '2024-03-01')")).toEqual(['2024-02-27', '2024-02-28', '2024-02-29', '2024-03-01']);
    expect(await one("SELECT count(*) FROM (SELECT CAST(NULL AS DATE) AS lo) AS b CROSS JOIN UNNEST(sequence(b.lo, b.lo)) AS t (d)")).toBe('0');
  });

  it('day_of_week is ISO, 1 = Monday ... 7 = Sunday', async () => {
    expect(await one("SELECT list(day_of_week(d) ORDER BY d) FROM UNNEST(sequence(DATE '2024-01-01', DATE '2024-01-07')) AS t (d)")).toEqual(['1', '2', '3', '4', '5', '6', '7']);
  });
});
