/**
 * A fresh, empty PostgreSQL database for one test, as fast as the machine allows:
 *
 * 1. `TOTES_TEST_PG_URL` set (CI, `npm run bench`, or `eval "$(test/support/pg-server.sh start)"`):
 *    a uniquely named database is created on that server and dropped (WITH FORCE) on close.
 * 2. Otherwise a throwaway PostgreSQL server is started with test/support/pg-server.sh, once per
 *    jest worker process (shared by every test file that worker runs, found again through a small
 *    file in the temp directory), and stopped by a watchdog when the worker exits — even if it crashes.
 * 3. If no server can start (no PostgreSQL binaries), an embedded PGlite database served on a
 *    socket, with a one-line notice. PGlite takes no COPY FROM STDIN and serialises clients.
 *
 * `TOTES_TEST_PG=pglite` forces the embedded fallback; so does `testDatabase(name, { kind: 'pglite' })`
 * for a test that is about PGlite itself.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';

export interface TestDatabase {
  readonly url: string;
  readonly kind: 'server' | 'pglite';
  close(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** Force a kind; default: a server when one is available, else PGlite. */
  readonly kind?: 'server' | 'pglite';
}

const SCRIPT = path.resolve(__dirname, 'pg-server.sh');
const run = promisify(execFile);

let serverUrl: Promise<string | undefined> | undefined;
const children = new Set<ChildProcess>();
process.once('exit', () => children.forEach((child) => child.kill('SIGTERM')));
let noticeShown = false;
let counter = 0;

export async function testDatabase(name = 'test', options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const wanted = options.kind ?? (process.env.TOTES_TEST_PG === 'pglite' ? 'pglite' : undefined);
  if (wanted !== 'pglite') {
    serverUrl ??= findOrStartServer();
    const base = await serverUrl;
    if (base) return createDatabase(base, name);
    if (wanted === 'server') throw new Error('testDatabase: a PostgreSQL server was required but none could be started (see the notice above).');
  }
  // A copy of a ready-made data directory opens in a fraction of a second; initdb takes seconds.
  const dataDir = await mkdtemp(path.join(tmpdir(), 'totes-pglite-'));
  await cp(await pgliteTemplate(), dataDir, { recursive: true });
  const embedded = await embeddedPostgresProcess(dataDir, `test ${name}`);
  return {
    url: embedded.url,
    kind: 'pglite',
    async close() {
      await embedded.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A freshly initialised, closed PGlite data directory, built once per machine and PGlite version. */
async function pgliteTemplate(): Promise<string> {
  const version = (JSON.parse(readFileSync(path.join(path.dirname(require.resolve('@electric-sql/pglite')), '..', 'package.json'), 'utf8')) as { version: string }).version;
  const template = path.join(tmpdir(), `totes-pglite-template-${version}`);
  if (existsSync(path.join(template, 'PG_VERSION'))) return template;
  const building = `${template}.building-${process.pid}-${Date.now()}`;
  await (await embeddedPostgresProcess(building, 'template')).close();
  // Another worker may have finished first: its template is as good as ours.
  await rename(building, template).catch(() => rm(building, { recursive: true, force: true }));
  return template;
}

export interface EmbeddedPostgresProcess {
  readonly url: string;
  /** Closes PGlite (flushing the data directory) and waits for the process to exit. */
  close(): Promise<void>;
}

/**
 * `startEmbeddedPostgres` in a child process (test/support/embedded-postgres-process.ts): jest's VM
 * context cannot run PGlite in-process without --experimental-vm-modules.
 */
export async function embeddedPostgresProcess(dataDir: string, label: string): Promise<EmbeddedPostgresProcess> {
  const child = spawn(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, 'embedded-postgres-process.ts'), dataDir, label], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`embedded PostgreSQL "${label}" did not start within 60 s: ${stderr}`)), 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`embedded PostgreSQL "${label}" (${dataDir}) exited with code ${code} before serving: ${stderr.trim()}`));
    });
  });
  // The child closes when its stdin ends: if this process dies, the pipe closes and so does the child.
  children.add(child);
  void exited.then(() => children.delete(child));
  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= (async () => {
        child.stdin.end();
        const code = await exited;
        if (code !== 0) throw new Error(`embedded PostgreSQL "${label}" (${dataDir}) exited with code ${code} on close: ${stderr.trim()}`);
      })();
      return closing;
    },
  };
}

