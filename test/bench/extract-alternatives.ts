/**
 * Extract alternatives, measured (issue 14, item 4): on one seeded source, the ways the extract
 * could turn a table into gzip JSON lines, timed interleaved (A B C … then rotated, medians), each
 * checked byte for byte against today's output after decompression. A difference stops the run
 * with exit code 1 and the first differing line of each side.
 *
 *   npx tsx test/bench/extract-alternatives.ts [--orders 300000] [--repeats 3] [--phases nasty,tables,readers,product]
 *       [--source-url URL] [--tables sales_order,payment] [--readers 1,2,3,4] [--out bench/extract-alternatives.json]
 *
 * Without --source-url it uses the server of TOTES_TEST_PG_URL (test/support/pg-server.sh) and a
 * database `totes_xalt_<orders>`, seeded with seedTotesys (seed 1) when empty.
 *
 * Phases:
 *  - tables: per table, one connection, every alternative (rendering × gzip), interleaved;
 *    wall seconds, plus the CPU seconds of the PostgreSQL backend (/proc) and of this process;
 *  - readers: the whole extract's table loop (every table, contract order, connections sharing one
 *    exported snapshot as snapshot-readers.ts does) with 1–4 connections, for each rendering;
 *  - product: the product's own first extract (`extract()` into a fresh folder lake: manifests,
 *    chunks, deletion tallies included) with `rowRendering` 'json' (today) and 'columns', interleaved;
 *    the raw files of both, decompressed and with the batch id masked, must be identical;
 *  - nasty: every alternative over every table of a database of nasty values
 *    (test/support/nasty-values.ts), exactness only.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Transform, type TransformCallback, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import pg from 'pg';
import { connectAs, fmt, median, procCpuSeconds, rotate, sqlOnce, withDatabase } from './bench-util';
import { to as copyTo } from 'pg-copy-streams';
import { SOURCE_TABLES, BATCH_ID_COLUMN, type SourceColumn, type SourceTable } from '../../functions/core/contract/source-tables';
import { COPY_TEXT_SETTINGS, copyTextToJson, jsonValueOf } from '../../functions/core/extract/copy-json';
import { CopyLines } from '../../functions/core/extract/copy-text';
import { planWindow, WINDOW_SETTINGS, windowSelect, withBatchId } from '../../functions/core/extract/extract-window';
import { openLocalPipeline } from '../../functions/cli/local-context';
import { extract } from '../../functions/core/extract/extract';
import type { RowRendering } from '../../functions/core/extract/extract-window';
import { silentLog } from '../../functions/core/ports/log';
import { seedTotesys } from '../../functions/totesys/seed';
import { insertNastyRows } from '../support/nasty-values';

const BATCH = '0000000001-20261205T000000Z-abcd';
const UPPER_BOUND = 'infinity';

type Rendering = 'json' | 'text' | 'csv' | 'binary';
type GzipMode = 'stream' | 'members' | 'none';
interface Alternative {
  name: string;
  rendering: Rendering;
  level: number;
  gzip: GzipMode;
}

const ALTERNATIVES: Alternative[] = [
  { name: 'today: JSON in PostgreSQL, gzip 3', rendering: 'json', level: 3, gzip: 'stream' },
  { name: 'COPY text → JSON in Node, gzip 3', rendering: 'text', level: 3, gzip: 'stream' },
  { name: 'COPY CSV → JSON in Node, gzip 3', rendering: 'csv', level: 3, gzip: 'stream' },
  { name: 'COPY binary → JSON in Node, gzip 3', rendering: 'binary', level: 3, gzip: 'stream' },
  { name: 'JSON in PostgreSQL, gzip 1', rendering: 'json', level: 1, gzip: 'stream' },
  { name: 'COPY text → JSON in Node, gzip 1', rendering: 'text', level: 1, gzip: 'stream' },
  { name: 'COPY text → JSON in Node, gzip 3 in parallel members (libuv pool)', rendering: 'text', level: 3, gzip: 'members' },
  { name: 'JSON in PostgreSQL, gzip 3 in parallel members (libuv pool)', rendering: 'json', level: 3, gzip: 'members' },
  { name: 'reference: COPY text → JSON in Node, no gzip', rendering: 'text', level: 0, gzip: 'none' },
  { name: 'reference: JSON in PostgreSQL, no gzip', rendering: 'json', level: 0, gzip: 'none' },
];
const BASELINE = ALTERNATIVES[0];

const { values } = parseArgs({
  options: {
    orders: { type: 'string', default: '300000' },
    repeats: { type: 'string', default: '3' },
    phases: { type: 'string', default: 'nasty,tables,readers,product' },
    'source-url': { type: 'string' },
    tables: { type: 'string' },
    readers: { type: 'string', default: '1,2,3,4' },
    'reader-renderings': { type: 'string', default: 'json,text' },
    out: { type: 'string', default: 'bench/extract-alternatives.json' },
  },
});
const ORDERS = Number(values.orders);
const REPEATS = Number(values.repeats);
const PHASES = new Set(values.phases!.split(','));
const WORK = path.join(os.tmpdir(), `totes-xalt-${process.pid}`);

// ---------------------------------------------------------------------------------------------
// Renderings other than today's and copy-json.ts's: CSV and binary COPY, to the same JSON text.

function objectRenderer(table: SourceTable): { prefixes: string[]; tail: string } {
  return { prefixes: table.columns.map((c, i) => `${i === 0 ? '{' : ', '}${JSON.stringify(c.name)} : `), tail: `, "${BATCH_ID_COLUMN}" : "${BATCH}"}` };
}

/** COPY … (FORMAT csv): NULL is an empty unquoted field, an empty string is `""`; quoted fields may hold newlines. */
class CsvRows extends Transform {
  rows = 0;
  private buf = '';
  private readonly decoder = new StringDecoder('utf8');
  private readonly renders: ((v: string) => string)[];
  private readonly o: ReturnType<typeof objectRenderer>;
  constructor(private readonly table: SourceTable) {
    super({ readableHighWaterMark: 1 << 20 });
    this.renders = table.columns.map((c) => jsonValueOf(c, 'plain'));
    this.o = objectRenderer(table);
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.buf += this.decoder.write(chunk);
    this.drain(false);
    done();
  }
  override _flush(done: TransformCallback): void {
    this.buf += this.decoder.end();
    this.drain(true);
    if (this.buf.length) return done(new Error(`CSV: ${this.buf.length} characters after the last row`));
    done();
  }
  private drain(final: boolean): void {
    const s = this.buf;
    const n = this.renders.length;
    let pos = 0;
    let out = '';
    for (;;) {
      const start = pos;
      let line = '';
      let complete = true;
      for (let i = 0; i < n; i++) {
        let value: string | null;
        if (s.charCodeAt(pos) === 34 /* " */) {
          let j = pos + 1;
          value = '';
          for (;;) {
            const k = s.indexOf('"', j);
            if (k < 0 || (k + 1 >= s.length && !final)) { complete = false; break; }
            if (s.charCodeAt(k + 1) === 34) { value += s.slice(j, k + 1); j = k + 2; continue; }
            value += s.slice(j, k);
            pos = k + 1;
            break;
          }
          if (!complete) break;
        } else {
          const stop = i === n - 1 ? s.indexOf('\n', pos) : s.indexOf(',', pos);
          if (stop < 0) { complete = false; break; }
          value = stop === pos ? null : s.slice(pos, stop);
          pos = stop;
        }
        line += this.o.prefixes[i] + (value === null ? 'null' : this.renders[i](value));
        const sep = s.charCodeAt(pos);
        if (sep !== (i === n - 1 ? 10 : 44)) {
          if (pos >= s.length) { complete = false; break; }
          throw new Error(`CSV row of ${this.table.name} does not have ${n} fields at ${s.slice(start, start + 200)}`);
        }
        pos++;
      }
      if (!complete) { pos = start; break; }
      out += line + this.o.tail + '\n';
      this.rows++;
      if (pos >= s.length) break;
    }
    this.buf = s.slice(pos);
    if (out) this.push(out);
  }
}

