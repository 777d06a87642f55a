import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, promises as fs, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { TrinoClient } from '../../functions/engines/trino/client';

/**
 * A real Trino server for tests: single node (coordinator and worker), bound to 127.0.0.1 on a
 * free port, with one Hive catalog `lake` whose file metastore lives in a temporary folder and
 * whose file system is the LOCAL disk rooted at `/`. So a lake folder the DuckDB engine reads at
 * `/tmp/x/processed/…` is `local:///tmp/x/processed/…` to Trino: both engines read the same files.
 *
 * Trino comes from Maven Central through `install-trino.sh` (cached in `.cache/trino/`) and runs
 * on Temurin 25. Start it once per test file (`beforeAll`), stop it in `afterAll`; it starts in
 * about 10 s on a 2-core machine. When Java 25 or the download is missing, {@link trinoUnavailable}
 * says why and the tests skip.
 */

export interface TrinoTestServer {
  url: string;
  catalog: string;
  /** A schema created for the caller, empty at start. */
  schema: string;
  /** Directory the catalog's `local:///` locations resolve against (always `/`). */
  localRoot: string;
  /** Milliseconds from spawning the JVM to the first answer with `starting: false`. */
  startMs: number;
  stop(): Promise<void>;
}

const ROOT = path.resolve(__dirname, '..', '..');
const JAVA_HOME = process.env.TRINO_JAVA_HOME ?? '/usr/lib/jvm/temurin-25-jdk-amd64';
const INSTALL_SCRIPT = path.join(ROOT, 'test', 'support', 'install-trino.sh');
const run = promisify(execFile);

let installing: Promise<string> | undefined;

/**
 * Why Trino cannot run here, or undefined when it can. Installs it on first use (idempotent;
 * a download of ~820 MB from Maven Central, trimmed to ~380 MB on disk).
 */
export async function trinoUnavailable(): Promise<string | undefined> {
  if (process.env.TOTES_SKIP_TRINO === '1') return 'TOTES_SKIP_TRINO=1';
  if (!existsSync(path.join(JAVA_HOME, 'bin', 'java'))) {
    return `no Java at ${JAVA_HOME} (Trino needs Java 24+; install Temurin 25 or set TRINO_JAVA_HOME)`;
  }
  try {
    await installTrino();
    return undefined;
  } catch (err) {
    return `Trino could not be installed into .cache/trino/ (${(err as Error).message.split('\n').slice(-3).join(' ')}); run bash test/support/install-trino.sh`;
  }
}

/**
 * Synchronous twin of {@link trinoUnavailable}, for choosing `describe` or `describe.skip` when a
 * test file loads: runs the installer (a no-op once installed) and says why Trino cannot run, or
 * returns undefined. Set TOTES_SKIP_TRINO=1 to skip without trying.
 */
export function trinoSkipReason(): string | undefined {
  if (process.env.TOTES_SKIP_TRINO === '1') return 'TOTES_SKIP_TRINO=1';
  if (!existsSync(path.join(JAVA_HOME, 'bin', 'java'))) {
    return `no Java at ${JAVA_HOME} (Trino needs Java 24+; install Temurin 25 or set TRINO_JAVA_HOME)`;
  }
  const result = spawnSync('bash', [INSTALL_SCRIPT], { encoding: 'utf8', timeout: 15 * 60_000 });
  if (result.status !== 0) {
    return `Trino could not be installed into .cache/trino/ (${(result.stderr || String(result.error ?? '')).trim().split('\n').slice(-2).join(' ')}); run bash test/support/install-trino.sh`;
  }
  return undefined;
}

/** Path of the installed Trino server (runs the installer once per process). */
export function installTrino(): Promise<string> {
  installing ??= run('bash', [INSTALL_SCRIPT], { maxBuffer: 1 << 20, timeout: 15 * 60_000 }).then(({ stdout }) => {
    const dir = stdout.trim().split('\n').pop() ?? '';
    if (!existsSync(path.join(dir, '.installed'))) throw new Error(`install-trino.sh printed no install directory (${stdout.slice(-200)})`);
    return dir;
  });
  return installing;
}

export interface StartTrinoOptions {
  /** Schema to create in the `lake` catalog for the caller (default `test`). */
  schema?: string;
  /** JVM heap (default 3G: a 2-core, 24 GB machine runs the suite's other servers beside it). */
  heap?: string;
  /** Give up when the server is not ready after this long (default 120 s). */
  timeoutMs?: number;
}

/** Starts a Trino server; call {@link trinoUnavailable} first and skip when it returns a reason. */
export async function startTrino(options: StartTrinoOptions = {}): Promise<TrinoTestServer> {
  const metastore = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-trino-metastore-'));
  const lake = {
    'connector.name': 'hive',
    'hive.metastore': 'file',
    'hive.metastore.catalog.dir': `local://${metastore}`,
    'fs.native-local.enabled': 'true',
    'local.location': '/',
    // The engine writes Parquet under locations it chooses (external tables), as on Athena.
    'hive.non-managed-table-writes-enabled': 'true',
    'hive.recursive-directories': 'true',
    'hive.max-partitions-per-writers': '100',
    'hive.storage-format': 'PARQUET',
    'hive.compression-codec': 'ZSTD',
  };
  const launched = await launchTrino({ catalogs: { lake }, heap: options.heap, timeoutMs: options.timeoutMs }).catch(async (err: unknown) => {
    await fs.rm(metastore, { recursive: true, force: true });
    throw err;
  });
  const stop = async (): Promise<void> => {
    await launched.stop();
    await fs.rm(metastore, { recursive: true, force: true }).catch(() => undefined);
  };
  const schema = options.schema ?? 'test';
  const server: TrinoTestServer = { url: launched.url, catalog: 'lake', schema, localRoot: '/', startMs: launched.startMs, stop };
  await statement(launched.url, `CREATE SCHEMA IF NOT EXISTS lake."${schema}"`);
  return server;
}

