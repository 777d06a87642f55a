import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  DuckDBInstance,
  listValue,
  StatementType,
  type DuckDBConnection,
  type DuckDBValue,
} from '@duckdb/node-api';
import { BATCH_ID_COLUMN, duckdbType, SOURCE_TABLES, type SourceTable } from '../../core/contract/source-tables';
import { LINEAGE_COLUMNS, starDuckdbType, STAR_TABLES } from '../../core/contract/star-tables';
import { currentSegments, type CurrentLocation, type QueryEngine, type QueryStats, type RelationBindings, type WriteTarget } from '../../core/ports/query-engine';
import { prependCtes, quoteIdent } from '../../core/sql/sql-text';
import { latestVersionsSql } from '../../core/transform/current-state';
import type { FolderObjectStore } from '../../local/folder-object-store';
import { DUCKDB_TRINO_MACROS } from './client';

/**
 * The local query engine: DuckDB (in memory, one connection) over the two lake folders.
 *
 * It runs the same `sql/transform/*.sql` SELECTs as Athena. Relations are bound as CTEs in front of
 * the statement, so each call sees exactly the files its bindings name and nothing leaks between
 * calls:
 *  - raw JSON (`batch_*`, `raw_*`) through `read_json` with the column types of the table contract,
 *    never inferred, so an empty batch or a batch of NULLs still has the right columns;
 *  - Parquet (`current_*`, `previous_*`, star tables) through `read_parquet`; a location without
 *    files is an empty relation of the contract's columns.
 * File lists and the output path are prepared-statement parameters, never spliced into the SQL.
 *
 * Lineage: each of `_batch_id`, `_sql_hash` that the target does not list is appended, set to
 * `target.batchId` / `target.sqlHash` (star tables). A listed one is data from the SELECT: the
 * current-state merge lists `_batch_id`, so each row keeps the batch that extracted it.
 */
export class DuckDbEngine implements QueryEngine {
  readonly name = 'duckdb' as const;
  private connecting?: Promise<{ instance: DuckDBInstance; connection: DuckDBConnection }>;
  /** Per source table, the raw files whose rows the scratch batch file holds ({@link batchFile}). */
  private readonly batchFiles = new Map<SourceTable['name'], string>();
  /** Scratch folder of the batch files, made on first use. */
  private scratch?: Promise<string>;
  /** One connection runs one statement at a time; calls queue here. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ingestion: FolderObjectStore,
    private readonly processed: FolderObjectStore,
  ) {}

  /** An engine with its connection open and the Trino-name macros registered. */
  static async create(ingestion: FolderObjectStore, processed: FolderObjectStore): Promise<DuckDbEngine> {
    const engine = new DuckDbEngine(ingestion, processed);
    await engine.connection();
    return engine;
  }

  async write(select: string, bindings: RelationBindings, target: WriteTarget): Promise<QueryStats> {
    return this.serial(async (connection) => {
      const started = Date.now();
      const where = `${target.origin} (table ${target.table}, batch ${target.batchId})`;
      const bound = await this.bind(bindings, connection);
      const params = [...bound.params];
      const body = `WITH ${[...bound.ctes, `_result AS (\n${stripTerminator(select)}\n)`].join(',\n')}\n`;

      const produced = await run(connection, `DESCRIBE ${body}SELECT * FROM _result`, params, where)
        .then((rows) => rows.map((row) => String(row.column_name)));
      const projection = this.projection(target, produced, params, where);

      const dir = this.processed.pathOf(target.prefix);
      await fs.mkdir(dir, { recursive: true });
      // Written beside the old output first, then swapped in: the prefix ends up holding exactly this output.
      const tmp = path.join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
      const partitionedBy = target.partitionedBy ?? [];
      const single = partitionedBy.length === 0;
      params.push(single ? `${tmp}.parquet` : tmp);
      const options = single
        ? 'FORMAT parquet, COMPRESSION zstd'
        : `FORMAT parquet, COMPRESSION zstd, PARTITION_BY (${partitionedBy.map((n) => quoteIdent(n)).join(', ')})`;
      const copied = await run(connection, `COPY (${body}SELECT ${projection} FROM _result) TO $${params.length} (${options})`, params, where).catch(
        async (err: unknown) => {
          await fs.rm(single ? `${tmp}.parquet` : tmp, { recursive: true, force: true });
          throw err;
        },
      );
      for (const entry of await fs.readdir(dir)) {
        if (!entry.startsWith(path.basename(tmp))) await fs.rm(path.join(dir, entry), { recursive: true, force: true });
      }
      if (single) {
        await fs.rename(`${tmp}.parquet`, path.join(dir, 'part-00000.parquet'));
      } else {
        for (const entry of await fs.readdir(tmp)) await fs.rename(path.join(tmp, entry), path.join(dir, entry));
        await fs.rm(tmp, { recursive: true, force: true });
      }
      const files = (await this.parquetFiles(target.prefix)).map((file) => `${target.prefix}${path.relative(dir, file).split(path.sep).join('/')}`);

      return {
        rows: Number(copied[0]?.Count ?? 0),
        bytesScanned: 0,
        elapsedMs: Date.now() - started,
        files,
      };
    });
  }