const PG_EPOCH_DAYS = 10957; // 2000-01-01 − 1970-01-01
/** Civil date of a day count from 1970-01-01 (proleptic Gregorian; H. Hinnant's days_from_civil inverse). */
function civil(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}
const p2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

function binaryTimestamp(b: Buffer, o: number): string {
  const hi = b.readInt32BE(o);
  const lo = b.readUInt32BE(o + 4);
  if (hi === 0x7fffffff && lo === 0xffffffff) return 'null';
  if (hi === -0x80000000 && lo === 0) return 'null';
  // Days and microseconds of the day, exactly: a double holds the microseconds of ±142 years
  // around 2000; beyond, BigInt (timestamps reach the year 294276).
  let days: number;
  let usOfDay: number;
  if (hi > -0x100000 && hi < 0x100000) {
    const us = hi * 4294967296 + lo;
    days = Math.floor(us / 86400e6);
    usOfDay = us - days * 86400e6;
  } else {
    const us = b.readBigInt64BE(o);
    let q = us / 86400000000n;
    if (us < 0n && q * 86400000000n !== us) q -= 1n;
    days = Number(q);
    usOfDay = Number(us - q * 86400000000n);
  }
  let rest = Math.floor(usOfDay / 1000);
  const [y, mo, d] = civil(days + PG_EPOCH_DAYS);
  const hh = Math.floor(rest / 3600000);
  rest -= hh * 3600000;
  const mi = Math.floor(rest / 60000);
  rest -= mi * 60000;
  const ss = Math.floor(rest / 1000);
  const milli = rest - ss * 1000;
  const year = String(y <= 0 ? 1 - y : y).padStart(4, '0');
  return `"${year}-${p2(mo)}-${p2(d)} ${p2(hh)}:${p2(mi)}:${p2(ss)}.${String(milli).padStart(3, '0')}"`;
}

