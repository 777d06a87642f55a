import pg from 'pg';
import { isPglite, openConnection } from './database-connection';
import type { DatabaseLocator } from './ports/source';

/**
 * PostgreSQL connections kept between the runs of one process: whatever runs stages again and
 * again (`totes run --every`, the bench's warm cycles, a warm Lambda container) keeps the
 * connections its stages closed, so the next run skips the connect (2–5 ms) and finds the
 * server's catalog caches warm.
 *
 * A connection is kept only when nothing of the run is left on it: idle and outside a transaction
 * (every setting the stages make is local to a transaction, their temporary tables drop on
 * commit), never failed or ended, never on PGlite (it serves one connection at a time: one kept
 * would lock out every other client of that database). A kept connection is checked with a
 * round trip before it is handed out again when it sat idle a while, and one that fails the check
 * (the server restarted, an idle timeout, a network that dropped it) is closed and replaced by a
 * new one: a broken connection is never used twice. Connections are kept by (URL, application
 * name), so a rotated secret's new URL opens new ones, and the old URL's are closed.
 */
export class ConnectionPool {
  private readonly idle = new Map<string, { client: pg.Client; since: number }[]>();
  private readonly keys = new WeakMap<pg.Client, string>();
  private readonly broken = new WeakSet<pg.Client>();
  private closed = false;

  constructor(
    private readonly options: {
      /** Connections kept per (URL, application name) at most. */
      maxIdlePerKey?: number;
      /** A kept connection idle longer than this is checked with a round trip before its use (ms). */
      checkAfterIdleMs?: number;
      /** How long that check may take before the connection counts as broken (ms). */
      checkTimeoutMs?: number;
    } = {},
  ) {}

  /** A kept connection of that database and purpose, checked, or a new one ({@link openConnection}). */
  async acquire(locator: DatabaseLocator, options: { what: string; applicationName: string; hint: string }): Promise<pg.Client> {
    const url = await locator.url();
    const key = `${options.applicationName}\u0000${url}`;
    if (!this.closed) {
      // A secret rotated: the old URL's connections of this purpose are not used again.
      for (const [other, list] of this.idle) {
        if (other !== key && other.startsWith(`${options.applicationName}\u0000`)) {
          this.idle.delete(other);
          for (const { client } of list) await client.end().catch(() => undefined);
        }
      }
      const list = this.idle.get(key) ?? [];
      for (let held = list.pop(); held; held = list.pop()) {
        if (await this.usable(held.client, Date.now() - held.since)) return held.client;
        destroy(held.client);
      }
    }
    const client = await openConnection({ url: async () => url, close: async () => undefined, description: locator.description }, options);
    this.keys.set(client, key);
    const markBroken = () => this.broken.add(client);
    client.on('error', markBroken);
    client.on('end', markBroken);
    return client;
  }

  /**
   * Gives a connection back: kept when nothing of its run is left on it (idle, outside a
   * transaction, not failed, not PGlite, the pool open), closed otherwise.
   */
  async release(client: pg.Client): Promise<void> {
    const key = this.keys.get(client);
    if (key === undefined || !(await this.keepable(client))) {
      await client.end().catch(() => undefined);
      return;
    }
    const list = this.idle.get(key) ?? [];
    if (list.length >= (this.options.maxIdlePerKey ?? 8)) {
      await client.end().catch(() => undefined);
      return;
    }
    list.push({ client, since: Date.now() });
    this.idle.set(key, list);
  }

  /** Closes a connection that must not be used again (a failure in the middle of a COPY) at once. */
  discard(client: pg.Client): void {
    this.broken.add(client);
    destroy(client);
  }

  /** Closes every kept connection; connections given back later are closed, not kept. */
  async close(): Promise<void> {
    this.closed = true;
    const lists = [...this.idle.values()];
    this.idle.clear();
    for (const list of lists) for (const { client } of list) await client.end().catch(() => undefined);
  }

  /** Connections kept now (for tests). */
  get size(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }

  private async keepable(client: pg.Client): Promise<boolean> {
    if (this.closed || this.broken.has(client) || !queryable(client)) return false;
    if (client.getTransactionStatus() !== 'I') return false;
    try {
      // Cached per connection (database-connection.ts): a round trip the first time only.
      if (await isPglite(client)) return false;
    } catch {
      return false;
    }
    // The check above is a query: the connection may have failed during it.
    return !this.closed && !this.broken.has(client) && queryable(client) && client.getTransactionStatus() === 'I';
  }

  private async usable(client: pg.Client, idleMs: number): Promise<boolean> {
    if (this.broken.has(client) || !queryable(client)) return false;
    if (idleMs < (this.options.checkAfterIdleMs ?? 1000)) return true;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the check of a kept connection timed out')), this.options.checkTimeoutMs ?? 5000);
      });
      await Promise.race([client.query('SELECT 1'), timeout]);
      return !this.broken.has(client) && client.getTransactionStatus() === 'I';
    } catch {
      this.broken.add(client);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** What a stage opens its connections through: the context's pool when it has one. */
export interface HoldsConnections {
  connections?: ConnectionPool;
}

/** A connection from the context's pool, or a new one of its own when it has none. */
export function acquireConnection(
  ctx: HoldsConnections,
  locator: DatabaseLocator,
  options: { what: string; applicationName: string; hint: string },
): Promise<pg.Client> {
  return ctx.connections ? ctx.connections.acquire(locator, options) : openConnection(locator, options);
}

/** Gives back a connection of {@link acquireConnection}: kept by the pool when it can be, closed otherwise. */
export async function releaseConnection(ctx: HoldsConnections, client: pg.Client): Promise<void> {
  if (ctx.connections) await ctx.connections.release(client);
  else await client.end().catch(() => undefined);
}

/** Drops a connection at once, whatever it is in the middle of; a pool never hands it out again. */
export function discardConnection(ctx: HoldsConnections, client: pg.Client): void {
  if (ctx.connections) ctx.connections.discard(client);
  else destroy(client);
}

function queryable(client: pg.Client): boolean {
  const c = client as unknown as { _queryable?: boolean; _ending?: boolean; _connected?: boolean; _activeQuery?: unknown; _queryQueue?: unknown[] };
  return c._queryable !== false && c._ending !== true && c._connected !== false && !c._activeQuery && (c._queryQueue?.length ?? 0) === 0;
}

/** Drops the socket under a pg client at once, whatever it is in the middle of. */
function destroy(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
