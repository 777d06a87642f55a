import {
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  type AthenaClient,
  type QueryExecution,
} from '@aws-sdk/client-athena';
import { BatchDeleteTableCommand, CreateTableCommand, GetTablesCommand, type Column, type GlueClient, type TableInput } from '@aws-sdk/client-glue';
import { GetTableCommand } from '@aws-sdk/client-glue';
import { randomBytes } from 'node:crypto';
import { METRICS } from '../../core/contract/runtime-contract';
import { sourceTable, type SourceTableName } from '../../core/contract/source-tables';
import { factTablePrefix, parseFactBatchPrefix } from '../../core/lake/lake-layout';
import type { Log } from '../../core/ports/log';
import { quoteLakeIdent } from '../../core/sql/sql-text';
import type { ObjectStore } from '../../core/ports/object-store';
import { currentSegments, type QueryEngine, type QueryStats, type RelationBindings, type WriteTarget } from '../../core/ports/query-engine';
import { latestVersionsSql } from '../../core/transform/current-state';
import {
  batchRelation,
  partitionValuesQuery,
  planWrite,
  qualifiedTable,
  rawRelation,
  tableRelation,
  unionRelation,
  withRelations,
  type BoundRelation,
  type PartitionValues,
  type SqlNamespace,
} from '../trino/relations';
import { FACT_PARTITION_KEY, parquetStorage, processedColumns, isProcessedTable } from '../../aws/glue-table-input';
import { errorName, retryWithBackoff, sleep, type BackoffOptions } from '../../aws/retry-with-backoff';

export interface AthenaEngineOptions {
  athena: AthenaClient;
  glue: GlueClient;
  workgroup: string;
  namespace: SqlNamespace;
  /** The processed store: write locations (`uri`) and the files a write produced (`list`). */
  processed: ObjectStore;
  log: Log;
  /** Polling of a running query: first delay, growing ×1.5 up to the maximum. */
  pollInitialMs?: number;
  pollMaxMs?: number;
  /** A query still running after this long is stopped and reported (Lambda allows 15 minutes). */
  queryTimeoutMs?: number;
  /** Backoff for throttled starts and for queries that fail with a retryable error. */
  retry?: Partial<BackoffOptions>;
  sleep?: (ms: number) => Promise<void>;
  /** Clock for telling leftover temporary tables apart (tests). */
  now?: () => Date;
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
interface StatementContext {
  origin: string;
  batchId?: string;
  table?: string;
}

interface Execution {
  id: string;
  bytesScanned: number;
  elapsedMs: number;
}

const TEMP_PREFIX = 'totes_tmp_';
/** A temporary table older than this belongs to a run that is over (a Lambda lives 15 minutes at most). */
export const LEFTOVER_AGE_MS = 2 * 60 * 60_000;
const START_RETRYABLE = new Set(['TooManyRequestsException', 'ThrottlingException', 'InternalServerException', 'ServiceUnavailableException']);

/**
 * Athena (engine v3, Trino) as the transform's query engine: the cloud twin of `local/duckdb-engine.ts`.
 *
 * A write wraps the transform SELECT in a CTAS to a fresh, empty location (statements from
 * `core/transform/statements.ts`), splitting writes of more than 100 partitions into a CTAS and
 * INSERTs. `batch_<table>` reads the raw Glue table filtered to the batch; `current_<table>` and
 * star tables read staged prefixes through temporary Glue tables (metadata only), which
 * {@link AthenaEngine.close} drops. Each query runs in the configured workgroup and is polled with
 * backoff; throttled starts and retryable failures are retried; a FAILED or CANCELLED query raises
 * {@link AthenaQueryError} naming Athena's reason, the SQL file and the batch.
 */
export class AthenaEngine implements QueryEngine {
  readonly name = 'athena' as const;
  private readonly run = randomBytes(4).toString('hex');
  private counter = 0;
  /** Temporary Glue tables per staged prefix (CTAS outputs and registered prefixes). */
  private readonly staged = new Map<string, string>();
  private readonly temporary: string[] = [];
  private readonly retry: BackoffOptions;

  constructor(private readonly options: AthenaEngineOptions) {
    this.retry = { attempts: 6, baseDelayMs: 1000, maxDelayMs: 20_000, sleep: options.sleep, ...options.retry };
  }

