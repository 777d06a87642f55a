import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * A throwaway PostgreSQL server with TLS and its own CA (`test/support/pg-server.sh start --tls`):
 * what a database outside RDS looks like to the Lambdas. Plain connections are allowed too, so
 * a test can seed and inspect it through `url` without TLS.
 */
export interface TlsPostgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`, no sslmode (trust auth: any password works). */
  url: string;
  host: '127.0.0.1';
  port: number;
  /** The throwaway CA that signed the server certificate (for 127.0.0.1 and localhost). */
  caFile: string;
  caPem: string;
  /** The server's directory (data, certificates, log); deleted by `stop`. */
  dir: string;
  stop(): Promise<void>;
}

const SCRIPT = path.resolve(__dirname, '..', 'support', 'pg-server.sh');
const run = promisify(execFile);

/** True when PostgreSQL server binaries are installed (pg_config points at initdb and pg_ctl). */
export function postgresServerAvailable(): boolean {
  const probe = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  return probe.status === 0 && spawnSync('test', ['-x', path.join(probe.stdout.trim(), 'initdb')]).status === 0;
}

/** Starts the server (about two to five seconds); `stop()` stops it and deletes its directory. */
export async function startTlsPostgres(): Promise<TlsPostgres> {
  const scratch = mkdtempSync(path.join(tmpdir(), 'totes-tls-pg-env-'));
  const envFile = path.join(scratch, 'env');
  try {
    await run('bash', [SCRIPT, 'start', '--tls', '--env-file', envFile], { timeout: 120_000 });
    const env = Object.fromEntries(
      readFileSync(envFile, 'utf8')
        .split('\n')
        .map((line) => /^export (\w+)=(.*)$/.exec(line))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1], m[2]]),
    );
    const url = env.TOTES_TEST_PG_URL;
    const dir = env.TOTES_TEST_PG_DIR;
    const caFile = env.TOTES_TEST_PG_CA_FILE;
    if (!url || !dir || !caFile) throw new Error(`pg-server.sh start --tls wrote no URL, directory or CA file: ${JSON.stringify(env)}`);
    let stopped = false;
    return {
      url,
      host: '127.0.0.1',
      port: Number(new URL(url).port),
      caFile,
      caPem: readFileSync(caFile, 'utf8'),
      dir,
      async stop() {
        if (stopped) return;
        stopped = true;
        await run('bash', [SCRIPT, 'stop', dir], { timeout: 60_000 });
      },
    };
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`Could not start a TLS PostgreSQL with test/support/pg-server.sh start --tls: ${e.stderr?.trim() || e.message}`, { cause: err });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
