import { z } from 'zod';

/**
 * A small client of Trino's REST protocol (https://trino.io/docs/current/develop/client-protocol.html):
 * POST the statement to `/v1/statement`, then GET each `nextUri` until there is none, collecting
 * `columns` and `data` on the way. Node's own `fetch`; no driver dependency.
 *
 * Values arrive as Trino encodes them in JSON: integers and booleans as JSON values, `decimal`,
 * `date`, `time` and `timestamp` as their canonical text ('12.30', '2024-01-31', '14:20:49.000').
 * They are returned as given, so a comparison sees exactly what Trino computed.
 */

export interface TrinoClientOptions {
  /** Coordinator URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** `X-Trino-User`; Trino requires one even without authentication. */
  user?: string;
  catalog?: string;
  schema?: string;
  /**
   * Session time zone. UTC by default, as on Athena: `format_datetime` of a timestamp without time
   * zone goes through the session zone, and a wall-clock time that a DST change skips would move.
   */
  timeZone?: string;
  /** Session properties sent with every statement (`X-Trino-Session`). */
  session?: Record<string, string>;
  /** Give up on one statement after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Called after every statement that completed (for logs, metrics and slow-statement reports). */
  onStatement?: (event: { context: string; queryId: string; elapsedMs: number; processedBytes: number }) => void;
}

export interface TrinoColumn {
  name: string;
  type: string;
}

export interface TrinoResult {
  queryId: string;
  columns: TrinoColumn[];
  rows: unknown[][];
  /** Rows inserted/created by a write (`updateCount`), when Trino reports it. */
  updateCount?: number;
  updateType?: string;
  processedBytes: number;
  /** Bytes read from storage (`physicalInputBytes`; Athena's `DataScannedInBytes` is this); `processedBytes` where Trino does not report it. */
  physicalInputBytes: number;
  elapsedMs: number;
}

const errorSchema = z.object({
  message: z.string(),
  errorCode: z.number().optional(),
  errorName: z.string().optional(),
  errorType: z.string().optional(),
  errorLocation: z.object({ lineNumber: z.number(), columnNumber: z.number() }).optional(),
});

const responseSchema = z.object({
  id: z.string(),
  nextUri: z.string().optional(),
  columns: z.array(z.object({ name: z.string(), type: z.string() })).optional(),
  data: z.array(z.array(z.unknown())).optional(),
  stats: z
    .object({ state: z.string(), processedBytes: z.number().optional(), physicalInputBytes: z.number().optional(), elapsedTimeMillis: z.number().optional() })
    .passthrough(),
  error: errorSchema.optional(),
  updateType: z.string().optional(),
  updateCount: z.number().optional(),
});

/** A statement Trino rejected or failed, with Trino's own message and where in the SQL it points. */
export class TrinoQueryError extends Error {
  constructor(
    message: string,
    readonly errorName: string | undefined,
    readonly queryId: string | undefined,
    readonly sql: string,
  ) {
    super(message);
    this.name = 'TrinoQueryError';
  }
}

export class TrinoClient {
  private readonly base: string;

  constructor(private readonly options: TrinoClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  /**
   * Runs one statement to completion and returns all of its rows. A statement refused with
   * NO_NODES_AVAILABLE never started (a server just up has not yet registered its worker for the
   * catalog), so it is sent again, for up to a minute.
   */
  async execute(sql: string, context = 'Trino statement'): Promise<TrinoResult> {
    const giveUp = Date.now() + 60_000;
    for (;;) {
      try {
        return await this.executeOnce(sql, context);
      } catch (err) {
        if (!(err instanceof TrinoQueryError) || err.errorName !== 'NO_NODES_AVAILABLE' || Date.now() > giveUp) throw err;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  private async executeOnce(sql: string, context: string): Promise<TrinoResult> {
    const started = Date.now();
    const deadline = started + (this.options.timeoutMs ?? 600_000);
    let page = await this.request('POST', `${this.base}/v1/statement`, sql, context, deadline);
    const columns: TrinoColumn[] = [];
    const rows: unknown[][] = [];
    for (;;) {
      if (page.columns && columns.length === 0) columns.push(...page.columns);
      if (page.data) rows.push(...page.data);
      if (page.error) {
        const e = page.error;
        const where = e.errorLocation ? ` at line ${e.errorLocation.lineNumber}, column ${e.errorLocation.columnNumber}` : '';
        throw new TrinoQueryError(
          `${context} failed on Trino (${e.errorName ?? e.errorType ?? 'error'}${where}, query ${page.id}): ${e.message}`,
          e.errorName,
          page.id,
          sql,
        );
      }
      if (!page.nextUri) {
        this.options.onStatement?.({ context, queryId: page.id, elapsedMs: Date.now() - started, processedBytes: page.stats.processedBytes ?? 0 });
        return {
          queryId: page.id,
          columns,
          rows,
          updateCount: page.updateCount,
          updateType: page.updateType,
          processedBytes: page.stats.processedBytes ?? 0,
          physicalInputBytes: page.stats.physicalInputBytes ?? page.stats.processedBytes ?? 0,
          elapsedMs: Date.now() - started,
        };
      }
      if (Date.now() > deadline) {
        await fetch(page.nextUri, { method: 'DELETE', headers: this.headers() }).catch(() => undefined);
        throw new TrinoQueryError(`${context} timed out on Trino after ${Date.now() - started} ms (query ${page.id}); it was cancelled`, 'TIMEOUT', page.id, sql);
      }
      page = await this.request('GET', page.nextUri, undefined, context, deadline);
    }
  }

  /** Runs a query and returns its rows as objects keyed by column name. */
  async query(sql: string, context?: string): Promise<Record<string, unknown>[]> {
    const result = await this.execute(sql, context);
    return result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c.name, row[i]])));
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = {
      'X-Trino-User': this.options.user ?? 'totes',
      'X-Trino-Source': 'totes-lake',
      'X-Trino-Time-Zone': this.options.timeZone ?? 'UTC',
    };
    if (this.options.catalog) h['X-Trino-Catalog'] = this.options.catalog;
    if (this.options.schema) h['X-Trino-Schema'] = this.options.schema;
    const session = Object.entries(this.options.session ?? {});
    if (session.length > 0) h['X-Trino-Session'] = session.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join(',');
    return h;
  }

  /**
   * One protocol request. Trino answers 502/503/504 while busy or starting: the protocol says to
   * retry those after a short wait, so they are retried until the deadline.
   */
  private async request(method: 'POST' | 'GET', url: string, body: string | undefined, context: string, deadline: number): Promise<z.infer<typeof responseSchema>> {
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(url, { method, body, headers: { ...this.headers(), ...(body ? { 'Content-Type': 'text/plain; charset=utf-8' } : {}) } });
      } catch (err) {
        throw new Error(`${context}: cannot reach Trino at ${this.base} (${(err as Error).message}); is the server running and --trino-url right?`, { cause: err });
      }
      if ([502, 503, 504].includes(response.status) && Date.now() < deadline) {
        await response.body?.cancel();
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 1000)));
        continue;
      }
      const text = await response.text();
      if (!response.ok) {
        throw new Error(`${context}: Trino at ${this.base} answered HTTP ${response.status}: ${text.slice(0, 500)}`);
      }
      const parsed = responseSchema.safeParse(JSON.parse(text));
      if (!parsed.success) throw new Error(`${context}: unexpected response from Trino at ${this.base}: ${parsed.error.message}`);
      return parsed.data;
    }
  }
}