function binaryNumeric(b: Buffer, o: number): string {
  const ndigits = b.readInt16BE(o);
  const weight = b.readInt16BE(o + 2);
  const sign = b.readUInt16BE(o + 4);
  const dscale = b.readUInt16BE(o + 6);
  if (sign === 0xc000) return '"NaN"';
  if (sign === 0xd000) return '"Infinity"';
  if (sign === 0xf000) return '"-Infinity"';
  const digit = (i: number): number => (i >= 0 && i < ndigits ? b.readInt16BE(o + 8 + 2 * i) : 0);
  let int = '';
  if (weight < 0) int = '0';
  else for (let i = 0; i <= weight; i++) int += i === 0 ? String(digit(i)) : String(digit(i)).padStart(4, '0');
  let frac = '';
  for (let i = weight + 1; frac.length < dscale; i++) frac += String(digit(i)).padStart(4, '0');
  return (sign === 0x4000 ? '-' : '') + int + (dscale > 0 ? `.${frac.slice(0, dscale)}` : '');
}

type BinaryRender = (b: Buffer, start: number, end: number) => string;
function binaryRenderOf(column: SourceColumn): BinaryRender {
  switch (column.type) {
    case 'integer': return (b, s) => String(b.readInt32BE(s));
    case 'boolean': return (b, s) => (b[s] ? 'true' : 'false');
    case 'numeric(10,2)': return (b, s) => binaryNumeric(b, s);
    case 'timestamp(3)': return (b, s) => binaryTimestamp(b, s);
    default: return (b, s, e) => JSON.stringify(b.toString('utf8', s, e));
  }
}

