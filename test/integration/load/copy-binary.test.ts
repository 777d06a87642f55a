import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { starPostgresType, STAR_TABLES, type StarType } from '../../../functions/core/contract/star-tables';
import { copyBinaryHeader, copyBinaryRows, copyBinaryTrailer } from '../../../functions/core/load/copy-binary';
import { copyText } from '../../support/copy-text';
import type { LoadValue } from '../../../functions/core/lake/parquet-rows';
import { testDatabase, type TestDatabase } from '../../support/test-postgres';

/**
 * The load's binary COPY data (copy-binary.ts) stores exactly what the COPY text of the same values
 * stores: the same rows are copied both ways into two tables of every star type and compared as
 * PostgreSQL renders them, on edge values (range ends, rounding, leap days, escapes, non-ASCII
 * text) and on random ones. Needs a PostgreSQL server (PGlite has no COPY FROM STDIN over its socket).
 */

const TYPES: StarType[] = ['integer', 'text', 'date', 'time', 'numeric(10,2)', 'boolean'];

const EDGES: Record<StarType, LoadValue[]> = {
  integer: [0, 1, -1, 2147483647, -2147483648, 9999, 10000, 123456789],
  text: ['', 'a', 'tab\there', 'line\nbreak\r', 'back\\slash', '\\N', 'é€😀 ß', 'x'.repeat(3000), ' lead and trail '],
  date: ['2000-01-01', '1999-12-31', '1970-01-01', '0001-01-01', '9999-12-31', '2024-02-29', '1900-03-01', '2100-12-31', '0999-06-15'],
  time: ['00:00:00.000', '23:59:59.999', '24:00:00', '12:34:56', '12:34:56.5', '12:34:56.9995', '12:34:56.0004', '23:59:59.9999', '07:08:09.123456'],
  'numeric(10,2)': ['0.00', '0.01', '-0.01', '12.50', '-12.50', '99999999.99', '-99999999.99', '10000.00', '1.00', '100000000.00'.slice(1), '0.10', '1234.5678'.slice(0, 7)],
  boolean: [true, false],
};

function randomValue(type: StarType, random: () => number): LoadValue {
  if (random() < 0.1) return null;
  const int = (n: number): number => Math.floor(random() * n);
  switch (type) {
    case 'integer': return int(4294967296) - 2147483648;
    case 'text': return Array.from({ length: int(20) }, () => 'ab\t\n\\é€😀 zZ09'[int(14)]).join('');
    case 'date': return new Date(Date.UTC(1 + int(9999), 0, 1) + int(365) * 86_400_000).toISOString().slice(0, 10).replace(/^\+?0*(\d{4})/, '$1');
    case 'time': return `${String(int(24)).padStart(2, '0')}:${String(int(60)).padStart(2, '0')}:${String(int(60)).padStart(2, '0')}.${String(int(1000)).padStart(3, '0')}`;
    case 'numeric(10,2)': {
      const cents = int(20_000_000_000) - 10_000_000_000;
      const abs = Math.abs(cents);
      return `${cents < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
    }
    case 'boolean': return random() < 0.5;
  }
}

async function copy(client: pg.Client, sql: string, chunks: (string | Buffer)[]): Promise<void> {
  await pipeline(Readable.from(chunks), client.query(copyFrom(sql)));
}

describe('binary COPY data', () => {
  let db: TestDatabase;
  let client: pg.Client;
  beforeAll(async () => {
    db = await testDatabase('copybin');
    if (db.kind !== 'server') return;
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await db?.close();
  });

  it('stores what the COPY text of the same values stores, for every star type', async () => {
    if (db.kind !== 'server') {
      console.warn('copy-binary.test.ts: no PostgreSQL server (TOTES_TEST_PG_URL); skipped');
      return;
    }
    // The star contract's types are the ones tested here.
    expect(new Set(STAR_TABLES.flatMap((t) => t.columns.map((c) => c.type)))).toEqual(new Set(TYPES));
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const rows = 3000;
    const columns: LoadValue[][] = TYPES.map((type) =>
      Array.from({ length: rows }, (_, r) => (r < EDGES[type].length * 3 ? EDGES[type][r % EDGES[type].length] : r % 97 === 0 ? null : randomValue(type, random))),
    );
    const ids = Array.from({ length: rows }, (_, r) => r);
    const withId = [ids, ...columns];
    const types: StarType[] = ['integer', ...TYPES];
    const ddl = types.map((t, i) => `c${i} ${starPostgresType(t)}`).join(', ');
    const list = types.map((_t, i) => `c${i}`).join(', ');
    await client.query(`DROP TABLE IF EXISTS as_text, as_binary; CREATE TABLE as_text (${ddl}); CREATE TABLE as_binary (${ddl})`);
    await copy(client, `COPY as_text (${list}) FROM STDIN`, [copyText(withId, rows)]);
    // In several pieces, as the load sends them: header, chunks of rows, trailer.
    const pieces = [copyBinaryHeader()];
    for (let start = 0; start < rows; start += 700) {
      const end = Math.min(rows, start + 700);
      pieces.push(copyBinaryRows(types, withId.map((c) => c.slice(start, end)), end - start, 'as_binary'));
    }
    pieces.push(copyBinaryTrailer());
    await copy(client, `COPY as_binary (${list}) FROM STDIN (FORMAT binary)`, pieces);
    const render = async (table: string): Promise<string[]> =>
      (await client.query<{ row: string }>(`SELECT concat_ws('|', ${types.map((_t, i) => `coalesce(c${i}::text, 'NULL')`).join(', ')}) AS row FROM ${table} ORDER BY c0`)).rows.map((r) => r.row);
    const [text, binary] = [await render('as_text'), await render('as_binary')];
    expect(binary).toHaveLength(rows);
    expect(binary).toEqual(text);
    // Equal as values too (a numeric's scale shows in its text above; a time's rounding too).
    const differ = await client.query(`SELECT count(*)::int AS n FROM (SELECT * FROM as_text EXCEPT ALL SELECT * FROM as_binary) d`);
    expect(differ.rows[0].n).toBe(0);
  });

  it('refuses a value the binary form cannot carry, naming it', () => {
    const one = (type: StarType, value: LoadValue) => () => copyBinaryRows([type], [[value]], 1, 'fact_x');
    expect(one('integer', 2147483648)).toThrow(/fact_x: value 2147483648 of column 1 \(integer\)/);
    expect(one('integer', 1.5)).toThrow(/integer/);
    expect(one('date', '2023-02-29')).toThrow(/calendar/);
    expect(one('date', '+10000-01-01')).toThrow(/YYYY-MM-DD/);
    expect(one('time', '24:00:01')).toThrow(/time of day/);
    expect(one('time', '1:02:03')).toThrow(/HH:MM:SS/);
    expect(one('numeric(10,2)', '1e5')).toThrow(/decimal/);
    expect(one('text', 5)).toThrow(/text/);
  });
});
