/**
 * Where a full first load's transform and load go (issue 14 item 3), on a lake the extract already
 * wrote (`stage-child.ts extract --lake DIR …` over a source seeded by `full-load-seed.ts`):
 *
 *   tsx test/bench/full-load-profile.ts --lake-from DIR --work DIR --base-url URL --warehouse DB [--stages transform,load] [--statements] [--checksum]
 *
 * `transform` copies the lake from `--lake-from` to `--work` and transforms it, timing every DuckDB
 * statement (wall, and this process's CPU across it: exact only with FL_SLOTS=1) and sampling the
 * process's runnable threads every 100 ms (how many cores it asks for, whatever else the machine
 * runs). FL_SLOTS=n lets at most n statements run at once. `load` loads `--work` into the database
 * `--warehouse` (dropped and created first) and reports Node's CPU, the load backend's CPU (/proc)
 * and its pg_stat_activity states sampled every 20 ms (`active:ClientRead`: the server waiting for
 * Node's data); `--checksum` adds each star table's row count and an md5 of its rows (surrogate keys
 * included). Prints one JSON line; compare variants interleaved (full-load-interleave.sh).
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openLocalPipeline } from '../../functions/cli/local-context';
import { silentLog } from '../../functions/core/ports/log';
import { transformPending } from '../../functions/core/transform/transform';
import { loadPending } from '../../functions/core/load/load';
import { DuckDbSession } from '../../functions/engines/duckdb/client';

const statements: { what: string; t0: number; t1: number }[] = [];
let origin = performance.now();
const run = DuckDbSession.prototype.run;
// FL_SLOTS=n: at most n DuckDB statements run at once (a semaphore over the engine's connections).
const slots = Number(process.env.FL_SLOTS ?? 0);
let free = slots; const queue: (() => void)[] = [];
DuckDbSession.prototype.run = async function (this: DuckDbSession, sql: string, params, where: string) {
  let release = (): void => undefined;
  if (slots > 0) {
    if (free > 0) free--; else await new Promise<void>((r) => queue.push(r));
    release = () => { const next = queue.shift(); if (next) next(); else free++; };
  }
  const t0 = performance.now() - origin; const c0 = process.cpuUsage();
  try { return await run.call(this, sql, params, where); } finally { const c = process.cpuUsage(c0); statements.push({ what: `cpu ${((c.user + c.system) / 1000).toFixed(0).padStart(5)} ${where} :: ${sql.replace(/\s+/g, ' ').slice(0, 90)}`, t0, t1: performance.now() - origin }); release(); }
};

const select = DuckDbSession.prototype.select;
DuckDbSession.prototype.select = async function (this: DuckDbSession, sql: string, params, original: string) {
  const t0 = performance.now() - origin;
  try { return await select.call(this, sql, params, original); } finally { statements.push({ what: `select :: ${original.replace(/\s+/g, ' ').slice(0, 120)}`, t0, t1: performance.now() - origin }); }
};
function withDb(url: string, db: string): string { const u = new URL(url); u.pathname = `/${db}`; return u.toString(); }
async function sql(url: string, text: string): Promise<pg.QueryResult> { const c = new pg.Client({ connectionString: url }); await c.connect(); try { return await c.query(text); } finally { await c.end(); } }
async function backendCpu(url: string, app: string): Promise<number> {
  const pids = (await sql(url, `SELECT pid FROM pg_stat_activity WHERE application_name LIKE '${app}%'`)).rows.map((r) => r.pid as number);
  let ticks = 0;
  for (const pid of pids) { try { const f = (await fs.readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' '); ticks += Number(f[11]) + Number(f[12]); } catch { /* gone */ } }
  return ticks / 100;
}
function cpuS(): number { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; }

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'lake-from': { type: 'string' }, work: { type: 'string' }, 'base-url': { type: 'string' }, warehouse: { type: 'string' }, stages: { type: 'string', default: 'transform,load' }, statements: { type: 'boolean', default: false }, checksum: { type: 'boolean', default: false } } });
  const stages = values.stages!.split(',');
  const work = values.work!;
  if (stages.includes('transform')) { await fs.rm(work, { recursive: true, force: true }); execFileSync('cp', ['-r', values['lake-from']!, work]); }
  const base = values['base-url']!;
  const warehouseUrl = withDb(base, values.warehouse!);
  if (stages.includes('load')) { await sql(withDb(base, 'postgres'), `DROP DATABASE IF EXISTS "${values.warehouse}" WITH (FORCE)`); await sql(withDb(base, 'postgres'), `CREATE DATABASE "${values.warehouse}"`); }
  const pipeline = await openLocalPipeline({ lake: work, sourceUrl: withDb(base, 'postgres'), warehouseUrl, warehouseSchema: 'public', engine: 'duckdb', commitLagMs: 0, json: false, verbose: false }, silentLog);
  const report: Record<string, unknown> = {};
  try {
    if (stages.includes('transform')) {
      origin = performance.now(); const c0 = cpuS();
      // Runnable threads of this process (state R), sampled every 100 ms: the parallelism the transform asks for, whatever else the machine runs.
      let sampling = true; const runnable: number[] = [];
      const sampler = (async () => { while (sampling) { let n = 0; for (const t of await fs.readdir('/proc/self/task')) { try { if ((await fs.readFile(`/proc/self/task/${t}/stat`, 'utf8')).split(') ')[1][0] === 'R') n++; } catch { /* ended */ } } runnable.push(n); await new Promise((r) => setTimeout(r, 100)); } })();
      await transformPending(pipeline.ctx);
      sampling = false; await sampler;
      const perSecond: string[] = []; for (let i = 0; i < runnable.length; i += 10) { const w = runnable.slice(i, i + 10); perSecond.push((w.reduce((a, b) => a + b, 0) / w.length).toFixed(1)); }
      console.error(`runnable threads per second: ${perSecond.join(' ')}`);
      const hist = [0, 0, 0]; for (const n of runnable) hist[Math.min(2, Math.max(0, n - 1))]++; // n includes the sampler itself
      console.error(`samples with 0 / 1 / 2+ runnable engine threads: ${hist.join(' / ')}`);
      report.transform = { ms: Math.round(performance.now() - origin), cpuS: +(cpuS() - c0).toFixed(2) };
      if (values.statements) for (const s of statements.sort((a, b) => a.t0 - b.t0)) console.error(`${s.t0.toFixed(0).padStart(6)} ${s.t1.toFixed(0).padStart(6)} ${(s.t1 - s.t0).toFixed(0).padStart(6)}  ${s.what}`);
    }
    if (stages.includes('load')) {
      const t0 = performance.now(); const c0 = cpuS();
      let pgCpu = 0; let done = false;
      const waits: Record<string, number> = {};
      const poll = (async () => { while (!done) { pgCpu = Math.max(pgCpu, await backendCpu(warehouseUrl, 'totes-lake-load').catch(() => pgCpu)); await new Promise((r) => setTimeout(r, 100)); } })();
      const sampler = new pg.Client({ connectionString: warehouseUrl }); await sampler.connect();
      const sampling = (async () => { while (!done) { const r = await sampler.query(`SELECT state, wait_event FROM pg_stat_activity WHERE application_name = 'totes-lake-load'`); for (const row of r.rows) { const k = `${row.state}:${row.wait_event ?? 'cpu'}`; waits[k] = (waits[k] ?? 0) + 1; } await new Promise((res) => setTimeout(res, 20)); } })();
      const r = await loadPending(pipeline.ctx);
      done = true; await poll; await sampling; await sampler.end();
      report.load = { ms: Math.round(performance.now() - t0), nodeCpuS: +(cpuS() - c0).toFixed(2), pgCpuS: pgCpu, waits, rows: r.reduce((n, b) => n + Object.values(b.tables).reduce((m, t) => m + (t?.written ?? 0), 0), 0) };
    }
    if (values.checksum) {
      // Every star table's rows (surrogate keys included), as PostgreSQL renders them, in key order: equal sums = equal warehouses.
      const sums: string[] = [];
      for (const t of (await sql(warehouseUrl, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND (table_name LIKE 'dim\\_%' OR table_name LIKE 'fact\\_%') ORDER BY 1`)).rows) {
        const r = await sql(warehouseUrl, `SELECT md5(string_agg(md5(t::text), '' ORDER BY t::text)) AS s, count(*) AS n FROM public."${t.table_name}" t`);
        sums.push(`${t.table_name}:${r.rows[0].n}:${String(r.rows[0].s).slice(0, 8)}`);
      }
      report.checksum = sums.join(' ');
    }
  } finally { await pipeline.close(); }
  const status = await fs.readFile('/proc/self/status', 'utf8');
  report.peakRssMb = Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)![1]) / 1024);
  console.log(JSON.stringify(report));
}
void main();