  async query(sql: string, bindings?: RelationBindings): Promise<Record<string, unknown>[]> {
    return this.serial(async (connection) => {
      const bound = bindings ? await this.bind(bindings, connection) : { ctes: [], params: [] };
      const statement = prependCtes(stripTerminator(sql), bound.ctes);
      let prepared;
      try {
        prepared = await connection.prepare(statement);
      } catch (err) {
        throw new Error(`Query failed on DuckDB: ${(err as Error).message}\nQuery: ${sql}`);
      }
      if (prepared.statementType !== StatementType.SELECT) {
        throw new Error(`Only read-only SELECT queries can run against the lake; got a ${StatementType[prepared.statementType]} statement: ${sql}`);
      }
      try {
        if (bound.params.length) prepared.bind(bound.params);
        const reader = await prepared.runAndReadAll();
        return reader.getRowObjectsJson() as Record<string, unknown>[];
      } catch (err) {
        throw new Error(`Query failed on DuckDB: ${(err as Error).message}\nQuery: ${sql}`);
      } finally {
        prepared.destroySync();
      }
    });
  }

  async close(): Promise<void> {
    const connecting = this.connecting;
    this.connecting = undefined;
    if (!connecting) return;
    await this.queue.catch(() => undefined);
    const { instance, connection } = await connecting;
    connection.closeSync();
    instance.closeSync();
    const scratch = this.scratch;
    this.scratch = undefined;
    this.batchFiles.clear();
    if (scratch) await fs.rm(await scratch, { recursive: true, force: true });
  }

  private serial<T>(work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    const next = this.queue.catch(() => undefined).then(async () => work(await this.connection()));
    this.queue = next;
    return next;
  }

  private async connection(): Promise<DuckDBConnection> {
    this.connecting ??= (async () => {
      const instance = await DuckDBInstance.create(':memory:');
      const connection = await instance.connect();
      for (const macro of DUCKDB_TRINO_MACROS) await connection.run(macro.sql);
      return { instance, connection };
    })();
    return (await this.connecting).connection;
  }

