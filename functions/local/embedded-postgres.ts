/**
 * Local PostgreSQL with nothing installed: PGlite (PostgreSQL compiled to WebAssembly, in this
 * process) persisted in a data directory and served on 127.0.0.1 over the wire protocol, so the
 * pipeline talks to it with `pg` exactly as it talks to totesys on RDS or to the warehouse.
 *
 * What works over the socket (checked with pg 8 against PGlite 0.5.14 + pglite-socket 0.2.17):
 * `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`, parameterised queries, DECLARE/FETCH cursors,
 * `COPY (SELECT …) TO STDOUT` (pg-copy-streams), one client after another. What does not:
 * `COPY … FROM STDIN` desynchronises the protocol and kills the connection ("protocol synchronization
 * was lost") — write with `INSERT … SELECT FROM unnest($1::int[], …)` instead.
 *
 * PGlite is a single session. The socket server multiplexes clients onto it statement by statement,
 * and while one client is inside a transaction the statements of every other client wait. So clients
 * may overlap, but: never make a client inside a transaction wait on another client (that deadlocks),
 * and do not rely on session state (SET, temporary tables, prepared statement names) being private.
 * The pipeline uses one connection at a time, which is always safe.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { DatabaseLocator } from '../core/ports/source';
import { processIsAlive } from '../core/process-liveness';

/** Pass as `dataDir` for a throwaway database that lives only in memory (tests). */
export const IN_MEMORY = 'memory://';

export interface EmbeddedPostgresOptions {
  /**
   * Clients the socket accepts at once (default 8). pglite-socket's own default of 1 answers a
   * second client with a bare "Too many connections" that pg reports as "Connection terminated
   * unexpectedly", and a client that reconnects quickly can race the server's cleanup of its old socket.
   */
  readonly maxConnections?: number;
}

export interface EmbeddedPostgres extends DatabaseLocator {
  /** The TCP port on 127.0.0.1 the server listens on. */
  readonly port: number;
  /** The persisted data directory, or `memory://`. */
  readonly dataDir: string;
}

/**
 * Opens (creating if needed) the PGlite database in `dataDir` and serves it on 127.0.0.1 on a free
 * port. `close()` disconnects clients, stops the server and closes PGlite, which flushes the data
 * directory: a process that exits without `close()` may lose its last writes.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  label: string,
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgres> {
  const inMemory = dataDir === IN_MEMORY;
  const where = inMemory ? 'memory' : path.resolve(dataDir);
  // Loaded on first use: PGlite costs ~200 ms to load, which a run against real servers never needs.
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')]);
  let db: Awaited<ReturnType<typeof PGlite.create>>;
  const release = inMemory ? () => undefined : await lockDataDir(where, label);
  try {
    if (!inMemory) await mkdir(where, { recursive: true });
    db = await PGlite.create(inMemory ? undefined : where);
  } catch (error) {
    release();
    throw new Error(
      `Could not open the embedded PostgreSQL "${label}" in ${where}: ${(error as Error).message}. ` +
        'Is another totes process using this data directory? Stop it, or move the directory aside to start afresh.',
      { cause: error },
    );
  }
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: options.maxConnections ?? 8 });
  try {
    await server.start();
  } catch (error) {
    await db.close().catch(() => undefined);
    release();
    throw new Error(`Could not serve the embedded PostgreSQL "${label}" on 127.0.0.1: ${(error as Error).message}`, { cause: error });
  }
  const port = Number(server.getServerConn().split(':').pop());
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let closing: Promise<void> | undefined;
  return {
    port,
    dataDir: inMemory ? IN_MEMORY : where,
    description: `embedded PostgreSQL "${label}" (PGlite, ${where}) on 127.0.0.1:${port}`,
    async url() {
      if (closing) throw new Error(`The embedded PostgreSQL "${label}" (${where}) is closed; start it again to connect.`);
      return url;
    },
    close() {
      closing ??= (async () => {
        try {
          await server.stop();
          await db.close();
        } finally {
          release();
        }
      })();
      return closing;
    },
  };
}

/** A database someone else runs, reached by URL: `close()` does nothing; the description hides the password. */
export function urlLocator(url: string): DatabaseLocator {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('The database URL is not a valid URL: expected postgres://user[:password]@host[:port]/database');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new Error(`The database URL has protocol "${parsed.protocol}": expected postgres://user[:password]@host[:port]/database`);
  }
  if (parsed.password) parsed.password = '***';
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
  const description = parsed.toString();
  return {
    description,
    async url() {
      return url;
    },
    async close() {},
  };
}

/**
 * PGlite is a single-process database: two processes opening one data directory corrupt it. A lock
 * file beside the directory (`<dir>.lock`, holding the owner's pid) makes a second `totes` process
 * stop with a clear message instead; a lock left by a process that no longer exists is taken over.
 */
async function lockDataDir(dir: string, label: string): Promise<() => void> {
  const lockPath = `${dir}.lock`;
  await mkdir(path.dirname(lockPath), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, `${process.pid}\n`, { flag: 'wx' });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        rmSync(lockPath, { force: true });
      };
      process.on('exit', release);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(lockPath, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processIsAlive(owner)) {
        throw new Error(
          `The embedded PostgreSQL "${label}" in ${dir} is in use by another totes process (pid ${owner}). ` +
            'Wait for it to finish or stop it; embedded databases serve one process at a time (give --source-url/--warehouse-url to share a real server).',
        );
      }
      rmSync(lockPath, { force: true }); // stale: its owner is gone
    }
  }
  throw new Error(`Could not lock the embedded PostgreSQL "${label}" in ${dir} (${lockPath})`);
}