/** COPY … (FORMAT binary): signature, flags, header extension, then per row a field count and (length, bytes) per field. */
class BinaryRows extends Transform {
  rows = 0;
  private pending: Buffer = Buffer.alloc(0);
  private headerDone = false;
  private ended = false;
  private readonly renders: BinaryRender[];
  private readonly o: ReturnType<typeof objectRenderer>;
  constructor(private readonly table: SourceTable) {
    super({ readableHighWaterMark: 1 << 20 });
    this.renders = table.columns.map(binaryRenderOf);
    this.o = objectRenderer(table);
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    const b = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;
    if (!this.headerDone) {
      if (b.length < 19) { this.pending = b; return done(); }
      const ext = b.readUInt32BE(15);
      if (b.length < 19 + ext) { this.pending = b; return done(); }
      pos = 19 + ext;
      this.headerDone = true;
    }
    let out = '';
    const n = this.renders.length;
    while (!this.ended && pos + 2 <= b.length) {
      const count = b.readInt16BE(pos);
      if (count === -1) { this.ended = true; pos += 2; break; }
      if (count !== n) return done(new Error(`binary row of ${this.table.name} has ${count} fields, the contract ${n}`));
      let p = pos + 2;
      let line = '';
      let complete = true;
      for (let i = 0; i < n; i++) {
        if (p + 4 > b.length) { complete = false; break; }
        const len = b.readInt32BE(p);
        p += 4;
        if (len === -1) { line += this.o.prefixes[i] + 'null'; continue; }
        if (p + len > b.length) { complete = false; break; }
        line += this.o.prefixes[i] + this.renders[i](b, p, p + len);
        p += len;
      }
      if (!complete) break;
      out += line + this.o.tail + '\n';
      this.rows++;
      pos = p;
    }
    this.pending = b.subarray(pos);
    if (out) this.push(out);
    done();
  }
  override _flush(done: TransformCallback): void {
    done(this.pending.length || !this.ended ? new Error(`binary COPY of ${this.table.name} ended inside a row or without its trailer`) : undefined);
  }
}

/** gzip as independent members of ~1 MiB compressed in the libuv pool at once, written in order (gunzip reads the concatenation). */
class ParallelGzip extends Transform {
  private block: Buffer[] = [];
  private blockBytes = 0;
  private inFlight: Promise<Buffer>[] = [];
  constructor(private readonly level: number, private readonly width = 4, private readonly blockSize = 1 << 20) {
    super();
  }
  override async _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): Promise<void> {
    try {
      this.block.push(chunk);
      this.blockBytes += chunk.length;
      if (this.blockBytes >= this.blockSize) await this.cut();
      done();
    } catch (err) { done(err as Error); }
  }
  override async _flush(done: TransformCallback): Promise<void> {
    try {
      if (this.blockBytes) await this.cut();
      for (const p of this.inFlight.splice(0)) this.push(await p);
      done();
    } catch (err) { done(err as Error); }
  }
  private async cut(): Promise<void> {
    const data = Buffer.concat(this.block);
    this.block = [];
    this.blockBytes = 0;
    this.inFlight.push(new Promise((resolve, reject) => zlib.gzip(data, { level: this.level }, (e, r) => (e ? reject(e) : resolve(r)))));
    while (this.inFlight.length >= this.width) this.push(await this.inFlight.shift()!);
  }
}

// ---------------------------------------------------------------------------------------------

interface RunResult { wallS: number; pgCpuS: number; nodeCpuS: number; rows: number; bytes: number; file: string }


const sql = (url: string, text: string): Promise<pg.QueryResult> => sqlOnce(url, text, 'totes-xalt');

const connect = (url: string): Promise<pg.Client> => connectAs(url, 'totes-xalt');