  /** CTEs binding every relation `bindings` names, with their parameters (`$1`… in order). */
  private async bind(bindings: RelationBindings, connection: DuckDBConnection): Promise<{ ctes: string[]; params: DuckDBValue[] }> {
    const ctes: string[] = [];
    const params: DuckDBValue[] = [];
    const param = (value: DuckDBValue): string => {
      params.push(value);
      return `$${params.length}`;
    };

    const json = (relation: string, table: SourceTable, keys: string[]): void => {
      const columns = rawColumns(table);
      if (!keys.length) {
        ctes.push(`${quoteIdent(relation)} AS (${emptyRelation(columns)})`);
        return;
      }
      const files = keys.map((key) => this.ingestion.pathOf(key));
      const struct = columns.map((c) => `${quoteIdent(c.name)}: '${c.type}'`).join(', ');
      ctes.push(
        `${quoteIdent(relation)} AS (SELECT * FROM read_json(${param(listValue(files))}, format = 'newline_delimited', ` +
          `compression = 'gzip', columns = {${struct}}))`,
      );
    };
    const parquet = async (relation: string, prefixes: string[], columns: DuckColumn[]): Promise<void> => {
      const files = (await Promise.all(prefixes.map((p) => this.parquetFiles(p)))).flat();
      ctes.push(
        files.length
          ? `${quoteIdent(relation)} AS (SELECT * FROM read_parquet(${param(listValue(files))}, hive_partitioning = false))`
          : `${quoteIdent(relation)} AS (${emptyRelation(columns)})`,
      );
    };

    // A current state in several segments (base, deltas) reads as its latest versions.
    const currentState = async (relation: string, table: SourceTable, location: CurrentLocation): Promise<void> => {
      const segments = currentSegments(location);
      if (segments.length === 1) return parquet(relation, [...segments], rawColumns(table));
      await parquet(`_segments_${relation}`, [...segments], rawColumns(table));
      ctes.push(`${quoteIdent(relation)} AS (${latestVersionsSql(table, quoteIdent(`_segments_${relation}`))})`);
    };

    for (const table of SOURCE_TABLES) {
      const batch = bindings.batch[table.name];
      if (batch?.length) ctes.push(`${quoteIdent(`batch_${table.name}`)} AS (SELECT * FROM read_parquet(${param(await this.batchFile(connection, table, batch))}))`);
      else if (batch) json(`batch_${table.name}`, table, batch);
      const raw = bindings.raw?.[table.name];
      if (raw) json(`raw_${table.name}`, table, raw);
      const current = bindings.current[table.name];
      if (current !== undefined) await currentState(`current_${table.name}`, table, current);
      const previous = bindings.previous?.[table.name];
      if (previous !== undefined) await currentState(`previous_${table.name}`, table, previous);
    }
    for (const [name, prefixes] of Object.entries(bindings.star)) {
      if (!prefixes) continue;
      const star = STAR_TABLES.find((t) => t.name === name);
      if (!star) throw new Error(`Cannot bind star relation "${name}": the star contract has no such table`);
      const columns: DuckColumn[] = [
        ...star.columns.map((c) => ({ name: c.name, type: starDuckdbType(c.type) })),
        ...LINEAGE_COLUMNS.map((name) => ({ name, type: 'VARCHAR' })),
      ];
      await parquet(name, prefixes, columns);
      const previous = bindings.previousStar?.[name];
      if (previous !== undefined) await parquet(`previous_${name}`, [previous], columns);
    }
    for (const name of Object.keys(bindings.previousStar ?? {})) {
      if (!bindings.star[name]) throw new Error(`previous_${name} is bound without ${name}: bind both to compare them`);
    }
    return { ctes, params };
  }

  /**
   * The rows of a batch's raw files of one table, parsed once into a Parquet file in a scratch
   * folder: a batch's statements read them many times (input checks, current state, dim_date,
   * facts, data tests), and parsing gzip JSON lines is most of their cost on a large batch, while
   * Parquet reads back fast and streams (holding them in a DuckDB table instead doubled the peak
   * memory of a 1M-order first batch). Raw files are immutable, so the list of files identifies
   * the rows. Only the latest batch of each table is kept, so a long-running `totes run --every`
   * holds one batch per table, not its history; close() removes the folder.
   */
  private async batchFile(connection: DuckDBConnection, table: SourceTable, keys: readonly string[]): Promise<string> {
    const files = keys.map((key) => this.ingestion.pathOf(key));
    const identity = files.join('\n');
    this.scratch ??= fs.mkdtemp(path.join(os.tmpdir(), 'totes-duckdb-'));
    const target = path.join(await this.scratch, `batch_${table.name}.parquet`);
    if (this.batchFiles.get(table.name) === identity) return target;
    this.batchFiles.delete(table.name);
    const struct = rawColumns(table)
      .map((c) => `${quoteIdent(c.name)}: '${c.type}'`)
      .join(', ');
    await run(
      connection,
      `COPY (SELECT * FROM read_json($1, format = 'newline_delimited', compression = 'gzip', columns = {${struct}})) TO $2 (FORMAT parquet, COMPRESSION snappy)`,
      [listValue(files), target],
      `Reading the batch's raw files of ${table.name} (${keys[0]}${keys.length > 1 ? ` and ${keys.length - 1} more` : ''})`,
    );
    this.batchFiles.set(table.name, identity);
    return target;
  }

