import pg from 'pg';
import type { DatabaseLocator } from './ports/source';

/**
 * Opens one `pg` connection to a database the pipeline reads or writes (totesys, the warehouse),
 * with the two things every stage needs: an error listener, so a connection the server drops while
 * idle fails the next query instead of crashing the process, and a connect error that names the
 * database and says what to check.
 */
export async function openConnection(
  locator: DatabaseLocator,
  options: { what: string; applicationName: string; hint: string },
): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: await locator.url(), application_name: options.applicationName });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new Error(`Cannot connect to ${options.what} at ${locator.description}: ${(err as Error).message}. ${options.hint}`, { cause: err });
  }
  return client;
}

const pgliteConnections = new WeakMap<pg.Client, boolean>();

/** Records what a connection is when known otherwise (a reader of a server that exported a snapshot: not PGlite). */
export function rememberPglite(client: pg.Client, pglite: boolean): void {
  pgliteConnections.set(client, pglite);
}

/** What `version()` says on PGlite and never on a PostgreSQL server (a case-insensitive regular expression, for JS and SQL `~*`). */
export const PGLITE_VERSION_PATTERN = 'emscripten|wasm|pglite';

/**
 * PGlite (one connection at a time, no COPY FROM STDIN over its socket) or a real PostgreSQL server.
 * Asked once per connection: a connection kept between runs (connection-pool.ts) answers again
 * without a round trip.
 */
export async function isPglite(client: pg.Client): Promise<boolean> {
  const known = pgliteConnections.get(client);
  if (known !== undefined) return known;
  const res = await client.query<{ version: string }>('SELECT version() AS version');
  const pglite = new RegExp(PGLITE_VERSION_PATTERN, 'i').test(res.rows[0].version);
  pgliteConnections.set(client, pglite);
  return pglite;
}