async function backendPid(c: pg.Client): Promise<number> {
  return Number((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid);
}

/** One table through one alternative into `file`, on a client already in a transaction. */
async function runTable(client: pg.Client, table: SourceTable, alt: Alternative, file: string): Promise<Omit<RunResult, 'pgCpuS' | 'nodeCpuS' | 'wallS'>> {
  await client.query('SELECT set_config($1, $2, true), set_config($3, $4, true), set_config($5, $6, true), set_config($7, $8, true)', [
    WINDOW_SETTINGS.fromTs, '', WINDOW_SETTINGS.fromId, '', WINDOW_SETTINGS.upperBound, UPPER_BOUND, WINDOW_SETTINGS.limit, '100000000',
  ]);
  if (alt.rendering !== 'json') for (const [name, value] of Object.entries(COPY_TEXT_SETTINGS)) await client.query('SELECT set_config($1, $2, true)', [name, value]);
  const select = windowSelect(planWindow(table, undefined, '9999-12-31 00:00:00.000'), true, undefined, alt.rendering === 'json' ? 'json' : 'columns');
  const format = alt.rendering === 'csv' ? ' (FORMAT csv)' : alt.rendering === 'binary' ? ' (FORMAT binary)' : '';
  const copy = client.query(copyTo(`COPY (${select}) TO STDOUT${format}`));
  const render: Transform & { rows: number } =
    alt.rendering === 'json' ? new CopyLines((l) => withBatchId(l, BATCH))
      : alt.rendering === 'text' ? new CopyLines(copyTextToJson(table, BATCH), 'raw')
        : alt.rendering === 'csv' ? new CsvRows(table) : new BinaryRows(table);
  const gzip = alt.gzip === 'stream' ? zlib.createGzip({ level: alt.level }) : alt.gzip === 'members' ? new ParallelGzip(alt.level) : undefined;
  const out = createWriteStream(file);
  await pipeline([copy as unknown as Readable, render, ...(gzip ? [gzip] : []), out]);
  return { rows: render.rows, bytes: (await fs.stat(file)).size, file };
}

async function timed(url: string, table: SourceTable, alt: Alternative, file: string): Promise<RunResult> {
  const client = await connect(url);
  try {
    const pid = await backendPid(client);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const pg0 = procCpuSeconds(pid);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await runTable(client, table, alt, file);
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const pgCpuS = procCpuSeconds(pid) - pg0;
    await client.query('COMMIT');
    return { ...r, wallS, pgCpuS, nodeCpuS: (cpu.user + cpu.system) / 1e6 };
  } finally {
    await client.end();
  }
}

/** sha256 and line count of a file's decompressed JSON lines (or of the file itself when it is not gzip). */
async function contentHash(file: string, gz: boolean): Promise<{ sha: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const source = createReadStream(file);
  const stream = gz ? source.pipe(zlib.createGunzip()) : source;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha: hash.digest('hex'), bytes };
}

async function firstDifference(a: string, aGz: boolean, b: string, bGz: boolean): Promise<string> {
  const text = async (f: string, gz: boolean): Promise<string[]> => {
    const raw = await fs.readFile(f);
    return (gz ? zlib.gunzipSync(raw) : raw).toString('utf8').split('\n');
  };
  const [x, y] = [await text(a, aGz), await text(b, bGz)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) return `line ${i + 1}:\n  today: ${JSON.stringify(x[i])?.slice(0, 600)}\n  alt:   ${JSON.stringify(y[i])?.slice(0, 600)}`;
  }
  return 'no differing line (?)';
}

class Exactness {
  private readonly expected = new Map<string, { sha: string; bytes: number; file: string; gz: boolean }>();
  checked = 0;
  async baseline(key: string, file: string, gz: boolean): Promise<void> {
    this.expected.set(key, { ...(await contentHash(file, gz)), file: `${file}.baseline`, gz });
    await fs.copyFile(file, `${file}.baseline`);
  }
  async check(key: string, what: string, file: string, gz: boolean): Promise<void> {
    const want = this.expected.get(key);
    if (!want) throw new Error(`no baseline for ${key}`);
    const got = await contentHash(file, gz);
    this.checked++;
    if (got.sha !== want.sha || got.bytes !== want.bytes) {
      const diff = await firstDifference(want.file, want.gz, file, gz);
      console.error(`\nEXACTNESS FAILED: ${what} (${key}) differs from today's JSON lines after decompression (${got.bytes} vs ${want.bytes} bytes)\n${diff}`);
      process.exit(1);
    }
  }
}


// ---------------------------------------------------------------------------------------------

async function phaseNasty(baseUrl: string): Promise<void> {
  const url = withDatabase(baseUrl, 'totes_xalt_nasty');
  await recreateDatabase(baseUrl, 'totes_xalt_nasty');
  const c = await connect(url);
  await insertNastyRows(c);
  await c.end();
  const exact = new Exactness();
  for (const table of SOURCE_TABLES) {
    const file = (alt: Alternative): string => path.join(WORK, `nasty-${table.name}-${ALTERNATIVES.indexOf(alt)}.out`);
    await timed(url, table, BASELINE, file(BASELINE));
    await exact.baseline(table.name, file(BASELINE), true);
    for (const alt of ALTERNATIVES.slice(1)) {
      await timed(url, table, alt, file(alt));
      await exact.check(table.name, alt.name, file(alt), alt.gzip !== 'none');
    }
  }
  console.log(`nasty values: ${exact.checked} outputs (${ALTERNATIVES.length - 1} alternatives × ${SOURCE_TABLES.length} tables) identical to today's JSON lines`);
}

