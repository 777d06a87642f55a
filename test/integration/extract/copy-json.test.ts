/**
 * The Node rendering of COPY text rows (functions/core/extract/copy-json.ts) against PostgreSQL's
 * own: for every table of the contract, the window read as plain columns and rendered in Node must
 * give the same bytes, line for line, as the window rendered by `json_build_object` — on rows full
 * of nasty values (test/support/nasty-values.ts), type by type.
 */
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { SOURCE_TABLES, type SourceTable } from '../../../functions/core/contract/source-tables';
import { COPY_TEXT_SETTINGS, CopyJsonRows, copyTextToJson } from '../../../functions/core/extract/copy-json';
import { CopyLines } from '../../../functions/core/extract/copy-text';
import { planWindow, WINDOW_SETTINGS, windowSelect, withBatchId, type RowRendering } from '../../../functions/core/extract/extract-window';
import { insertNastyRows, NASTY_NUMERICS, NASTY_TEXTS, NASTY_TIMESTAMPS } from '../../support/nasty-values';
import { testDatabase, type TestDatabase } from '../../support/test-postgres';

jest.setTimeout(120_000);
let db: TestDatabase;
let client: pg.Client;
const BATCH = '0000000001-20261205T000000Z-abcd';

beforeAll(async () => {
  db = await testDatabase('copy_json');
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await insertNastyRows(client);
});
afterAll(async () => {
  await client?.end();
  await db?.close();
});

/** `bytes`: the plain columns through CopyJsonRows (the extract's), `strings`: through copyTextToJson. */
type Renderer = 'bytes' | 'strings';

async function readWindow(table: SourceTable, rendering: RowRendering, dateStyle?: string, renderer: Renderer = 'bytes'): Promise<string[]> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT set_config($1, $2, true), set_config($3, $4, true)', [WINDOW_SETTINGS.upperBound, '9999-12-31 00:00:00.000', WINDOW_SETTINGS.limit, '1000000']);
    if (rendering === 'columns') for (const [name, value] of Object.entries(COPY_TEXT_SETTINGS)) await client.query('SELECT set_config($1, $2, true)', [name, value]);
    // A session set up otherwise must not change the rendering: the JSON path never depended on DateStyle.
    if (dateStyle) await client.query(`SET LOCAL DateStyle = '${dateStyle}'`);
    const copy = client.query(copyTo(`COPY (${windowSelect(planWindow(table, undefined, '9999-12-31 00:00:00.000'), true, undefined, rendering)}) TO STDOUT`));
    const lines =
      rendering === 'json' ? new CopyLines((l) => withBatchId(l, BATCH)) : renderer === 'strings' ? new CopyLines(copyTextToJson(table, BATCH), 'raw') : new CopyJsonRows(table, BATCH);
    copy.on('error', (err) => lines.destroy(err));
    copy.pipe(lines);
    let text = '';
    for await (const chunk of lines) text += String(chunk);
    return text.split('\n').slice(0, -1);
  } finally {
    await client.query('COMMIT');
  }
}

const cases = SOURCE_TABLES.flatMap((t) => (['bytes', 'strings'] as const).map((r) => [t.name, r, t] as const));
it.each(cases)('renders every row of %s as PostgreSQL does, byte for byte (%s)', async (_name, renderer, table) => {
  const expected = await readWindow(table, 'json', 'SQL, DMY');
  const rendered = await readWindow(table, 'columns', undefined, renderer);
  expect(expected.length).toBeGreaterThanOrEqual(Math.min(NASTY_TEXTS.length, NASTY_TIMESTAMPS.length));
  expect(rendered).toHaveLength(expected.length);
  for (let i = 0; i < expected.length; i++) expect(rendered[i]).toBe(expected[i]);
});

it('covers what the nasty rows are for: escapes, control characters, astral characters, NaN, BC and infinite timestamps, NULLs', async () => {
  const all = (await readWindow(SOURCE_TABLES.find((t) => t.name === 'address')!, 'columns')).join('\n');
  for (const needle of ['\\"', '\\\\', '\\t', '\\n', '\\r', '\\u0001', '\\u001f', '😀', '\u2028', 'null', '"0044-03-15 12:00:00.250"', '"294276-12-31 23:59:59.999"']) expect(all).toContain(needle);
  const payments = (await readWindow(SOURCE_TABLES.find((t) => t.name === 'payment')!, 'columns')).join('\n');
  expect(NASTY_NUMERICS).toContain('NaN');
  for (const needle of ['"payment_amount" : "NaN"', '"payment_amount" : 99999999.99', '"paid" : true', '"paid" : false']) expect(payments).toContain(needle);
  const timestamps = (await readWindow(SOURCE_TABLES.find((t) => t.name === 'currency')!, 'columns')).join('\n');
  expect(timestamps).toContain('"created_at" : null');
});

it('refuses a value it cannot render exactly instead of landing different bytes', () => {
  const table = SOURCE_TABLES.find((t) => t.name === 'currency')!;
  const render = copyTextToJson(table, BATCH);
  expect(render('1\tGBP\t2026-01-01 00:00:00.5\t2026-01-01 00:00:00')).toBe(
    `{"currency_id" : 1, "currency_code" : "GBP", "created_at" : "2026-01-01 00:00:00.500", "last_updated" : "2026-01-01 00:00:00.000", "_batch_id" : "${BATCH}"}`,
  );
  expect(() => render('1\tGBP\t01/01/2026 00:00:00\t2026-01-01 00:00:00')).toThrow(/not an ISO timestamp/);
  expect(() => render('1\tGBP\t2026-01-01 00:00:00')).toThrow(/3 fields, the contract 4/);
  expect(() => render('1\tGBP\t2026-01-01 00:00:00\t2026-01-01 00:00:00\t5')).toThrow(/5 fields, the contract 4/);
});
