import {
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  type AthenaClient,
  type QueryExecution,
} from '@aws-sdk/client-athena';
import { errorName, retryWithBackoff, sleep, type BackoffOptions } from '../../aws/retry-with-backoff';
import { METRICS } from '../../core/contract/runtime-contract';
import type { Log } from '../../core/ports/log';

/**
 * Athena's API as the engine uses it: start a statement in the workgroup, poll it with backoff
 * until it ends, page through its results. Throttled calls are retried with backoff, and a query
 * whose failure Athena marks retryable is run again; a FAILED or CANCELLED query (or one stopped
 * after the timeout) raises {@link AthenaQueryError} naming Athena's reason, the SQL file and the
 * batch, and counts as `QueryFailed`.
 */

export interface AthenaClientOptions {
  athena: AthenaClient;
  workgroup: string;
  /** The query context: the processed database, and the catalog when it is not Glue's default. */
  database: string;
  catalog?: string;
  log: Log;
  /** Polling of a running query: first delay, growing ×1.5 up to the maximum. */
  pollInitialMs?: number;
  pollMaxMs?: number;
  /** A query still running after this long is stopped and reported (Lambda allows 15 minutes). */
  queryTimeoutMs?: number;
  /** Backoff for throttled starts and for queries that fail with a retryable error. */
  retry?: Partial<BackoffOptions>;
  sleep?: (ms: number) => Promise<void>;
}

/** A query that Athena reported FAILED or CANCELLED (or that we stopped after the timeout). */
export class AthenaQueryError extends Error {
  constructor(
    message: string,
    readonly queryExecutionId: string,
    readonly state: string,
    readonly reason: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'AthenaQueryError';
  }
}

/** What a statement is for, in error messages: the SQL file and the batch. */
export interface StatementContext {
  origin: string;
  batchId?: string;
  table?: string;
}

export interface Execution {
  id: string;
  bytesScanned: number;
  elapsedMs: number;
}

/** A SELECT's column metadata and raw string rows (header row dropped). */
export interface SelectResult {
  columns: { name: string; type: string }[];
  rows: (string | undefined)[][];
  execution: Execution;
}

const START_RETRYABLE = new Set(['TooManyRequestsException', 'ThrottlingException', 'InternalServerException', 'ServiceUnavailableException']);

export class AthenaQueryClient {
  readonly retry: BackoffOptions;

  constructor(private readonly options: AthenaClientOptions) {
    this.retry = { attempts: 6, baseDelayMs: 1000, maxDelayMs: 20_000, sleep: options.sleep, ...options.retry };
  }

  /** Runs a SELECT and returns its column metadata and raw string rows, across result pages. */
  async select(sql: string, context: StatementContext): Promise<SelectResult> {
    const execution = await this.execute(sql, context);
    const columns: { name: string; type: string }[] = [];
    const rows: (string | undefined)[][] = [];
    let token: string | undefined;
    let first = true;
    do {
      const page = await retryWithBackoff(
        () => this.options.athena.send(new GetQueryResultsCommand({ QueryExecutionId: execution.id, NextToken: token })),
        isStartRetryable,
        this.retry,
      );
      if (first) {
        for (const c of page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []) columns.push({ name: c.Name ?? c.Label ?? '', type: c.Type ?? 'varchar' });
      }
      const pageRows = (page.ResultSet?.Rows ?? []).map((r) => (r.Data ?? []).map((d) => d.VarCharValue));
      // The first row of a SELECT's first page repeats the column names.
      rows.push(...(first ? pageRows.slice(1) : pageRows));
      first = false;
      token = page.NextToken;
    } while (token);
    return { columns, rows, execution };
  }