interface TableStats { wall: number[]; pgCpu: number[]; nodeCpu: number[]; bytes: number; rows: number }

async function phaseTables(url: string, tables: SourceTable[]): Promise<Record<string, Record<string, TableStats>>> {
  const stats: Record<string, Record<string, TableStats>> = {};
  const exact = new Exactness();
  for (let r = 0; r < REPEATS; r++) {
    for (const table of tables) {
      stats[table.name] ??= {};
      const file = (alt: Alternative): string => path.join(WORK, `${table.name}-${ALTERNATIVES.indexOf(alt)}.out`);
      if (r === 0) {
        // An untimed warm-up read of the table (the first read pays for the cache), which is also the baseline bytes.
        await timed(url, table, BASELINE, file(BASELINE));
        await exact.baseline(table.name, file(BASELINE), true);
      }
      for (const alt of rotate(ALTERNATIVES, r)) {
        const res = await timed(url, table, alt, file(alt));
        if (r === 0) await exact.check(table.name, alt.name, file(alt), alt.gzip !== 'none');
        const s = (stats[table.name][alt.name] ??= { wall: [], pgCpu: [], nodeCpu: [], bytes: res.bytes, rows: res.rows });
        s.wall.push(res.wallS);
        s.pgCpu.push(res.pgCpuS);
        s.nodeCpu.push(res.nodeCpuS);
        await fs.rm(file(alt));
        console.log(`  [${r + 1}/${REPEATS}] ${table.name.padEnd(15)} ${alt.name.padEnd(70)} ${fmt(res.wallS)} s  pg cpu ${fmt(res.pgCpuS)} s  node cpu ${fmt(res.nodeCpuS)} s  ${res.rows} rows  ${(res.bytes / 1e6).toFixed(1)} MB`);
      }
    }
  }
  console.log(`\nexactness: ${exact.checked} outputs identical to today's after decompression`);
  console.log(`\n| alternative | ${tables.map((t) => t.name).join(' | ')} | sum of medians, s | ratio to today | PG CPU s | Node CPU s | MB written |`);
  console.log(`|---|${tables.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|`);
  const sum = (alt: Alternative, f: (s: TableStats) => number): number => tables.reduce((acc, t) => acc + f(stats[t.name][alt.name]), 0);
  const base = sum(BASELINE, (s) => median(s.wall));
  for (const alt of ALTERNATIVES) {
    const cells = tables.map((t) => `${fmt(median(stats[t.name][alt.name].wall))} (${fmt(median(stats[t.name][alt.name].wall) / median(stats[t.name][BASELINE.name].wall))}×)`);
    const total = sum(alt, (s) => median(s.wall));
    console.log(`| ${alt.name} | ${cells.join(' | ')} | ${fmt(total)} | ${fmt(total / base)}× | ${fmt(sum(alt, (s) => median(s.pgCpu)))} | ${fmt(sum(alt, (s) => median(s.nodeCpu)))} | ${fmt(sum(alt, (s) => s.bytes) / 1e6, 1)} |`);
  }
  return stats;
}

/** The extract's table loop: `readers` connections in one exported snapshot, each taking the next table in contract order. */
async function wholeExtract(url: string, readers: number, alt: Alternative): Promise<{ wallS: number; pgCpuS: number; files: Map<string, string> }> {
  const clients: pg.Client[] = [];
  const files = new Map<string, string>();
  try {
    for (let i = 0; i < readers; i++) clients.push(await connect(url));
    const pids = await Promise.all(clients.map(backendPid));
    const t0 = performance.now();
    await clients[0].query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const id = (await clients[0].query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0].id;
    for (const c of clients.slice(1)) {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await c.query(`SET TRANSACTION SNAPSHOT '${id}'`);
    }
    const cpu0 = pids.map(procCpuSeconds);
    const queue = [...SOURCE_TABLES];
    await Promise.all(
      clients.map(async (c) => {
        for (let t = queue.shift(); t; t = queue.shift()) {
          const file = path.join(WORK, `whole-${readers}-${alt.rendering}-${t.name}.out`);
          await runTable(c, t, alt, file);
          files.set(t.name, file);
        }
      }),
    );
    for (const c of clients) await c.query('COMMIT');
    const wallS = (performance.now() - t0) / 1000;
    const pgCpuS = pids.reduce((acc, pid, i) => acc + procCpuSeconds(pid) - cpu0[i], 0);
    return { wallS, pgCpuS, files };
  } finally {
    for (const c of clients) await c.end().catch(() => undefined);
  }
}

