/**
 * CopyJsonRows (functions/core/extract/copy-json.ts), the extract's byte renderer, against the
 * string renderer copyTextToJson on the same COPY text: random rows of every column type, full of
 * COPY escapes, JSON escapes, multi-byte characters and values outside the fast paths, fed in
 * chunks cut anywhere (inside a character, an escape, between a row and its newline). The string
 * renderer is itself compared with PostgreSQL's own JSON in test/integration/extract/copy-json.test.ts.
 */
import { Readable } from 'node:stream';
import type { SourceColumn, SourceTable, SourceType } from '../../../functions/core/contract/source-tables';
import { CopyJsonRows, copyTextToJson } from '../../../functions/core/extract/copy-json';
import { CopyLines } from '../../../functions/core/extract/copy-text';

const BATCH = '0000000001-20261205T000000Z-abcd';
const col = (name: string, type: SourceType): SourceColumn => ({ name, type, nullable: true, description: '' });
const TABLE = {
  name: 'payment',
  description: '',
  primaryKey: 'id',
  columns: [
    col('id', 'integer'),
    col('note', 'text'),
    col('amount', 'numeric(10,2)'),
    col('paid', 'boolean'),
    col('created_at', 'timestamp(3)'),
    col('code', 'varchar(3)'),
    col('kind', 'enum:TransactionType'),
    col('last_updated', 'timestamp(3)'),
  ],
} as unknown as SourceTable;

/** Pieces of COPY text a text field is made of: plain, COPY escapes, bytes JSON escapes, multi-byte characters. */
const TEXT_PIECES = [
  'a', 'plain words', ' ', '"', '\\', '\\\\', '\\n', '\\t', '\\r', '\\b', '\\f', '\\v', '\\N', '\\\\N', '\\101', '\\7', '\\0', '\\12x', '\\777',
  '\\x41', '\\x4', '\\xg', '\\x', '\\q', '\\é', '\\\u2028', '\\\r', '\u0001', '\u001f', '\u007f', 'é', '日本', '😀', '\u2028', '\ufeff', '{"j": [1]}', ',', '/', '<', '\\"',
];
const NUMERICS = ['0', '0.01', '-0.01', '12.30', '99999999.99', '-99999999.99', '1', '-0', 'NaN', '00012.50', '1e5', '1.', '.5', '-', '', 'Infinity', '-Infinity', '12.3.4'];
const TIMESTAMPS = [
  '2026-01-01 00:00:00.000', '2026-12-31 23:59:59.999', '2026-01-01 00:00:00', '1999-12-31 23:59:59.5', '2024-02-29 12:00:00.05',
  '0044-03-15 12:00:00.25 BC', '294276-12-31 23:59:59.999', '2000-01-01 00:00:00.123456', 'infinity', '-infinity',
];

/** A deterministic generator (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomRows(rnd: () => number, count: number): string[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const text = (): string => Array.from({ length: Math.floor(rnd() * 6) }, () => pick(TEXT_PIECES)).join('');
  const orNull = (v: string): string => (rnd() < 0.1 ? '\\N' : v);
  return Array.from({ length: count }, (_, i) =>
    [
      String(i - 5),
      orNull(text()),
      orNull(pick(NUMERICS.slice(0, 10))),
      orNull(pick(['t', 'f'])),
      orNull(pick(TIMESTAMPS)),
      orNull(Array.from(text()).slice(0, 3).join('')), // whole characters: COPY sends valid UTF-8
      orNull(pick(['SALE', 'PURCHASE'])),
      pick(TIMESTAMPS.slice(0, 8)),
    ].join('\t'),
  );
}

/** Runs `copy` through CopyJsonRows in the given chunks; returns its output, row count and last line. */
async function renderBytes(chunks: Buffer[]): Promise<{ text: string; rows: number; lastLine: string | undefined }> {
  const rows = new CopyJsonRows(TABLE, BATCH);
  const out: Buffer[] = [];
  Readable.from(chunks).pipe(rows);
  for await (const chunk of rows) out.push(chunk as Buffer);
  return { text: Buffer.concat(out).toString('utf8'), rows: rows.rows, lastLine: rows.lastLine };
}

/** Cuts `b` at random places, some chunks a single byte. */
function cut(b: Buffer, rnd: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let p = 0; p < b.length; ) {
    const n = rnd() < 0.3 ? 1 : 1 + Math.floor(rnd() * 200);
    chunks.push(b.subarray(p, p + n));
    p += n;
  }
  return chunks;
}

it('renders random rows of every type exactly as the string renderer does, however the chunks are cut', async () => {
  const toJson = copyTextToJson(TABLE, BATCH);
  for (let seed = 1; seed <= 20; seed++) {
    const rnd = random(seed);
    const lines = randomRows(rnd, 300);
    const copy = Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');
    const expected = lines.map((l) => `${toJson(l)}\n`).join('');
    const whole = await renderBytes([copy]);
    expect(whole.text).toBe(expected);
    const pieces = await renderBytes(cut(copy, rnd));
    expect(pieces.text).toBe(expected);
    expect(pieces.rows).toBe(lines.length);
    expect(pieces.lastLine).toBe(toJson(lines[lines.length - 1]));
  }
});

