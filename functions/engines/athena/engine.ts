import type { AthenaClient } from '@aws-sdk/client-athena';
import { BatchDeleteTableCommand, CreateTableCommand, GetTableCommand, GetTablesCommand, type Column, type GlueClient } from '@aws-sdk/client-glue';
import { randomBytes } from 'node:crypto';
import { isProcessedTable, processedColumns } from '../../aws/glue-table-input';
import { errorName } from '../../aws/retry-with-backoff';
import { METRICS } from '../../core/contract/runtime-contract';
import type { Log } from '../../core/ports/log';
import type { ObjectStore } from '../../core/ports/object-store';
import type { QueryAnswer, QueryEngine, QueryStats, RelationBindings, RenderedStatement, StatementRenderer, WriteTarget } from '../../core/ports/query-engine';
import { compileRelations, relationEntries, type ParquetRelation } from '../../core/sql/relations';
import { prependCtes } from '../../core/sql/sql-text';
import { partitionValuesQuery, planWrite, qualifiedTable, rawTableSql, unionSql, type PartitionValues, type SqlNamespace } from '../trino/relations';
import { AthenaQueryClient, type AthenaClientOptions, type StatementContext } from './client';
import { factBatches, PARAM_TEMPORARY, parquetLocations, TEMP_PREFIX, temporaryTableInput } from './relations';

export { AthenaQueryError } from './client';

export interface AthenaEngineOptions extends Pick<AthenaClientOptions, 'pollInitialMs' | 'pollMaxMs' | 'queryTimeoutMs' | 'retry' | 'sleep'> {
  athena: AthenaClient;
  glue: GlueClient;
  workgroup: string;
  namespace: SqlNamespace;
  /** The processed store: write locations (`uri`) and the files a write produced (`list`). */
  processed: ObjectStore;
  log: Log;
  /** Clock for telling leftover temporary tables apart (tests). */
  now?: () => Date;
}

/** A temporary table older than this belongs to a run that is over (a Lambda lives 15 minutes at most). */
export const LEFTOVER_AGE_MS = 2 * 60 * 60_000;

/**
 * What the Athena engine would send, rendered without AWS (`totes compile --engine athena`): the same
 * statements from the same generators (`../trino/relations.ts`, dialect `athena`). Parquet prefixes
 * are read through temporary Glue tables, which the engine registers through the Glue API (not SQL)
 * and names `totes_tmp_<run>_<n>_<relation>` with a random run id: rendered, the run id is `run`.
 * Raw files read the deployed raw Glue tables. A write of more than 100 partitions is split after a
 * partition query; rendered, it is one CTAS.
 */
export class AthenaRenderer implements StatementRenderer {
  readonly name = 'athena' as const;
  private counter = 0;
  private readonly staged = new Map<string, string>();

  constructor(private readonly options: Pick<AthenaEngineOptions, 'namespace' | 'processed'>) {}

  async renderWrite(select: string, bindings: RelationBindings, target: WriteTarget): Promise<RenderedStatement[]> {
    const relations = await this.bind(bindings);
    const tempName = this.tempName(target.table);
    const table = qualifiedTable(this.options.namespace, this.options.namespace.processedDatabase, tempName);
    // An S3 store's URI of a prefix ends with '/'; a folder store's path (a local lake rendered) gets one.
    const location = this.options.processed.uri(target.prefix).replace(/\/?$/, '/');
    this.staged.set(target.prefix, tempName);
    return planWrite({ dialect: 'athena', table, location, select, relations, target }).map((sql, i) => ({
      role: i === 0 ? `CTAS: writes ${target.table} as Parquet at ${location}` : 'INSERT INTO: a further chunk of partitions',
      sql,
    }));
  }

  async renderQuery(sql: string, bindings?: RelationBindings): Promise<RenderedStatement[]> {
    const relations = bindings ? await this.bind(bindings) : [];
    return [{ role: 'SELECT: read-only query', sql: prependCtes(sql, relations) }];
  }