async function phaseReaders(url: string): Promise<Record<string, number[]>> {
  const counts = values.readers!.split(',').map(Number);
  const renderings = values['reader-renderings']!.split(',') as Rendering[];
  const configs = renderings.flatMap((rendering) => counts.map((readers) => ({ readers, alt: ALTERNATIVES.find((a) => a.rendering === rendering && a.level === 3 && a.gzip === 'stream')! })));
  const name = (c: (typeof configs)[number]): string => `${c.alt.name}, ${c.readers} reader(s)`;
  const walls: Record<string, number[]> = {};
  const exact = new Exactness();
  // Baseline bytes: today's rendering, one connection.
  const warm = await wholeExtract(url, 1, BASELINE);
  for (const [table, file] of warm.files) await exact.baseline(table, file, true);
  for (let r = 0; r < REPEATS; r++) {
    for (const c of rotate(configs, r)) {
      const res = await wholeExtract(url, c.readers, c.alt);
      if (r === 0) for (const [table, file] of res.files) await exact.check(table, name(c), file, true);
      (walls[name(c)] ??= []).push(res.wallS);
      console.log(`  [${r + 1}/${REPEATS}] ${name(c).padEnd(60)} ${fmt(res.wallS)} s  pg cpu ${fmt(res.pgCpuS)} s`);
      for (const file of res.files.values()) await fs.rm(file);
    }
  }
  console.log(`\nexactness: ${exact.checked} outputs identical to today's after decompression`);
  const base = median(walls[name(configs.find((c) => c.alt === BASELINE && c.readers === 2) ?? configs[0])]);
  console.log('\n| whole extract (every table, one snapshot) | median s | runs, s | ratio to today (JSON in PostgreSQL, 2 readers) |\n|---|---:|---|---:|');
  for (const c of configs) console.log(`| ${name(c)} | ${fmt(median(walls[name(c)]))} | ${walls[name(c)].map((x) => fmt(x)).join(', ')} | ${fmt(median(walls[name(c)]) / base)}× |`);
  return walls;
}

/** The product's first extract into a fresh folder lake; per table, the sha256 of its raw files' JSON lines with the batch id masked. */
async function productExtract(url: string, rendering: RowRendering, lake: string): Promise<{ wallS: number; hashes: Map<string, string> }> {
  const pipeline = await openLocalPipeline(
    { lake, sourceUrl: url, warehouseUrl: url, warehouseSchema: 'public', engine: 'duckdb', commitLagMs: 0, json: false, verbose: false },
    silentLog,
  );
  try {
    const t0 = performance.now();
    const r = await extract(pipeline.ctx, { rowRendering: rendering });
    const wallS = (performance.now() - t0) / 1000;
    if (!r.published || !r.manifest) throw new Error(`product extract (${rendering}) did not publish: ${r.reason}`);
    const hashes = new Map<string, string>();
    for (const [table, t] of Object.entries(r.manifest.tables)) {
      const hash = createHash('sha256');
      for (const f of t?.files ?? []) hash.update(zlib.gunzipSync(await pipeline.ctx.ingestion.get(f.key)).toString('utf8').split(r.batchId).join('<batch>'));
      hashes.set(table, hash.digest('hex'));
    }
    return { wallS, hashes };
  } finally {
    await pipeline.close();
    await fs.rm(lake, { recursive: true, force: true });
  }
}

