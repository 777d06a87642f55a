import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { QueryEngine, QueryStats, RelationBindings, WriteTarget } from '../../core/ports/query-engine';
import type { DuckDBValue } from '@duckdb/node-api';
import type { RenderedStatement, StatementRenderer } from '../../core/ports/query-engine';
import { prependCtes } from '../../core/sql/sql-text';
import { DuckDbClient, DUCKDB_CONNECTIONS, type DuckDbSession } from './client';
import { batchFileStatement, checkProduced, duckdbEntries, duckdbWriteStatements, DuckDbRelations, expectedFileColumns, writtenColumns, type BoundEntries, type LocalStore } from './relations';

export interface DuckDbEngineOptions {
  /** Told every statement before it runs, with its parameters (tests compare them with `totes compile`). */
  onStatement?: (sql: string, params: readonly DuckDBValue[]) => void;
  /** Statements that run at once, at most, each on its own connection (default {@link DUCKDB_CONNECTIONS}; 1: one at a time). */
  connections?: number;
}

/**
 * The local query engine: DuckDB (in memory, a few connections: `./client.ts`) over the two lake
 * folders, or any stores whose objects are local files (`LocalFiles` in core/ports/object-store.ts).
 *
 * It runs the same `sql/transform/*.sql` SELECTs as Athena. The relations a statement reads are
 * bound as CTEs in front of it (`./relations.ts`: `read_json` over raw files, `read_parquet` over
 * Parquet prefixes), so each call sees exactly the files its bindings name and nothing leaks
 * between calls. File lists and the output path are prepared-statement parameters, never spliced
 * into the SQL.
 *
 * Lineage: each of `_batch_id`, `_sql_hash` that the target does not list is appended, set to
 * `target.batchId` / `target.sqlHash` (star tables). A listed one is data from the SELECT: the
 * current-state merge lists `_batch_id`, so each row keeps the batch that extracted it.
 */
export class DuckDbEngine implements QueryEngine {
  readonly name = 'duckdb' as const;
  private readonly client: DuckDbClient;
  private readonly relations: DuckDbRelations;
  /** Parses `prepare` started and that are not done yet. */
  private readonly preparing = new Set<Promise<void>>();
  /** Set by close(): a `prepare` after it starts nothing (it would open the instance again). */
  private closing = false;

  constructor(
    ingestion: LocalStore,
    private readonly processed: LocalStore,
    options: DuckDbEngineOptions = {},
  ) {
    this.client = new DuckDbClient(options.onStatement, options.connections ?? DUCKDB_CONNECTIONS);
    this.relations = new DuckDbRelations(this.client, ingestion, processed);
  }

  /** An engine with its connection open and the Trino-name macros registered. */
  static async create(ingestion: LocalStore, processed: LocalStore, options: DuckDbEngineOptions = {}): Promise<DuckDbEngine> {
    const engine = new DuckDbEngine(ingestion, processed, options);
    await engine.client.open();
    return engine;
  }

  async write(select: string, bindings: RelationBindings, target: WriteTarget): Promise<QueryStats> {
    const started = Date.now();
    await this.relations.parseBatches(bindings, select);
    return this.client.session(async (session) => {
      const where = `${target.origin} (table ${target.table}, batch ${target.batchId})`;
      const bound = await this.relations.bind(bindings, select, session);
      try {
        return await this.writeBound(session, select, bound, target, where, started);
      } finally {
        bound.release();
      }
    });
  }

  /** Writes `select`, its relations bound, to `target` (see {@link write}). */
  private async writeBound(session: DuckDbSession, select: string, bound: BoundEntries, target: WriteTarget, where: string, started: number): Promise<QueryStats> {
    const dir = this.processed.pathOf(target.prefix);
    // Written beside the old output first, then swapped in: the prefix ends up holding exactly this output.
    const tmp = path.join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    const partitionedBy = target.partitionedBy ?? [];
    const single = partitionedBy.length === 0;
    const { describe, copy } = duckdbWriteStatements<DuckDBValue>(select, bound, target, { literal: (value) => value, output: single ? `${tmp}.parquet` : tmp });

    // The SELECT's columns, named when they are not the target's (the COPY found that they are not).
    const checkColumns = async (): Promise<void> => {
      const produced = (await session.run(describe.sql, describe.params, where)).map((row) => String(row.column_name));
      checkProduced(target, produced, where);
    };
    const discard = () => fs.rm(single ? `${tmp}.parquet` : tmp, { recursive: true, force: true });

    await fs.mkdir(dir, { recursive: true });
    const copied = await session.run(copy.sql, copy.params, where).catch(async (err: unknown) => {
      await discard();
      // A column the SELECT lacks fails the COPY: say which, else report DuckDB's error.
      await checkColumns();
      throw err;
    });
    const expected = expectedFileColumns(target).sort().join(',');
    const written = writtenColumns(copied);
    if (!written || written.some((columns) => [...columns].sort().join(',') !== expected)) {
      // Columns the target does not have were written (or no file tells): nothing of it is kept.
      if (written) await discard();
      await checkColumns();
      if (written) throw new Error(`${where} wrote column(s) ${written.find((c) => [...c].sort().join(',') !== expected)!.join(', ')}, not those of ${target.table}`);
    }
    for (const entry of await fs.readdir(dir)) {
      if (!entry.startsWith(path.basename(tmp))) await fs.rm(path.join(dir, entry), { recursive: true, force: true });
    }
    if (single) {
      await fs.rename(`${tmp}.parquet`, path.join(dir, 'part-00000.parquet'));
    } else {
      for (const entry of await fs.readdir(tmp)) await fs.rename(path.join(tmp, entry), path.join(dir, entry));
      await fs.rm(tmp, { recursive: true, force: true });
    }
    const files = (await this.relations.parquetFiles(target.prefix)).map((file) => `${target.prefix}${path.relative(dir, file).split(path.sep).join('/')}`);

    return {
      rows: copied.reduce((sum, file) => sum + Number(file.count ?? 0), 0),
      bytesScanned: 0,
      elapsedMs: Date.now() - started,
      files,
    };
  }