it('renders a last row without a newline, and rows longer than its output buffer', async () => {
  const toJson = copyTextToJson(TABLE, BATCH);
  const long = ['1', '\\\\'.repeat(100) + '\u0001'.repeat(400_000), '1.50', 't', '2026-01-01 00:00:00.000', 'GBP', 'SALE', '2026-01-01 00:00:00.000'].join('\t');
  const short = ['2', 'x', '2.00', 'f', '2026-01-01 00:00:00.000', 'EUR', 'PURCHASE', '2026-01-01 00:00:00.001'].join('\t');
  const r = await renderBytes([Buffer.from(`${long}\n${short}`)]);
  expect(r.text).toBe(`${toJson(long)}\n${toJson(short)}\n`);
  expect(r.rows).toBe(2);
  expect(r.lastLine).toBe(toJson(short));
  expect(JSON.parse(r.lastLine!)).toMatchObject({ id: 2, amount: 2, paid: false, _batch_id: BATCH });
});

it('gives nothing, and no last line, for no rows', async () => {
  const r = await renderBytes([]);
  expect(r).toEqual({ text: '', rows: 0, lastLine: undefined });
});

it('refuses what it cannot render exactly, as the string renderer does', async () => {
  const row = (fields: Partial<Record<number, string>>): Buffer =>
    Buffer.from(`${['1', 'x', '1.00', 't', '2026-01-01 00:00:00.000', 'GBP', 'SALE', '2026-01-01 00:00:00.000'].map((f, i) => fields[i] ?? f).join('\t')}\n`);
  await expect(renderBytes([row({ 3: 'yes' })])).rejects.toThrow(/Cannot render boolean "yes" of paid/);
  await expect(renderBytes([row({ 4: '01/01/2026 00:00:00' })])).rejects.toThrow(/not an ISO timestamp/);
  await expect(renderBytes([Buffer.from('1\tx\t1.00\n')])).rejects.toThrow(/has 3 fields, the contract 8/);
  await expect(renderBytes([row({ 7: '2026-01-01 00:00:00.000\textra' })])).rejects.toThrow(/has 9 fields, the contract 8/);
});

it('records where each part of rowsPerPart rows ends, in the output as it is read, for both renderers', async () => {
  const toJson = copyTextToJson(TABLE, BATCH);
  const rnd = random(7);
  // Rows long enough that a part spans several 1 MiB output buffers, and short ones between them.
  const lines = randomRows(rnd, 250).map((l, i) => (i % 50 === 3 ? l.replace(/\t/, `\t${'x'.repeat(300_000)}`) : l));
  const copy = Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');
  const renderers = [
    new CopyJsonRows(TABLE, BATCH, 40),
    new CopyLines((line) => toJson(line), 'raw', 40),
  ];
  for (const renderer of renderers) {
    const out: Buffer[] = [];
    Readable.from(cut(copy, rnd)).pipe(renderer);
    for await (const chunk of renderer) out.push(Buffer.from(chunk as Buffer));
    const all = Buffer.concat(out);
    // Six parts of 40 rows, each ending after its 40th row's newline, with that row as its last line; the rest (10 rows) is no part.
    expect(renderer.boundaries.map((b) => b.rows)).toEqual([40, 80, 120, 160, 200, 240]);
    let from = 0;
    for (const b of renderer.boundaries) {
      const part = all.subarray(from, b.offset).toString('utf8');
      expect(part).toBe(lines.slice(b.rows - 40, b.rows).map((l) => `${toJson(l)}\n`).join(''));
      expect(b.lastLine).toBe(toJson(lines[b.rows - 1]));
      from = b.offset;
    }
    expect(all.subarray(from).toString('utf8')).toBe(lines.slice(240).map((l) => `${toJson(l)}\n`).join(''));
  }
});

it('renders into the buffers its consumer gives back, the same bytes as into fresh ones', async () => {
  const toJson = copyTextToJson(TABLE, BATCH);
  const rnd = random(11);
  // Several MiB of JSON, with rows of 100 KB (whose escapes could take 600 KB) between short ones.
  const lines = randomRows(rnd, 3000).map((l, i) => (i % 40 === 7 ? l.replace(/\t/, `\t${'y'.repeat(100_000)}`) : l));
  const copy = Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');
  const renderer = new CopyJsonRows(TABLE, BATCH, 500);
  const out: Buffer[] = [];
  const seen = new Set<ArrayBufferLike>();
  Readable.from(cut(copy, rnd)).pipe(renderer);
  for await (const chunk of renderer) {
    const bytes = chunk as Buffer;
    seen.add(bytes.buffer);
    out.push(Buffer.from(bytes)); // a copy: the original is rendered into again once given back
    renderer.recycle(bytes);
  }
  expect(Buffer.concat(out).toString('utf8')).toBe(lines.map((l) => `${toJson(l)}\n`).join(''));
  expect(renderer.rows).toBe(lines.length);
  expect(renderer.lastLine).toBe(toJson(lines[lines.length - 1]));
  expect(renderer.boundaries.map((b) => b.lastLine)).toEqual([499, 999, 1499, 1999, 2499, 2999].map((i) => toJson(lines[i])));
  // The whole output in a handful of buffers, where fresh ones would take one per MiB.
  expect(out.length).toBeGreaterThan(5);
  expect(seen.size).toBeLessThanOrEqual(3);
});
