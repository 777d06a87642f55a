import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { describeRequiring } from './requires';

/**
 * moto (a local AWS API emulator from PyPI) in server mode, for the integration tests under
 * test/integration/moto/. `bash test/support/install-moto.sh` installs it into .cache/venv-moto;
 * a `moto_server` on PATH works too (or MOTO_SERVER_BINARY). Without one, the suites skip and say why.
 */

const REPO = path.resolve(__dirname, '..', '..');
const VENV_BINARY = path.join(REPO, '.cache', 'venv-moto', 'bin', 'moto_server');
const LAUNCHER = path.join(REPO, 'test', 'cloud', 'moto_launcher.py');

/** The moto_server executable, or undefined when none is installed. */
export function motoServerBinary(): string | undefined {
  // MOTO_SERVER_BINARY overrides the search (an empty or missing path means "not installed").
  const override = process.env.MOTO_SERVER_BINARY;
  if (override !== undefined) return override && existsSync(override) ? override : undefined;
  if (existsSync(VENV_BINARY)) return VENV_BINARY;
  const which = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' });
  const found = which.status === 0 ? which.stdout.trim() : '';
  if (!found) return undefined;
  // A pyenv shim exists even when the active Python lacks moto: ask it.
  const probe = spawnSync(found, ['--help'], { encoding: 'utf8', timeout: 20_000 });
  return probe.status === 0 ? found : undefined;
}

const binary = motoServerBinary();

/**
 * `describe` when moto is installed; otherwise a skip that says how to install it (a failure in CI:
 * see requires.ts), so a missing moto never passes silently.
 */
export const describeIfMoto = ((name: string, fn: jest.EmptyFunction) =>
  describeRequiring(name, binary ? undefined : 'moto_server is not installed; run `bash test/support/install-moto.sh` (needs Python 3)', fn)) as (name: string, fn: jest.EmptyFunction) => void;

export interface MotoServer {
  endpoint: string;
  /** SDK client settings pointing at this server (region, dummy credentials, path-style S3). */
  clientConfig: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    forcePathStyle: boolean;
  };
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface MotoOptions {
  /**
   * Serve through test/cloud/moto_launcher.py, which patches the two gaps of moto 5.2.5 that the
   * deployed stack meets (aws:SecureTransport bucket-policy conditions, Glue column statistics);
   * the offline cloud uses it. Default false: plain moto_server.
   */
  patched?: boolean;
}

/** Starts moto_server on a free port of 127.0.0.1 and waits until it answers. */
export async function startMotoServer(options: MotoOptions = {}): Promise<MotoServer> {
  if (!binary) throw new Error('moto_server is not installed; run `bash test/support/install-moto.sh`');
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const args = ['-H', '127.0.0.1', '-p', String(port)];
  // moto_server's own venv holds the Python that has moto; the launcher runs under it.
  const command = options.patched ? path.join(path.dirname(binary), 'python') : binary;
  if (options.patched && !existsSync(command)) throw new Error(`No python beside ${binary}; the patched launcher needs moto's own venv (bash test/support/install-moto.sh)`);
  const child: ChildProcess = spawn(command, options.patched ? [LAUNCHER, ...args] : args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with code ${child.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.status < 500) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`moto_server did not answer on ${endpoint} within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    clientConfig: {
      endpoint,
      region: 'eu-west-2',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      forcePathStyle: true,
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
