/**
 * Where the extract's time goes, and what makes it faster (issue 14, item 4): on one seeded
 * source, the whole table loop (every table, contract order, connections sharing one exported
 * snapshot as snapshot-readers.ts does) through each variant of the rendering and the gzip,
 * interleaved (A B C … then rotated each repeat), against the floor — the same `COPY … TO STDOUT`
 * of the same rows with the bytes thrown away — and the product's own first `extract()`. Every
 * variant's output, decompressed, is compared byte for byte with the string renderer's (the run
 * stops with exit code 1 otherwise).
 *
 *   npx tsx test/bench/extract-profile.ts [--orders 300000] [--repeats 3] [--readers 2]
 *       [--variants floor,string-3,bytes-3,bytes-1,…] [--product] [--bench-floor] [--source-url URL]
 *
 * Without --source-url it uses the server of TOTES_TEST_PG_URL (test/support/pg-server.sh) and a
 * database `totes_xalt_<orders>`, seeded with seedTotesys (seed 1) when empty (the database
 * test/bench/extract-alternatives.ts uses too). Prints, per variant, the median wall seconds, the
 * ratio to the floor and to `string-3` (the rendering before this change), Node's CPU seconds
 * (main thread and zlib threads) and PostgreSQL's (its backends, from /proc), and the gzip bytes.
 * --product adds the product's own first extract() into a fresh folder lake; --bench-floor adds
 * npm run bench's extract floor (floors.ts floorSourceToJson), and relates every variant to dlt
 * through it: the bench of 2026-12-05 had dlt at 0.294× that floor, so a variant at 0.44× it is at
 * about 1.5× dlt (`ratio_extract_to_dlt`).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import pg from 'pg';
import { connectAs, fmt, median, procCpuSeconds, rotate, sqlOnce, withDatabase } from './bench-util';
import { to as copyTo } from 'pg-copy-streams';
import { SOURCE_TABLES, type SourceTable } from '../../functions/core/contract/source-tables';
import { COPY_TEXT_SETTINGS, CopyJsonRows, copyTextToJson } from '../../functions/core/extract/copy-json';
import { CopyLines } from '../../functions/core/extract/copy-text';
import { extract } from '../../functions/core/extract/extract';
import { cursorOf, planWindow, WINDOW_SETTINGS, windowSelect } from '../../functions/core/extract/extract-window';
import type { Cursor } from '../../functions/core/lake/manifests';
import { closeSnapshotReaders, openSnapshotReaders } from '../../functions/core/extract/snapshot-readers';
import { openLocalPipeline } from '../../functions/cli/local-context';
import { silentLog } from '../../functions/core/ports/log';
import { seedTotesys } from '../../functions/totesys/seed';
import { floorSourceToJson } from './floors';

const BATCH = '0000000001-20261205T000000Z-abcd';

const { values } = parseArgs({
  options: {
    orders: { type: 'string', default: '300000' },
    repeats: { type: 'string', default: '3' },
    readers: { type: 'string', default: '2' },
    variants: { type: 'string', default: 'floor,string-3,bytes-3,bytes-2,bytes-1,bytes-1-64k,bytes-none,string-none' },
    product: { type: 'boolean', default: false },
    'bench-floor': { type: 'boolean', default: false },
    'source-url': { type: 'string' },
  },
});
const ORDERS = Number(values.orders);
const REPEATS = Number(values.repeats);
const READERS = Number(values.readers);
const WORK = path.join(os.tmpdir(), `totes-xprof-${process.pid}`);

/**
 * A variant: `floor` (COPY, bytes dropped), or `<render>-<gzip>[-<chunk>]`: render `string`
 * (CopyLines + copyTextToJson, as the extract was) or `bytes` (CopyJsonRows); gzip a level 1–9 or
 * `none`; then any of: `64k` (the zlib chunkSize, default 16k), `pass` (the PassThrough the extract
 * wrote through: a `for await` loop writing into it, awaiting 'drain'), `lpt` (tables largest
 * first, by pg_class.relpages, instead of contract order), `r3` (3 connections instead of --readers),
 * `c500k` (chunks of 500,000 rows, each its own ORDER BY … LIMIT, as the extract reads a big table).
 * E.g. `floor`, `floor-r3`, `string-3-pass` (the extract before this change), `bytes-1-lpt`.
 */