async function phaseProduct(url: string): Promise<Record<string, number[]>> {
  const renderings: RowRendering[] = ['json', 'columns'];
  const walls: Record<string, number[]> = {};
  let expected: Map<string, string> | undefined;
  for (let r = 0; r < REPEATS; r++) {
    for (const rendering of rotate(renderings, r)) {
      const res = await productExtract(url, rendering, path.join(WORK, `lake-${r}-${rendering}`));
      expected ??= res.hashes;
      for (const [table, sha] of expected) {
        if (res.hashes.get(table) !== sha) {
          console.error(`\nEXACTNESS FAILED: the product extract with rowRendering '${rendering}' wrote different JSON lines for ${table}`);
          process.exit(1);
        }
      }
      (walls[rendering] ??= []).push(res.wallS);
      console.log(`  [${r + 1}/${REPEATS}] product extract, rowRendering '${rendering}': ${fmt(res.wallS)} s`);
    }
  }
  console.log(`\n| product first extract (every table) | median s | runs, s | ratio to 'json' |\n|---|---:|---|---:|`);
  for (const rendering of renderings) console.log(`| rowRendering '${rendering}' | ${fmt(median(walls[rendering]))} | ${walls[rendering].map((x) => fmt(x)).join(', ')} | ${fmt(median(walls[rendering]) / median(walls.json))}× |`);
  return walls;
}

// ---------------------------------------------------------------------------------------------

async function recreateDatabase(url: string, name: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`refusing database name ${name}`);
  const admin = withDatabase(url, 'postgres');
  await sql(admin, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await sql(admin, `CREATE DATABASE "${name}"`);
}

async function seededSource(): Promise<{ url: string; baseUrl: string }> {
  if (values['source-url']) return { url: values['source-url'], baseUrl: values['source-url'] };
  const base = process.env.TOTES_TEST_PG_URL;
  if (!base) throw new Error('Set TOTES_TEST_PG_URL (bash test/support/pg-server.sh start --env-file /tmp/pgx.env; source /tmp/pgx.env) or pass --source-url');
  const name = `totes_xalt_${ORDERS}`;
  const url = withDatabase(base, name);
  const rows = await sql(url, 'SELECT count(*)::int AS n FROM sales_order').then((r) => r.rows[0].n as number).catch(() => 0);
  if (rows === 0) {
    console.log(`seeding ${name}: ${ORDERS} sales orders (seedTotesys, seed 1)`);
    await recreateDatabase(base, name);
    await sql(withDatabase(base, 'postgres'), `ALTER DATABASE "${name}" SET session_replication_role = replica`);
    await seedTotesys(url, { scale: ORDERS / 7000, seed: 1, asOf: new Date('2026-12-01T00:00:00Z') });
    await sql(withDatabase(base, 'postgres'), `ALTER DATABASE "${name}" RESET session_replication_role`);
    await sql(url, 'VACUUM ANALYZE');
  }
  return { url, baseUrl: base };
}

async function main(): Promise<void> {
  await fs.mkdir(WORK, { recursive: true });
  const results: Record<string, unknown> = { orders: ORDERS, repeats: REPEATS, cpus: os.cpus().length, load_before: os.loadavg() };
  try {
    const { url, baseUrl } = await seededSource();
    const counts = await sql(url, SOURCE_TABLES.map((t) => `SELECT '${t.name}' AS t, count(*)::int AS n FROM "${t.name}"`).join(' UNION ALL '));
    console.log(`source: ${counts.rows.map((r) => `${r.t} ${r.n}`).join(', ')}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    if (PHASES.has('nasty')) await phaseNasty(baseUrl);
    const big = ['sales_order', 'purchase_order', 'transaction', 'payment'];
    const tables = SOURCE_TABLES.filter((t) => (values.tables ? values.tables.split(',') : big).includes(t.name));
    if (PHASES.has('tables')) results.tables = await phaseTables(url, tables);
    if (PHASES.has('readers')) results.readers = await phaseReaders(url);
    if (PHASES.has('product')) results.product = await phaseProduct(url);
    results.load_after = os.loadavg();
    await fs.mkdir(path.dirname(values.out!), { recursive: true });
    await fs.writeFile(values.out!, JSON.stringify(results, null, 2));
    console.log(`\nwrote ${values.out}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    await fs.rm(WORK, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