  async write(select: string, bindings: RelationBindings, target: WriteTarget): Promise<QueryStats> {
    const context: StatementContext = { origin: target.origin, batchId: target.batchId, table: target.table };
    const relations = await this.bind(bindings, target.batchId);
    const tempName = this.tempName(target.table);
    const table = qualifiedTable(this.options.namespace, this.options.namespace.processedDatabase, tempName);
    const location = this.options.processed.uri(target.prefix);
    let bytesScanned = 0;
    let elapsedMs = 0;

    let partitions: PartitionValues[] | undefined;
    if (target.partitionedBy?.length) {
      const { rows, execution } = await this.select(partitionValuesQuery(select, relations, target), context);
      partitions = rows.map((row) => row.map((v) => v ?? null));
      bytesScanned += execution.bytesScanned;
      elapsedMs += execution.elapsedMs;
    }

    await this.clearLeftovers(target);
    const statements = planWrite({ dialect: 'athena', table, location, select, relations, target, partitions });
    let rows = 0;
    for (const [i, statement] of statements.entries()) {
      const execution = await this.execute(statement, context);
      // The CTAS creates the Glue table: from here on it is ours to drop.
      if (i === 0) this.temporary.push(tempName);
      rows += await this.updateCount(execution.id, context);
      bytesScanned += execution.bytesScanned;
      elapsedMs += execution.elapsedMs;
    }
    this.staged.set(target.prefix, tempName);

    const files: string[] = [];
    for await (const o of this.options.processed.list(target.prefix)) files.push(o.key);
    this.options.log.metric(METRICS.bytesScanned, bytesScanned, 'Bytes', { table: target.table });
    this.options.log.info('Athena wrote a table', { table: target.table, batchId: target.batchId, rows, bytesScanned, elapsedMs, statements: statements.length });
    return { rows, bytesScanned, elapsedMs, files };
  }