interface Variant {
  name: string;
  floor: boolean;
  render: 'string' | 'bytes';
  level: number | undefined;
  chunk: number | undefined;
  pass: boolean;
  /** Tables largest first (pg_class.relpages) instead of in contract order. */
  largestFirst: boolean;
  /** Rows per chunk, as the extract's chunkRows (`c500k`; default one chunk per table). */
  chunkRows: number;
  readers: number;
}

function parseVariant(name: string): Variant {
  const [render, gzip, ...rest] = name.split('-');
  const readersArg = rest.find((r) => /^r\d+$/.test(r));
  const readers = readersArg ? Number(readersArg.slice(1)) : READERS;
  const largestFirst = rest.includes('lpt');
  const chunkRowsArg = rest.find((r) => /^c\d+k$/.test(r));
  const chunkRows = chunkRowsArg ? Number(chunkRowsArg.slice(1, -1)) * 1000 : 100_000_000;
  if (render === 'floor') return { name, floor: true, render: 'bytes', level: undefined, chunk: undefined, pass: false, largestFirst, readers, chunkRows };
  if (render !== 'string' && render !== 'bytes') throw new Error(`variant ${name}: render is string or bytes`);
  const chunkArg = rest.find((r) => /^\d+k$/.test(r));
  return {
    name,
    floor: false,
    render,
    level: gzip === 'none' ? undefined : Number(gzip),
    chunk: chunkArg ? Number(chunkArg.slice(0, -1)) * 1024 : undefined,
    pass: rest.includes('pass'),
    largestFirst,
    readers,
    chunkRows,
  };
}

const sql = (url: string, text: string): Promise<pg.QueryResult> => sqlOnce(url, text, 'totes-xprof');

const connect = (url: string): Promise<pg.Client> => connectAs(url, 'totes-xprof');

/** One table through a variant, chunk by chunk as the extract reads it; returns the output files (none for the floor). */
async function runTable(client: pg.Client, table: SourceTable, v: Variant, file: string): Promise<{ rows: number; bytes: number; files: string[] }> {
  let from: Cursor | null = null;
  const total = { rows: 0, bytes: 0, files: [] as string[] };
  for (let index = 0; ; index++) {
    await client.query('SELECT set_config($1, $2, true), set_config($3, $4, true), set_config($5, $6, true), set_config($7, $8, true)', [
      WINDOW_SETTINGS.fromTs, from?.lastUpdated ?? '', WINDOW_SETTINGS.fromId, from ? String(from.id) : '', WINDOW_SETTINGS.upperBound, 'infinity', WINDOW_SETTINGS.limit, String(v.chunkRows),
    ]);
    const window = { ...planWindow(table, undefined, '9999-12-31 00:00:00.000'), from };
    const r = await runChunk(client, table, v, windowSelect(window, true, undefined, 'columns'), `${file}.${index}`);
    total.rows += r.rows;
    total.bytes += r.bytes;
    if (r.file) total.files.push(r.file);
    if (r.rows < v.chunkRows || !r.last) return total;
    from = r.last;
  }
}

