import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { QueryEngine, QueryStats, RelationBindings, WriteTarget } from '../../core/ports/query-engine';
import { prependCtes, quoteIdent, stripOuter } from '../../core/sql/sql-text';
import { DuckDbClient } from './client';
import { DuckDbRelations, projection, type LocalStore } from './relations';

/**
 * The local query engine: DuckDB (in memory, one connection: `./client.ts`) over the two lake
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
  private readonly client = new DuckDbClient();
  private readonly relations: DuckDbRelations;

  constructor(
    ingestion: LocalStore,
    private readonly processed: LocalStore,
  ) {
    this.relations = new DuckDbRelations(this.client, ingestion, processed);
  }

  /** An engine with its connection open and the Trino-name macros registered. */
  static async create(ingestion: LocalStore, processed: LocalStore): Promise<DuckDbEngine> {
    const engine = new DuckDbEngine(ingestion, processed);
    await engine.client.open();
    return engine;
  }

  async write(select: string, bindings: RelationBindings, target: WriteTarget): Promise<QueryStats> {
    return this.client.serial(async () => {
      const started = Date.now();
      const where = `${target.origin} (table ${target.table}, batch ${target.batchId})`;
      const { entries, params } = await this.relations.bind(bindings);
      const statement = (tail: string): string => prependCtes(`WITH _result AS (\n${stripOuter(select)}\n)\n${tail}`, entries);

      const produced = (await this.client.run(`DESCRIBE ${statement('SELECT * FROM _result')}`, params, where)).map((row) => String(row.column_name));
      const columns = projection(target, produced, params, where);

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
      const copied = await this.client.run(`COPY (${statement(`SELECT ${columns} FROM _result`)}) TO $${params.length} (${options})`, params, where).catch(
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
      const files = (await this.relations.parquetFiles(target.prefix)).map((file) => `${target.prefix}${path.relative(dir, file).split(path.sep).join('/')}`);

      return {
        rows: Number(copied[0]?.Count ?? 0),
        bytesScanned: 0,
        elapsedMs: Date.now() - started,
        files,
      };
    });
  }

  async query(sql: string, bindings?: RelationBindings): Promise<Record<string, unknown>[]> {
    return this.client.serial(async () => {
      const { entries, params } = bindings ? await this.relations.bind(bindings) : { entries: [], params: [] };
      return this.client.select(prependCtes(sql, entries), params, sql);
    });
  }

  async close(): Promise<void> {
    if (await this.client.close()) await this.relations.close();
  }
}