export interface LaunchTrinoOptions {
  /** Catalog name → its properties (`etc/catalog/<name>.properties`). */
  catalogs: Record<string, Record<string, string>>;
  /** Server properties added to (or overriding) the defaults of `config.properties`. */
  config?: Record<string, string>;
  /** JVM heap (default 3G). */
  heap?: string;
  /** Give up when the server is not ready after this long (default 120 s). */
  timeoutMs?: number;
}

export interface LaunchedTrino {
  url: string;
  /** Milliseconds from spawning the JVM to the first successful query. */
  startMs: number;
  /** The server's log file (kept until stop). */
  logFile: string;
  stop(): Promise<void>;
}

/**
 * Spawns a single-node Trino (coordinator and worker) on a free port of 127.0.0.1 with the given
 * catalogs, waits until it runs a query, and returns how to reach and stop it. A watchdog kills the
 * JVM if this process dies without calling stop. Used by {@link startTrino} and the offline cloud.
 */
export async function launchTrino(options: LaunchTrinoOptions): Promise<LaunchedTrino> {
  const install = await installTrino();
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-trino-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const catalogDir = path.join(work, 'catalog');
  await fs.mkdir(catalogDir, { recursive: true });
  await fs.mkdir(path.join(work, 'tmp'), { recursive: true });

  const config = {
    coordinator: 'true',
    'node-scheduler.include-coordinator': 'true',
    'http-server.http.port': String(port),
    'http-server.log.enabled': 'false',
    'discovery.uri': url,
    'node.environment': 'test',
    'node.id': `totes-test-${port}`,
    'node.bind-ip': '127.0.0.1',
    'node.internal-address': '127.0.0.1',
    'plugin.dir': path.join(install, 'plugin'),
    'catalog.config-dir': catalogDir,
    // Two cores: a couple of drivers per task is all the machine can use, and fewer threads start faster.
    'task.concurrency': '2',
    'task.max-worker-threads': '4',
    'query.max-memory': '1GB',
    'query.max-memory-per-node': '1GB',
    ...options.config,
  };
  await fs.writeFile(path.join(work, 'config.properties'), properties(config));
  for (const [name, catalog] of Object.entries(options.catalogs)) await fs.writeFile(path.join(catalogDir, `${name}.properties`), properties(catalog));

  const logFile = path.join(work, 'server.log');
  const log = createWriteStream(logFile);
  const started = Date.now();
  const child = spawn(
    path.join(JAVA_HOME, 'bin', 'java'),
    [
      `-Xmx${options.heap ?? '3G'}`,
      '-XX:+UseG1GC',
      '-XX:+ExitOnOutOfMemoryError',
      '-XX:ReservedCodeCacheSize=256M',
      '-XX:+EnableDynamicAgentLoading',
      '--enable-native-access=ALL-UNNAMED',
      '-Djdk.attach.allowAttachSelf=true',
      `-Djava.io.tmpdir=${path.join(work, 'tmp')}`,
      `-Dconfig=${path.join(work, 'config.properties')}`,
      '-cp',
      path.join(install, 'lib', '*'),
      'io.trino.server.TrinoServer',
    ],
    { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  // If this process dies without afterAll (a crash, a killed worker), the JVM must not outlive it.
  const watchdog = spawn('bash', ['-c', `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${child.pid} 2>/dev/null; do sleep 2; done; kill -9 ${child.pid} 2>/dev/null`], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();

  const stop = async (): Promise<void> => {
    await stopProcess(child);
    if (watchdog.exitCode === null) watchdog.kill();
    log.end();
    await fs.rm(work, { recursive: true, force: true }).catch(() => undefined);
  };

  try {
    await waitUntilReady(url, child, options.timeoutMs ?? 120_000, logFile);
  } catch (err) {
    await stopProcess(child);
    if (watchdog.exitCode === null) watchdog.kill();
    throw err;
  }
  return { url, startMs: Date.now() - started, logFile, stop };
}

function properties(values: Record<string, string>): string {
  return Object.entries(values).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitUntilReady(url: string, child: ChildProcess, timeoutMs: number, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? -1));
  while (Date.now() < deadline) {
    if (exited !== null) throw new Error(`Trino exited with code ${exited} while starting; log ${logFile}:\n${tail(logFile)}`);
    try {
      const res = await fetch(`${url}/v1/info`);
      // "Started" is not yet "can run a query": the worker may not have announced itself (a query
      // then fails with NO_NODES_AVAILABLE), so a first query must succeed too.
      if (res.ok && ((await res.json()) as { starting?: boolean }).starting === false) {
        await new TrinoClient({ url, user: 'totes' }).execute('SELECT 1', 'readiness check');
        return;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Trino at ${url} was not ready after ${timeoutMs} ms; log ${logFile}:\n${tail(logFile)}`);
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Runs one statement with the bare protocol (used only to prepare the server). */
async function statement(url: string, sql: string): Promise<void> {
  const headers = { 'X-Trino-User': 'totes' };
  let res = (await (await fetch(`${url}/v1/statement`, { method: 'POST', body: sql, headers })).json()) as { nextUri?: string; error?: { message: string } };
  while (res.nextUri && !res.error) res = (await (await fetch(res.nextUri, { headers })).json()) as typeof res;
  if (res.error) throw new Error(`Trino test server: ${sql} failed: ${res.error.message}`);
}