/** One chunk: COPY → (render → gzip → file) or, for the floor, COPY → bytes counted. */
async function runChunk(client: pg.Client, table: SourceTable, v: Variant, select: string, file: string): Promise<{ rows: number; bytes: number; file?: string; last?: Cursor }> {
  const copy = client.query(copyTo(`COPY (${select}) TO STDOUT`)) as unknown as Readable;
  if (v.floor) {
    // The floor keeps the last line's cursor fields only, from the raw COPY text.
    let bytes = 0;
    let rows = 0;
    let tail = Buffer.alloc(0);
    await pipeline(
      copy,
      new Writable({
        write: (chunk: Buffer, _e, done) => {
          bytes += chunk.length;
          for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) rows++;
          tail = Buffer.concat([tail, chunk]).subarray(-4096);
          done();
        },
      }),
    );
    const lines = tail.toString('utf8').split('\n');
    const fields = (lines[lines.length - 2] ?? '').split('\t');
    const at = (name: string): string => fields[table.columns.findIndex((c) => c.name === name)];
    return { rows, bytes, last: rows ? { lastUpdated: at('last_updated'), id: Number(at(table.primaryKey)) } : undefined };
  }
  const render = v.render === 'string' ? new CopyLines(copyTextToJson(table, BATCH), 'raw') : new CopyJsonRows(table, BATCH);
  const gzip = v.level === undefined ? undefined : zlib.createGzip({ level: v.level, ...(v.chunk ? { chunkSize: v.chunk } : {}) });
  // Without gzip the JSON lines are only counted (448 MB at 300k orders would time the disk).
  let counted = 0;
  const out = gzip ? createWriteStream(file) : new Writable({ write: (chunk: Buffer, _e, done) => ((counted += chunk.length), done()) });
  if (!v.pass) {
    await pipeline([copy, render, ...(gzip ? [gzip] : []), out]);
  } else {
    // The extract's loop before this change: a PassThrough written from a for-await loop.
    copy.on('error', (err) => render.destroy(err));
    copy.pipe(render);
    const sink = new PassThrough();
    const done = pipeline([sink, ...(gzip ? [gzip] : []), out]);
    for await (const chunk of render) if (!sink.write(chunk)) await once(sink, 'drain');
    sink.end();
    await done;
  }
  const lastLine = render.lastLine;
  const last = lastLine === undefined ? undefined : cursorOf(table, JSON.parse(lastLine) as Record<string, unknown>);
  return gzip ? { rows: render.rows, bytes: (await fs.stat(file)).size, file, last } : { rows: render.rows, bytes: counted, last };
}

interface LoopResult {
  wallS: number;
  nodeCpuS: number;
  /** CPU of the main thread alone (/proc/self/task/<pid>); the rest of nodeCpuS is zlib's threads and V8's. */
  mainCpuS: number;
  pgCpuS: number;
  /** Share of the wall time the main thread was busy (performance.eventLoopUtilization). */
  elu: number;
  bytes: number;
  files: Map<string, string[]>;
}

/** Every table through a variant, on READERS connections sharing one snapshot. */
async function wholeLoop(url: string, v: Variant, dir: string): Promise<LoopResult> {
  const client = await connect(url);
  let readers: pg.Client[] = [];
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    readers = await openSnapshotReaders({ log: silentLog }, client, v.readers, () => connect(url));
    const all = [client, ...readers];
    const pids = await Promise.all(all.map(async (c) => Number((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid)));
    for (const c of all) for (const [name, value] of Object.entries(COPY_TEXT_SETTINGS)) await c.query('SELECT set_config($1, $2, true)', [name, value]);
    const pg0 = pids.map((pid) => procCpuSeconds(pid));
    const cpu0 = process.cpuUsage();
    const main0 = procCpuSeconds(process.pid, process.pid);
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    const pages = new Map((await client.query<{ name: string; pages: number }>(`SELECT relname AS name, relpages AS pages FROM pg_class WHERE relkind = 'r'`)).rows.map((r) => [r.name, r.pages]));
    const queue = v.largestFirst ? [...SOURCE_TABLES].sort((a, b) => (pages.get(b.name) ?? 0) - (pages.get(a.name) ?? 0)) : [...SOURCE_TABLES];
    const files = new Map<string, string[]>();
    let bytes = 0;
    await Promise.all(
      all.map(async (c) => {
        for (let t = queue.shift(); t; t = queue.shift()) {
          const r = await runTable(c, t, v, path.join(dir, `${t.name}.out`));
          if (r.files.length) files.set(t.name, r.files);
          bytes += r.bytes;
        }
      }),
    );
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const elu = performance.eventLoopUtilization(elu0).utilization;
    const mainCpuS = procCpuSeconds(process.pid, process.pid) - main0;
    const pgCpuS = pids.reduce((s, pid, i) => s + procCpuSeconds(pid) - pg0[i], 0);
    await closeSnapshotReaders(readers.splice(0));
    await client.query('COMMIT');
    return { wallS, nodeCpuS: (cpu.user + cpu.system) / 1e6, mainCpuS, pgCpuS, elu, bytes, files };
  } finally {
    for (const c of readers) await c.end().catch(() => undefined);
    await client.end();
  }
}