  async query(sql: string, bindings?: RelationBindings): Promise<Record<string, unknown>[]> {
    if (bindings) await this.relations.parseBatches(bindings, sql);
    return this.client.session(async (session) => {
      const { entries, params, release } = bindings ? await this.relations.bind(bindings, sql, session) : { entries: [], params: [], release: () => undefined };
      try {
        return await session.select(prependCtes(sql, entries), params, sql);
      } finally {
        release();
      }
    });
  }

  /**
   * Parses each table's raw files into scratch Parquet now, in the background (QueryEngine
   * `prepare`); close() waits for it, and once close() has begun nothing more is started.
   */
  prepare(batch: RelationBindings['batch']): void {
    if (this.closing) return;
    const preparing: Promise<void> = this.relations
      .prepare(batch)
      .catch(() => undefined)
      .finally(() => this.preparing.delete(preparing));
    this.preparing.add(preparing);
  }

  async close(): Promise<void> {
    this.closing = true;
    while (this.preparing.size) await Promise.allSettled([...this.preparing]);
    if (await this.client.close()) await this.relations.close();
  }
}

/**
 * What the DuckDB engine would send, rendered without running it (`totes compile`): the same
 * statements from the same generators (`./relations.ts` `duckdbEntries`, `batchFileStatement`,
 * `duckdbWriteStatements`), over the same stores. Parameters are described rather than bound: file
 * lists as the engine would find them now (a prefix this renderer wrote counts as holding the
 * write's file), the scratch and temporary paths as `<…>`. A batch's raw files are parsed once per
 * renderer, as the engine parses them once per run.
 */
export class DuckDbRenderer implements StatementRenderer {
  readonly name = 'duckdb' as const;
  /** Per source table, the raw files whose scratch file is parsed (the engine's `batchFiles`). */
  private readonly parsed = new Map<string, string>();
  /** Prefixes this renderer rendered a write to: from then on they hold the write's file. */
  private readonly written = new Set<string>();
  /** Statements a binding adds before the one it binds (a batch's raw files parsed into scratch Parquet). */
  private pending: RenderedStatement[] = [];

  constructor(
    private readonly ingestion: LocalStore,
    private readonly processed: LocalStore,
  ) {}

  async renderWrite(select: string, bindings: RelationBindings, target: WriteTarget): Promise<RenderedStatement[]> {
    const bound = await this.bind(bindings, select);
    const single = !target.partitionedBy?.length;
    const output = `<temporary ${single ? 'file' : 'folder'} in ${this.processed.pathOf(target.prefix)}, renamed into it after the COPY>`;
    const { copy } = duckdbWriteStatements<string>(select, bound, target, { literal: (value) => `'${value}'`, output });
    this.written.add(target.prefix);
    return [
      ...this.takePending(),
      { role: `COPY: writes ${target.table} as Parquet under ${target.prefix}; the columns each file holds are checked against the contract (a DESCRIBE names them when they differ)`, ...copy },
    ];
  }

  async renderQuery(sql: string, bindings?: RelationBindings): Promise<RenderedStatement[]> {
    const { entries, params } = bindings ? await this.bind(bindings, sql) : { entries: [], params: [] };
    return [...this.takePending(), { role: 'SELECT: read-only query', sql: prependCtes(sql, entries), params }];
  }

  private takePending(): RenderedStatement[] {
    return this.pending.splice(0);
  }

  private bind(bindings: RelationBindings, sql: string): Promise<{ entries: string[]; params: string[] }> {
    const files = (paths: readonly string[]): string => `[${paths.map((p) => `'${p}'`).join(', ')}]`;
    return duckdbEntries<string>(bindings, sql, {
      batchFile: async (relation) => {
        const scratch = `<scratch folder>/batch_${relation.table}.parquet`;
        const raw = relation.keys.map((key) => this.ingestion.pathOf(key));
        if (this.parsed.get(relation.table) !== raw.join('\n')) {
          this.parsed.set(relation.table, raw.join('\n'));
          this.pending.push({ role: `COPY: the batch's raw files of ${relation.table} parsed once into scratch Parquet`, sql: batchFileStatement(relation), params: [files(raw), scratch] });
        }
        return scratch;
      },
      rawFiles: (relation) => files(relation.keys.map((key) => this.ingestion.pathOf(key))),
      parquetFiles: async (relation) => {
        const found: string[] = [];
        for (const prefix of relation.prefixes) {
          if (this.written.has(prefix)) found.push(`<the file(s) written under ${this.processed.pathOf(prefix)}>`);
          else for await (const { key } of this.processed.list(prefix)) if (key.endsWith('.parquet')) found.push(this.processed.pathOf(key));
        }
        return found.length ? files(found) : undefined;
      },
    });
  }
}