  async query(sql: string, bindings?: RelationBindings): Promise<Record<string, unknown>[]> {
    const relations = bindings ? await this.bind(bindings, undefined) : [];
    const { columns, rows } = await this.select(withRelations(sql, relations), { origin: 'query' });
    return rows.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, convert(row[i], c.type)])));
  }

  /**
   * Runs one DDL statement (e.g. `CREATE OR REPLACE VIEW`) in the workgroup and waits for it, with
   * the same retries and error reporting as the transform's queries. `origin` names it in errors.
   */
  async runStatement(sql: string, origin: string): Promise<{ bytesScanned: number; elapsedMs: number }> {
    const { bytesScanned, elapsedMs } = await this.execute(sql, { origin });
    return { bytesScanned, elapsedMs };
  }

  /**
   * Drops the temporary Glue tables of this engine, then those an earlier run left behind because
   * it died before its own close (a Lambda timeout or crash): `totes_tmp_*` tables marked
   * temporary and created more than {@link LEFTOVER_AGE_MS} ago, longer than any run lives.
   * Metadata only: no data is deleted. Failures are reported, never thrown.
   */
  async close(): Promise<void> {
    await this.dropTables(this.temporary.splice(0));
    this.staged.clear();
    try {
      await this.dropTables(await this.leftoverTemporaries());
    } catch (err) {
      this.options.log.warn('Could not look for temporary Glue tables left by earlier runs', { error: (err as Error).message });
    }
  }

  /** Temporary tables (ours by name and marker) older than {@link LEFTOVER_AGE_MS}: their run is over. */
  private async leftoverTemporaries(): Promise<string[]> {
    const cutoff = (this.options.now ?? (() => new Date()))().getTime() - LEFTOVER_AGE_MS;
    const names: string[] = [];
    let NextToken: string | undefined;
    do {
      const page = await this.options.glue.send(
        new GetTablesCommand({ DatabaseName: this.options.namespace.processedDatabase, Expression: `${TEMP_PREFIX}.*`, NextToken }),
      );
      for (const t of page.TableList ?? []) {
        const created = t.CreateTime?.getTime();
        if (t.Name?.startsWith(TEMP_PREFIX) && t.Parameters?.['totes.temporary'] === 'true' && created !== undefined && created < cutoff) names.push(t.Name);
      }
      NextToken = page.NextToken;
    } while (NextToken);
    if (names.length) this.options.log.info(`Dropping ${names.length} temporary Glue table(s) left by earlier runs`, { tables: names.slice(0, 20) });
    return names;
  }

  private async dropTables(names: readonly string[]): Promise<void> {
    for (let i = 0; i < names.length; i += 100) {
      const chunk = names.slice(i, i + 100);
      try {
        const res = await this.options.glue.send(
          new BatchDeleteTableCommand({ DatabaseName: this.options.namespace.processedDatabase, TablesToDelete: chunk }),
        );
        const failed = (res.Errors ?? []).filter((e) => e.ErrorDetail?.ErrorCode !== 'EntityNotFoundException');
        if (failed.length > 0) this.options.log.warn('Some temporary Glue tables were not dropped', { tables: failed.map((e) => e.TableName) });
      } catch (err) {
        // Leftover temporary tables cost nothing and are named totes_tmp_*; report, do not fail the batch.
        this.options.log.warn('Could not drop temporary Glue tables', { tables: chunk, error: (err as Error).message });
      }
    }
  }

  /** The WITH entries for a statement's relations. */
  private async bind(bindings: RelationBindings, batchId: string | undefined): Promise<BoundRelation[]> {
    const ns = this.options.namespace;
    const relations: BoundRelation[] = [];
    for (const [table, keys] of entries(bindings.batch)) {
      relations.push(batchId || keys.length > 0 ? batchRelation(ns, table, keys, batchId ?? '') : { ...rawRelation(ns, table, []), name: `batch_${table}` });
    }
    for (const [kind, locations] of [['current', bindings.current], ['previous', bindings.previous ?? {}]] as const) {
      for (const [table, location] of entries(locations)) {
        const relation = `${kind}_${table}`;
        const segments = currentSegments(location);
        if (segments.length === 1) {
          relations.push(await this.stagedRelation(relation, `current_${table}`, segments));
        } else {
          // Base and deltas: their rows, then the latest version of each (core/transform/current-state.ts).
          relations.push(await this.stagedRelation(`_segments_${relation}`, `current_${table}`, segments));
          relations.push({ name: relation, sql: latestVersionsSql(sourceTable(table), quoteLakeIdent(`_segments_${relation}`)) });
        }
      }
    }
    for (const [table, prefixes] of Object.entries(bindings.star)) {
      if (prefixes && prefixes.length > 0) relations.push(await this.stagedRelation(table, table, prefixes));
    }
    for (const [table, prefix] of Object.entries(bindings.previousStar ?? {})) {
      if (prefix) relations.push(await this.stagedRelation(`previous_${table}`, table, [prefix]));
    }
    for (const [table, keys] of entries(bindings.raw ?? {})) relations.push(rawRelation(ns, table, keys));
    return relations;
  }

  /**
   * Athena's CTAS refuses a location that holds objects. A batch's locations are fixed, so one
   * holding objects was left by an attempt that died (the transform lease makes this run the only
   * one working on the batch now): its files are incomplete or equal to what we write, and go.
   */
  private async clearLeftovers(target: WriteTarget): Promise<void> {
    const keys: string[] = [];
    for await (const o of this.options.processed.list(target.prefix)) keys.push(o.key);
    if (!keys.length) return;
    this.options.log.warn(`Clearing ${keys.length} object(s) a previous attempt left at ${target.prefix}`, { table: target.table, batchId: target.batchId });
    await this.options.processed.delete(keys);
  }

  /** Binds `name` to the given prefixes, registering temporary tables shaped like `schemaOf`. */
  private async stagedRelation(name: string, schemaOf: string, prefixes: readonly string[]): Promise<BoundRelation> {
    const ns = this.options.namespace;
    const q = (t: string) => qualifiedTable(ns, ns.processedDatabase, t);
    const facts = prefixes.map(parseFactBatchPrefix);
    if (prefixes.length > 1 && facts.every((f) => f !== undefined && f.table === facts[0]!.table)) {
      // Many batches of one fact: one table over the fact's root with exactly those batch partitions.
      const key = prefixes.join('\n');
      let temp = this.staged.get(key);
      if (!temp) {
        temp = await this.createTemporary(name, schemaOf, factTablePrefix(facts[0]!.table), facts.map((f) => f!.batchId));
        this.staged.set(key, temp);
      }
      return tableRelation(name, q(temp));
    }
    const tables: string[] = [];
    for (const prefix of prefixes) {
      let temp = this.staged.get(prefix);
      if (!temp) {
        temp = await this.createTemporary(name, schemaOf, prefix);
        this.staged.set(prefix, temp);
      }
      tables.push(q(temp));
    }
    return tables.length === 1 ? tableRelation(name, tables[0]) : unionRelation(name, tables);
  }

  /**
   * Registers a Parquet prefix as a temporary table. Its columns are those of the published Glue
   * table of the same kind (so they match what the transform wrote), or the contract's when the
   * catalog has none. With `batchIds`, the table is partitioned by batch with an enum projection.
   */
  private async createTemporary(name: string, schemaOf: string, prefix: string, batchIds?: string[]): Promise<string> {
    const temp = this.tempName(name);
    const location = this.options.processed.uri(prefix);
    const columns = (await this.templateColumns(schemaOf)).filter((c) => c.Name !== FACT_PARTITION_KEY);
    const input: TableInput = {
      Name: temp,
      Description: `Temporary: ${name} at ${location}, registered by a transform run; dropped when the run ends.`,
      TableType: 'EXTERNAL_TABLE',
      Parameters: { classification: 'parquet', EXTERNAL: 'TRUE', 'totes.temporary': 'true' },
      StorageDescriptor: parquetStorage(columns, location),
      PartitionKeys: [],
    };
    if (batchIds) {
      input.PartitionKeys = [{ Name: FACT_PARTITION_KEY, Type: 'string' }];
      input.Parameters = {
        ...input.Parameters,
        'projection.enabled': 'true',
        [`projection.${FACT_PARTITION_KEY}.type`]: 'enum',
        [`projection.${FACT_PARTITION_KEY}.values`]: batchIds.join(','),
        'storage.location.template': `${location}${FACT_PARTITION_KEY}=\${${FACT_PARTITION_KEY}}/`,
      };
    }
    try {
      await this.options.glue.send(new CreateTableCommand({ DatabaseName: this.options.namespace.processedDatabase, TableInput: input }));
    } catch (err) {
      throw new Error(`Could not register ${location} as temporary Glue table ${temp} for ${name}: ${(err as Error).name}: ${(err as Error).message}`, { cause: err });
    }
    this.temporary.push(temp);
    return temp;
  }

  private async templateColumns(table: string): Promise<Column[]> {
    try {
      const res = await this.options.glue.send(new GetTableCommand({ DatabaseName: this.options.namespace.processedDatabase, Name: table }));
      const columns = res.Table?.StorageDescriptor?.Columns;
      if (columns && columns.length > 0) return columns;
    } catch (err) {
      if (errorName(err) !== 'EntityNotFoundException') throw err;
    }
    if (!isProcessedTable(table)) throw new Error(`No Glue table or contract describes ${table}; cannot read its Parquet files`);
    return processedColumns(table);
  }

  private tempName(table: string): string {
    return `${TEMP_PREFIX}${this.run}_${++this.counter}_${table}`.toLowerCase();
  }

  /** Runs a SELECT and returns its column metadata and raw string rows (header row dropped). */
  private async select(sql: string, context: StatementContext): Promise<{ columns: { name: string; type: string }[]; rows: (string | undefined)[][]; execution: Execution }> {
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

  /** Rows a CTAS or INSERT wrote (Athena's UpdateCount). */
  private async updateCount(id: string, context: StatementContext): Promise<number> {
    const res = await retryWithBackoff(
      () => this.options.athena.send(new GetQueryResultsCommand({ QueryExecutionId: id, MaxResults: 1 })),
      isStartRetryable,
      this.retry,
    );
    if (res.UpdateCount === undefined) throw new Error(`Athena reported no row count for query ${id} (${context.origin}, batch ${context.batchId})`);
    return Number(res.UpdateCount);
  }

  /** Starts a statement and waits for it, re-running it when Athena says its failure is retryable. */
  private async execute(sql: string, context: StatementContext): Promise<Execution> {
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
    const ns = this.options.namespace;
    const res = await retryWithBackoff(
      () =>
        this.options.athena.send(
          new StartQueryExecutionCommand({
            QueryString: sql,
            WorkGroup: this.options.workgroup,
            QueryExecutionContext: { Database: ns.processedDatabase, Catalog: ns.catalog },
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

function entries<V>(record: Partial<Record<SourceTableName, V>>): [SourceTableName, V][] {
  return Object.entries(record).filter((e): e is [SourceTableName, V] => e[1] !== undefined);
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