async function contentHash(files: string[], gz: boolean): Promise<string> {
  const hash = createHash('sha256');
  for (const file of files) {
    const source = createReadStream(file);
    for await (const chunk of gz ? source.pipe(zlib.createGunzip()) : source) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/** The product's first extract into a fresh folder lake. */
async function productExtract(url: string, lake: string): Promise<{ wallS: number; nodeCpuS: number; bytes: number }> {
  const p = await openLocalPipeline({ lake, sourceUrl: url, warehouseUrl: url, warehouseSchema: 'public', engine: 'duckdb', commitLagMs: 0, json: false, verbose: false }, silentLog);
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await extract(p.ctx, { parallelReads: READERS });
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    if (!r.published) throw new Error(`product extract did not publish: ${r.reason}`);
    return { wallS, nodeCpuS: (cpu.user + cpu.system) / 1e6, bytes: r.bytes };
  } finally {
    await p.close();
    await fs.rm(lake, { recursive: true, force: true });
  }
}

async function seededSource(): Promise<string> {
  if (values['source-url']) return values['source-url'];
  const base = process.env.TOTES_TEST_PG_URL;
  if (!base) throw new Error('Set TOTES_TEST_PG_URL (bash test/support/pg-server.sh start --env-file /tmp/pg.env; source /tmp/pg.env) or pass --source-url');
  const name = `totes_xalt_${ORDERS}`;
  const url = withDatabase(base, name);
  const rows = await sql(url, 'SELECT count(*)::int AS n FROM sales_order').then((r) => r.rows[0].n as number).catch(() => 0);
  if (rows === 0) {
    console.log(`seeding ${name}: ${ORDERS} sales orders (seedTotesys, seed 1)`);
    const admin = withDatabase(base, 'postgres');
    await sql(admin, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await sql(admin, `CREATE DATABASE "${name}"`);
    await sql(admin, `ALTER DATABASE "${name}" SET session_replication_role = replica`);
    await seedTotesys(url, { scale: ORDERS / 7000, seed: 1, asOf: new Date('2026-12-01T00:00:00Z') });
    await sql(admin, `ALTER DATABASE "${name}" RESET session_replication_role`);
    await sql(url, 'VACUUM ANALYZE');
  }
  return url;
}

async function main(): Promise<void> {
  const variants = values.variants!.split(',').map(parseVariant);
  const url = await seededSource();
  await fs.mkdir(WORK, { recursive: true });
  try {
    console.log(`${ORDERS} orders, ${READERS} reader(s), ${REPEATS} repeat(s), ${os.cpus().length} CPUs, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const runs: Record<string, LoopResult[]> = {};
    const product: { wallS: number; nodeCpuS: number; bytes: number }[] = [];
    const expected = new Map<string, string>();
    const benchFloor: number[] = [];
    const names = [...variants.map((v) => v.name), ...(values.product ? ['product'] : []), ...(values['bench-floor'] ? ['bench-floor'] : [])];
    for (let r = 0; r < REPEATS; r++) {
      for (const name of rotate(names, r)) {
        if (name === 'bench-floor') {
          // npm run bench's own floor (floors.ts): psql \copy of PostgreSQL's JSON lines into files, one connection.
          const t0 = performance.now();
          await floorSourceToJson(url, path.join(WORK, 'bench-floor'));
          const wallS = (performance.now() - t0) / 1000;
          await fs.rm(path.join(WORK, 'bench-floor'), { recursive: true, force: true });
          benchFloor.push(wallS);
          console.log(`  [${r + 1}/${REPEATS}] ${'bench floor'.padEnd(16)} ${fmt(wallS)} s`);
          continue;
        }
        if (name === 'product') {
          const res = await productExtract(url, path.join(WORK, `lake-${r}`));
          product.push(res);
          console.log(`  [${r + 1}/${REPEATS}] ${'product extract()'.padEnd(16)} ${fmt(res.wallS)} s  node cpu ${fmt(res.nodeCpuS)} s`);
          continue;
        }
        const v = variants.find((x) => x.name === name)!;
        const dir = path.join(WORK, v.name);
        await fs.mkdir(dir, { recursive: true });
        const res = await wholeLoop(url, v, dir);
        (runs[v.name] ??= []).push(res);
        console.log(`  [${r + 1}/${REPEATS}] ${v.name.padEnd(16)} ${fmt(res.wallS)} s  node cpu ${fmt(res.nodeCpuS)} s (main ${fmt(res.mainCpuS)})  pg cpu ${fmt(res.pgCpuS)} s  main thread busy ${fmt(res.elu * 100, 0)}%  ${(res.bytes / 1e6).toFixed(1)} MB`);
        if (r === 0) {
          for (const [table, file] of res.files) {
            const sha = await contentHash(file, v.level !== undefined);
            const want = expected.get(table);
            if (want === undefined) expected.set(table, sha);
            else if (want !== sha) {
              console.error(`\nEXACTNESS FAILED: ${v.name} wrote different JSON lines for ${table}`);
              process.exit(1);
            }
          }
        }
        await fs.rm(dir, { recursive: true, force: true });
      }
    }
    console.log(`\nexactness: every variant's JSON lines identical, ${expected.size} tables`);
    const floor = runs.floor ? median(runs.floor.map((x) => x.wallS)) : NaN;
    const floorMin = runs.floor ? Math.min(...runs.floor.map((x) => x.wallS)) : NaN;
    const beforeName = Object.keys(runs).find((n) => n.startsWith('string-3'));
    const before = beforeName ? median(runs[beforeName].map((x) => x.wallS)) : NaN;
    console.log('\n| variant | median s | runs, s | fastest s | ÷ floor | ÷ before | fastest ÷ floor | Node CPU s | main thread CPU s | main thread busy | PostgreSQL CPU s | MB written |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const v of variants) {
      const xs = runs[v.name];
      const m = median(xs.map((x) => x.wallS));
      console.log(
        `| ${v.name} | ${fmt(m)} | ${xs.map((x) => fmt(x.wallS)).join(', ')} | ${fmt(Math.min(...xs.map((x) => x.wallS)))} | ${fmt(m / floor)}× | ${fmt(m / before)}× | ${fmt(Math.min(...xs.map((x) => x.wallS)) / floorMin)}× | ${fmt(median(xs.map((x) => x.nodeCpuS)))} | ${fmt(median(xs.map((x) => x.mainCpuS)))} | ${fmt(median(xs.map((x) => x.elu)) * 100, 0)}% | ${fmt(median(xs.map((x) => x.pgCpuS)))} | ${(median(xs.map((x) => x.bytes)) / 1e6).toFixed(1)} |`,
      );
    }
    if (product.length) {
      const m = median(product.map((x) => x.wallS));
      console.log(`| product extract() | ${fmt(m)} | ${product.map((x) => fmt(x.wallS)).join(', ')} | ${fmt(Math.min(...product.map((x) => x.wallS)))} | ${fmt(m / floor)}× | ${fmt(m / before)}× | ${fmt(Math.min(...product.map((x) => x.wallS)) / floorMin)}× | ${fmt(median(product.map((x) => x.nodeCpuS)))} | | | | ${(median(product.map((x) => x.bytes)) / 1e6).toFixed(1)} |`);
    }
    if (benchFloor.length) {
      const m = median(benchFloor);
      console.log(`| bench floor (floors.ts floorSourceToJson: psql, JSON in PostgreSQL, files) | ${fmt(m)} | ${benchFloor.map((x) => fmt(x)).join(', ')} | ${fmt(Math.min(...benchFloor))} | ${fmt(m / floor)}× | ${fmt(m / before)}× | ${fmt(Math.min(...benchFloor) / floorMin)}× | | | | | |`);
      // npm run bench of 2026-12-05 (BENCHMARKS.md): dlt took 0.294× this floor (6.60 s of 22.44 s).
      const ratio = (xs: number[]): string => `${fmt(median(xs) / m)}× the bench floor (median), ${fmt(Math.min(...xs) / Math.min(...benchFloor))}× (fastest): ratio_extract_to_dlt ≈ ${fmt(median(xs) / m / 0.294)} / ${fmt(Math.min(...xs) / Math.min(...benchFloor) / 0.294)}`;
      for (const v of variants) if (!v.floor) console.log(`${v.name}: ${ratio(runs[v.name].map((x) => x.wallS))}`);
      if (product.length) console.log(`product extract(): ${ratio(product.map((x) => x.wallS))}`);
    }
    console.log(`\nload average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    await fs.rm(WORK, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