async function createDatabase(base: string, name: string): Promise<TestDatabase> {
  const database = `totes_${name.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 30)}_${process.pid}_${++counter}_${Date.now().toString(36)}`;
  const admin = new Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${database}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${database}`;
  let closed = false;
  return {
    url: url.toString(),
    kind: 'server',
    async close() {
      if (closed) return;
      closed = true;
      const dropper = new Client({ connectionString: base });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

/** The URL of a server for this worker: given, already started by this process, or started now. */
async function findOrStartServer(): Promise<string | undefined> {
  if (process.env.TOTES_TEST_PG_URL) return process.env.TOTES_TEST_PG_URL;
  // One server per worker process; test files of the same worker find it through this file.
  const envFile = path.join(tmpdir(), `totes-test-pg-${process.pid}.env`);
  if (existsSync(envFile)) {
    const known = parseEnv(readFileSync(envFile, 'utf8'));
    if (known.url && (await reachable(known.url))) return known.url;
  }
  try {
    const { stdout } = await run('bash', [SCRIPT, 'start', '--env-file', envFile], { timeout: 60_000 });
    const started = parseEnv(stdout);
    if (!started.url || !started.dir) throw new Error(`unexpected output: ${stdout}`);
    stopWhenProcessExits(started.dir);
    return started.url;
  } catch (error) {
    if (!noticeShown) {
      noticeShown = true;
      const reason = ((error as { stderr?: string }).stderr || (error as Error).message).trim().split('\n').pop();
      console.warn(`testDatabase: no PostgreSQL server (${reason}); falling back to embedded PGlite over a socket.`);
    }
    return undefined;
  }
}

/** A hot standby of the test server, for tests whose source is a read replica. */
export interface TestStandby {
  /** `db` on the standby: the same database, read-only, replayed from the server. */
  url(db: TestDatabase): string;
  /**
   * Resolves once the standby has replayed everything the server had inserted into its WAL when
   * called (the insert position: with synchronous_commit off a commit's record may not be written yet).
   */
  caughtUp(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Why a test that needs a PostgreSQL server (what PGlite cannot do: concurrent transactions) cannot
 * run here, or undefined: {@link testDatabase} will give a server when TOTES_TEST_PG_URL is set or
 * the server binaries are installed (pg-server.sh needs initdb and pg_ctl from `pg_config --bindir`).
 */
export function serverSkipReason(): string | undefined {
  if (process.env.TOTES_TEST_PG === 'pglite') return 'TOTES_TEST_PG=pglite: no PostgreSQL server';
  if (process.env.TOTES_TEST_PG_URL) return undefined;
  const probe = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const bin = probe.status === 0 ? probe.stdout.trim() : '';
  if (!bin || !existsSync(path.join(bin, 'initdb')) || !existsSync(path.join(bin, 'pg_ctl'))) return 'no PostgreSQL server binaries (initdb, pg_ctl); install the PostgreSQL 15 server';
  return undefined;
}

/**
 * Why {@link testStandby} cannot run here, or undefined: it needs the PostgreSQL server binaries
 * (pg_basebackup) and a test server this process can find the data directory of.
 */
export function standbySkipReason(): string | undefined {
  if (process.env.TOTES_TEST_PG === 'pglite') return 'TOTES_TEST_PG=pglite: no server to replicate';
  if (process.env.TOTES_TEST_PG_URL && !process.env.TOTES_TEST_PG_DIR) return 'TOTES_TEST_PG_URL is set without TOTES_TEST_PG_DIR (start the server with test/support/pg-server.sh, which exports both)';
  const probe = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (probe.status !== 0 || !existsSync(path.join(probe.stdout.trim(), 'pg_basebackup'))) return 'no pg_basebackup (install the PostgreSQL 15 server binaries)';
  return undefined;
}

/**
 * Starts a hot standby of the test server (test/support/pg-server.sh standby: a base backup, then
 * streaming replication; a few seconds). Every database of the server is on it.
 */
export async function testStandby(): Promise<TestStandby> {
  serverUrl ??= findOrStartServer();
  const primary = await serverUrl;
  const dir = process.env.TOTES_TEST_PG_URL ? process.env.TOTES_TEST_PG_DIR : parseEnv(readFileSync(path.join(tmpdir(), `totes-test-pg-${process.pid}.env`), 'utf8')).dir;
  if (!primary || !dir) throw new Error(`testStandby: no test server to replicate (${standbySkipReason() ?? 'none started'})`);
  const { stdout } = await run('bash', [SCRIPT, 'standby', dir], { timeout: 120_000 });
  const standbyUrl = /TOTES_TEST_STANDBY_URL=(\S+)/.exec(stdout)?.[1];
  const standbyDir = /TOTES_TEST_STANDBY_DIR=(\S+)/.exec(stdout)?.[1];
  if (!standbyUrl || !standbyDir) throw new Error(`testStandby: unexpected output of pg-server.sh standby: ${stdout}`);
  const query = async (url: string, sql: string, params: unknown[] = []): Promise<Record<string, unknown>> => {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows[0];
    } finally {
      await client.end();
    }
  };
  let closed = false;
  return {
    url(db) {
      const u = new URL(db.url);
      const s = new URL(standbyUrl);
      s.pathname = u.pathname;
      return s.toString();
    },
    async caughtUp() {
      const { lsn } = await query(primary, 'SELECT pg_current_wal_insert_lsn()::text AS lsn');
      for (let i = 0; ; i++) {
        const { replayed } = await query(standbyUrl, 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS replayed', [lsn]);
        if (replayed) return;
        if (i > 600) throw new Error(`testStandby: the standby has not replayed ${String(lsn)} after 60 s`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await run('bash', [SCRIPT, 'stop', standbyDir], { timeout: 60_000 });
    },
  };
}

function parseEnv(text: string): { url?: string; dir?: string } {
  return {
    url: /TOTES_TEST_PG_URL=(\S+)/.exec(text)?.[1],
    dir: /TOTES_TEST_PG_DIR=(\S+)/.exec(text)?.[1],
  };
}

async function reachable(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

/**
 * A detached watchdog stops the server once this process is gone. Exit handlers are not enough:
 * jest kills workers, and a crashed worker runs none.
 */
function stopWhenProcessExits(dir: string): void {
  const watchdog = spawn(
    'bash',
    ['-c', 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; bash "$2" stop "$3"; rm -f "$4"', 'watchdog',
      String(process.pid), SCRIPT, dir, path.join(tmpdir(), `totes-test-pg-${process.pid}.env`)],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
}