  /** A SELECT's rows as objects, each value typed as its column declares, and its execution (bytes scanned). */
  async rows(sql: string, context: StatementContext): Promise<{ rows: Record<string, unknown>[]; execution: Execution }> {
    const { columns, rows, execution } = await this.select(sql, context);
    return { rows: rows.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, convert(row[i], c.type)]))), execution };
  }

  /** Rows a CTAS or INSERT wrote (Athena's UpdateCount). */
  async updateCount(id: string, context: StatementContext): Promise<number> {
    const res = await retryWithBackoff(
      () => this.options.athena.send(new GetQueryResultsCommand({ QueryExecutionId: id, MaxResults: 1 })),
      isStartRetryable,
      this.retry,
    );
    if (res.UpdateCount === undefined) throw new Error(`Athena reported no row count for query ${id} (${context.origin}, batch ${context.batchId})`);
    return Number(res.UpdateCount);
  }

  /** Starts a statement and waits for it, re-running it when Athena says its failure is retryable. */
  async execute(sql: string, context: StatementContext): Promise<Execution> {
    return retryWithBackoff(
      async () => {
        const id = await this.start(sql);
        return this.wait(id, context);
      },
      (err) => err instanceof AthenaQueryError && err.retryable,
      { ...this.retry, attempts: 3, onRetry: (err, attempt) => this.options.log.warn('Athena query failed with a retryable error; running it again', { ...context, attempt, error: (err as Error).message }) },
    );
  }

  private async start(sql: string): Promise<string> {
    const res = await retryWithBackoff(
      () =>
        this.options.athena.send(
          new StartQueryExecutionCommand({
            QueryString: sql,
            WorkGroup: this.options.workgroup,
            QueryExecutionContext: { Database: this.options.database, Catalog: this.options.catalog },
          }),
        ),
      isStartRetryable,
      { ...this.retry, onRetry: (err, attempt, delayMs) => this.options.log.warn('Athena throttled a query start; backing off', { attempt, delayMs, error: errorName(err) }) },
    );
    if (!res.QueryExecutionId) throw new Error('Athena started a query but returned no QueryExecutionId');
    return res.QueryExecutionId;
  }

  private async wait(id: string, context: StatementContext): Promise<Execution> {
    const wait = this.options.sleep ?? sleep;
    const timeoutMs = this.options.queryTimeoutMs ?? 13 * 60_000;
    const started = Date.now();
    let delay = this.options.pollInitialMs ?? 250;
    for (;;) {
      const res = await retryWithBackoff(() => this.options.athena.send(new GetQueryExecutionCommand({ QueryExecutionId: id })), isStartRetryable, this.retry);
      const execution = res.QueryExecution;
      const state = execution?.Status?.State;
      if (state === 'SUCCEEDED') {
        return {
          id,
          bytesScanned: execution?.Statistics?.DataScannedInBytes ?? 0,
          elapsedMs: execution?.Statistics?.EngineExecutionTimeInMillis ?? 0,
        };
      }
      if (state === 'FAILED' || state === 'CANCELLED') throw this.failure(id, state, execution, context);
      if (Date.now() - started > timeoutMs) {
        await this.options.athena.send(new StopQueryExecutionCommand({ QueryExecutionId: id })).catch(() => undefined);
        throw this.failure(id, 'TIMED OUT', execution, context, `still ${state ?? 'unknown'} after ${Math.round(timeoutMs / 1000)} s; stopped`);
      }
      await wait(delay);
      delay = Math.min(Math.round(delay * 1.5), this.options.pollMaxMs ?? 5000);
    }
  }

  private failure(id: string, state: string, execution: QueryExecution | undefined, context: StatementContext, reason?: string): AthenaQueryError {
    const why = reason ?? execution?.Status?.StateChangeReason ?? execution?.Status?.AthenaError?.ErrorMessage ?? 'no reason given';
    const retryable = execution?.Status?.AthenaError?.Retryable === true;
    // No extra dimension: the alarm watches the one series of all failed queries.
    this.options.log.metric(METRICS.queryFailed, 1, 'Count');
    const batch = context.batchId ? ` of batch ${context.batchId}` : '';
    return new AthenaQueryError(
      `Athena query for ${context.origin}${batch} ${state}: ${why}. Query ${id} in workgroup ${this.options.workgroup}; ` +
        'fix the SQL file (or see the query in the Athena console) and run the transform again.',
      id,
      state,
      why,
      retryable,
    );
  }
}

function isStartRetryable(err: unknown): boolean {
  const name = errorName(err);
  return name !== undefined && START_RETRYABLE.has(name);
}

/** An Athena result value (always text) as the type its column declares. */
function convert(value: string | undefined, type: string): unknown {
  if (value === undefined) return null;
  switch (type) {
    case 'tinyint':
    case 'smallint':
    case 'integer':
    case 'double':
    case 'float':
    case 'real':
      return Number(value);
    case 'bigint': {
      const n = Number(value);
      return Number.isSafeInteger(n) ? n : BigInt(value);
    }
    case 'boolean':
      return value === 'true';
    default:
      return value;
  }
}