  /** Parquet files under a key prefix of the processed store, as paths (a missing folder has none). */
  private async parquetFiles(prefix: string): Promise<string[]> {
    const found: string[] = [];
    for await (const { key } of this.processed.list(prefix)) if (key.endsWith('.parquet')) found.push(this.processed.pathOf(key));
    return found;
  }

  /**
   * The output columns: the target's, in order, cast to their types; then each lineage column the
   * target does not list, set to this write's batch and SQL hash (as the Athena and Trino engines
   * do, functions/core/transform/statements.ts). A listed lineage column is data from the SELECT.
   */
  private projection(target: WriteTarget, produced: string[], params: DuckDBValue[], where: string): string {
    const wanted = new Set(target.columns.map((c) => c.name));
    const extra = produced.filter((name) => !wanted.has(name));
    if (extra.length) {
      throw new Error(`${where} produces column(s) ${extra.join(', ')} that ${target.table} does not have; make the SELECT match the contract's columns`);
    }
    const have = new Set(produced);
    const missing = target.columns.filter((c) => !have.has(c.name)).map((c) => c.name);
    if (missing.length) {
      throw new Error(`${where} does not produce column(s) ${missing.join(', ')} of ${target.table}; make the SELECT match the contract's columns`);
    }
    const columns = target.columns.map((c) => `CAST(${quoteIdent(c.name)} AS ${duckdbTypeOfTrino(c.trinoType, where)}) AS ${quoteIdent(c.name)}`);
    for (const name of LINEAGE_COLUMNS) {
      if (wanted.has(name)) continue;
      params.push(name === BATCH_ID_COLUMN ? target.batchId : target.sqlHash);
      columns.push(`CAST($${params.length} AS VARCHAR) AS ${quoteIdent(name)}`);
    }
    return columns.join(',\n  ');
  }
}

interface DuckColumn {
  name: string;
  type: string;
}

/** Columns of a raw row (contract columns + `_batch_id`) as DuckDB reads them. */
function rawColumns(table: SourceTable): DuckColumn[] {
  return [...table.columns.map((c) => ({ name: c.name, type: duckdbType(c.type) })), { name: BATCH_ID_COLUMN, type: 'VARCHAR' }];
}

/** A relation with the given columns and no rows. */
function emptyRelation(columns: DuckColumn[]): string {
  return `SELECT ${columns.map((c) => `CAST(NULL AS ${c.type}) AS ${quoteIdent(c.name)}`).join(', ')} WHERE false`;
}

/** The DuckDB type for a Trino type name of a write target. */
export function duckdbTypeOfTrino(trinoType: string, where = 'write target'): string {
  const type = trinoType.trim().toLowerCase();
  if (type === 'integer' || type === 'int') return 'INTEGER';
  if (type === 'bigint') return 'BIGINT';
  if (type === 'double') return 'DOUBLE';
  if (type === 'boolean') return 'BOOLEAN';
  if (type === 'date') return 'DATE';
  if (type === 'varchar' || type === 'string' || /^varchar\(\d+\)$/.test(type)) return 'VARCHAR';
  if (/^timestamp(\(\d\))?$/.test(type)) return 'TIMESTAMP';
  const decimal = /^decimal\((\d+),\s*(\d+)\)$/.exec(type);
  if (decimal) return `DECIMAL(${decimal[1]},${decimal[2]})`;
  throw new Error(`${where}: column type "${trinoType}" has no DuckDB equivalent here (times are varchar 'HH:MM:SS.mmm' in the lake)`);
}

/** Drops trailing semicolons and whitespace so the statement can be embedded. */
function stripTerminator(sql: string): string {
  return sql.replace(/[\s;]+$/, '');
}

async function run(connection: DuckDBConnection, sql: string, params: DuckDBValue[], where: string): Promise<Record<string, unknown>[]> {
  try {
    const reader = await connection.runAndReadAll(sql, params.length ? params : undefined);
    return reader.getRowObjectsJson() as Record<string, unknown>[];
  } catch (err) {
    throw new Error(`${where} failed on DuckDB: ${(err as Error).message}`);
  }
}
