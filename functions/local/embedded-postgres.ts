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
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { DatabaseLocator } from '../core/ports/source';

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
  let db: PGlite;
  try {
    if (!inMemory) await mkdir(where, { recursive: true });
    db = await PGlite.create(inMemory ? undefined : where);
  } catch (error) {
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
        await server.stop();
        await db.close();
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