  private bind(bindings: RelationBindings): Promise<string[]> {
    const ns = this.options.namespace;
    return relationEntries(compileRelations(bindings), {
      raw: (relation) => rawTableSql(ns, relation),
      parquet: (relation) => {
        const tables: string[] = [];
        for (const { key } of parquetLocations(relation)) {
          let temp = this.staged.get(key);
          if (!temp) {
            temp = this.tempName(relation.name);
            this.staged.set(key, temp);
          }
          tables.push(qualifiedTable(ns, ns.processedDatabase, temp));
        }
        return unionSql(tables);
      },
      columnType: (type) => type,
    });
  }

  private tempName(table: string): string {
    return `${TEMP_PREFIX}run_${++this.counter}_${table}`.toLowerCase();
  }
}

/**
 * Athena (engine v3, Trino) as the transform's query engine: the cloud twin of `../duckdb/engine.ts`.
 *
 * A write wraps the transform SELECT in a CTAS to a fresh, empty location (statements from
 * `../trino/relations.ts`, dialect `athena`), splitting writes of more than 100 partitions into a
 * CTAS and INSERTs. Raw files read the raw Glue table filtered to their slices; Parquet prefixes
 * (current states, star tables) read temporary Glue tables (metadata only, `./relations.ts`), which
 * {@link AthenaEngine.close} drops. Queries run through `./client.ts`: in the configured workgroup,
 * polled with backoff, throttled starts and retryable failures retried, a FAILED or CANCELLED query
 * raised as `AthenaQueryError` naming Athena's reason, the SQL file and the batch.
 */
export class AthenaEngine implements QueryEngine {
  readonly name = 'athena' as const;
  readonly measuresScan = true;
  private readonly run = randomBytes(4).toString('hex');
  private counter = 0;
  /** Temporary Glue tables per staged prefix (CTAS outputs and registered prefixes). */
  private readonly staged = new Map<string, string>();
  /** Temporary tables being registered: statements sent together (core/transform/concurrently.ts) share one. */
  private readonly registering = new Map<string, Promise<string>>();
  private readonly temporary: string[] = [];
  private readonly client: AthenaQueryClient;

  constructor(private readonly options: AthenaEngineOptions) {
    const { namespace, ...rest } = options;
    this.client = new AthenaQueryClient({ ...rest, database: namespace.processedDatabase, catalog: namespace.catalog });
  }

  async write(select: string, bindings: RelationBindings, target: WriteTarget): Promise<QueryStats> {
    const context: StatementContext = { origin: target.origin, batchId: target.batchId, table: target.table };
    const relations = await this.bind(bindings);
    const tempName = this.tempName(target.table);
    const table = qualifiedTable(this.options.namespace, this.options.namespace.processedDatabase, tempName);
    const location = this.options.processed.uri(target.prefix);
    let bytesScanned = 0;
    let elapsedMs = 0;

    let partitions: PartitionValues[] | undefined;
    let sent = 0;
    if (target.partitionedBy?.length) {
      sent++;
      const { rows, execution } = await this.client.select(partitionValuesQuery(select, relations, target), context);
      partitions = rows.map((row) => row.map((v) => v ?? null));
      bytesScanned += execution.bytesScanned;
      elapsedMs += execution.elapsedMs;
    }

    await this.clearLeftovers(target);
    const statements = planWrite({ dialect: 'athena', table, location, select, relations, target, partitions });
    let rows = 0;
    for (const [i, statement] of statements.entries()) {
      sent++;
      const execution = await this.client.execute(statement, context);
      // The CTAS creates the Glue table: from here on it is ours to drop.
      if (i === 0) this.temporary.push(tempName);
      rows += await this.client.updateCount(execution.id, context);
      bytesScanned += execution.bytesScanned;
      elapsedMs += execution.elapsedMs;
    }
    this.staged.set(target.prefix, tempName);

    const files: string[] = [];
    for await (const o of this.options.processed.list(target.prefix)) files.push(o.key);
    this.options.log.metric(METRICS.bytesScanned, bytesScanned, 'Bytes', { table: target.table });
    this.options.log.info('Athena wrote a table', { table: target.table, batchId: target.batchId, rows, bytesScanned, elapsedMs, statements: statements.length });
    return { rows, bytesScanned, elapsedMs, files, statements: sent };
  }

  async query(sql: string, bindings?: RelationBindings): Promise<Record<string, unknown>[]> {
    return (await this.select(sql, bindings)).rows;
  }

  /** A query's rows and the bytes Athena scanned for them (`DataScannedInBytes`). */
  async select(sql: string, bindings?: RelationBindings): Promise<QueryAnswer> {
    const relations = bindings ? await this.bind(bindings) : [];
    const { rows, execution } = await this.client.rows(prependCtes(sql, relations), { origin: 'query' });
    return { rows, bytesScanned: execution.bytesScanned };
  }

  /**
   * Runs one DDL statement (e.g. `CREATE OR REPLACE VIEW`) in the workgroup and waits for it, with
   * the same retries and error reporting as the transform's queries. `origin` names it in errors.
   */
  async runStatement(sql: string, origin: string): Promise<{ bytesScanned: number; elapsedMs: number }> {
    const { bytesScanned, elapsedMs } = await this.client.execute(sql, { origin });
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
        if (t.Name?.startsWith(TEMP_PREFIX) && t.Parameters?.[PARAM_TEMPORARY] === 'true' && created !== undefined && created < cutoff) names.push(t.Name);
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

  /** The WITH entries binding every relation `bindings` names. */
  private bind(bindings: RelationBindings): Promise<string[]> {
    return relationEntries(compileRelations(bindings), {
      raw: (relation) => rawTableSql(this.options.namespace, relation),
      parquet: (relation) => this.parquetSql(relation),
      columnType: (type) => type,
    });
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

  /** Reads Parquet prefixes through temporary tables shaped like the relation's table, registered once per run. */
  private async parquetSql(relation: ParquetRelation): Promise<string> {
    const ns = this.options.namespace;
    const q = (t: string) => qualifiedTable(ns, ns.processedDatabase, t);
    const fact = factBatches(relation.prefixes);
    const tables: string[] = [];
    for (const { key, prefix } of parquetLocations(relation)) {
      let temp = this.staged.get(key);
      if (!temp) {
        let registering = this.registering.get(key);
        if (!registering) {
          registering = this.createTemporary(relation, prefix, fact?.batchIds).finally(() => this.registering.delete(key));
          this.registering.set(key, registering);
        }
        temp = await registering;
        this.staged.set(key, temp);
      }
      tables.push(q(temp));
    }
    return unionSql(tables);
  }

  /**
   * Registers a Parquet prefix as a temporary table. Its columns are those of the published Glue
   * table of the relation's shape (so they match what the transform wrote), or the contract's when
   * the catalog has none, or only a view of that name (a by-key dimension's, whose data is in
   * `<dim>_versions`; a view's storage columns are a placeholder).
   */
  private async createTemporary(relation: ParquetRelation, prefix: string, batchIds?: readonly string[]): Promise<string> {
    const temp = this.tempName(relation.name);
    const location = this.options.processed.uri(prefix);
    const input = temporaryTableInput(temp, relation.name, location, await this.templateColumns(relation.shape), batchIds);
    try {
      await this.options.glue.send(new CreateTableCommand({ DatabaseName: this.options.namespace.processedDatabase, TableInput: input }));
    } catch (err) {
      throw new Error(`Could not register ${location} as temporary Glue table ${temp} for ${relation.name}: ${(err as Error).name}: ${(err as Error).message}`, { cause: err });
    }
    this.temporary.push(temp);
    return temp;
  }

  private async templateColumns(table: string): Promise<Column[]> {
    try {
      const res = await this.options.glue.send(new GetTableCommand({ DatabaseName: this.options.namespace.processedDatabase, Name: table }));
      const columns = res.Table?.StorageDescriptor?.Columns;
      if (columns && columns.length > 0 && res.Table?.TableType !== 'VIRTUAL_VIEW') return columns;
    } catch (err) {
      if (errorName(err) !== 'EntityNotFoundException') throw err;
    }
    if (!isProcessedTable(table)) throw new Error(`No Glue table or contract describes ${table}; cannot read its Parquet files`);
    return processedColumns(table);
  }

  private tempName(table: string): string {
    return `${TEMP_PREFIX}${this.run}_${++this.counter}_${table}`.toLowerCase();
  }
}
