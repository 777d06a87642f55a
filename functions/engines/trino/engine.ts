import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { SourceTableName } from '../../core/contract/source-tables';
import { rawPrefix } from '../../core/lake/lake-layout';
import { localFiles, type LocalFiles, type ObjectStore } from '../../core/ports/object-store';
import type { QueryAnswer, QueryEngine, QueryStats, RelationBindings, RenderedStatement, StatementRenderer, WriteTarget } from '../../core/ports/query-engine';
import { compileRelations, relationEntries, type RelationColumn, type RelationReader } from '../../core/sql/relations';
import { prependCtes, quoteLakeIdent, stringLiteral } from '../../core/sql/sql-text';
import { TrinoClient, TrinoQueryError, type TrinoClientOptions, type TrinoResult } from './client';
import {
  createSchemaSql,
  dropOutputSql,
  outputColumns,
  registerPrefixSql,
  syncPartitionsSql,
  partitionValuesQuery,
  planWrite,
  prefixTableName,
  qualifiedTable,
  rawTableName,
  rawTableSql,
  trinoLocation,
  trinoRawTableDdl,
  unionSql,
  type PartitionValues,
  type SqlNamespace,
} from './relations';

/**
 * The query engine for a Trino server: a team's own Trino, or the one the test suite starts to
 * prove the Athena statements (Athena engine v3 is Trino).
 *
 * It submits exactly what the Athena engine submits, from the same generator (`./relations.ts`,
 * dialect `trino`): `CREATE TABLE … WITH (format = 'PARQUET', external_location = …) AS WITH
 * <bindings> … SELECT`, and `INSERT INTO` for the further chunks of a write over 100 partitions.
 * The relations a statement reads (core/sql/relations.ts) are read the same way too:
 *  - raw files (`batch_<t>`, `raw_<t>`): the raw table `raw_<t>` (gzip NDJSON, Glue's column types,
 *    partitioned by `dt`), filtered to their (dt, batch id) slices. The engine creates the raw
 *    tables and registers new `dt` partitions (`system.sync_partition_metadata`) where Glue would
 *    use partition projection;
 *  - Parquet prefixes (`current_<t>`, `previous_<t>`, star tables): one external Parquet table per
 *    location of the processed store (see {@link prefixTableName}); a location with no files is an
 *    empty relation of the contract's columns.
 *
 * What the server needs: a Hive catalog (default `lake`) that can read and write the lake — S3 for
 * S3 stores; for folder stores `fs.native-local.enabled=true` with `local.location` = `localRoot`
 * — and `hive.non-managed-table-writes-enabled=true` (writes go to locations the pipeline chooses).
 * The session time zone is UTC, as on Athena, so timestamps without a zone mean their wall clock.
 */
export interface TrinoEngineOptions {
  /** Coordinator URL, e.g. `http://localhost:8080`. */
  url: string;
  ingestion: ObjectStore;
  processed: ObjectStore;
  /** Hive catalog over the lake (default `lake`). */
  catalog?: string;
  /** Schema of the raw tables `raw_<table>` (default `totes_raw`); created when missing. */
  rawSchema?: string;
  /** Schema of the current-state, star and output tables (default `totes_processed`); created when missing. */
  processedSchema?: string;
  /** `local.location` of the catalog, for folder stores (default `/`). */
  localRoot?: string;
  /** Trino user (default `totes`). */
  user?: string;
  /** Longest a single statement may run (default 10 minutes). */
  timeoutMs?: number;
  /** Called after every statement Trino completed (context, query id, elapsed ms). */
  onStatement?: TrinoClientOptions['onStatement'];
}

/** Builds the Trino engine (the CLI's `--engine trino --trino-url …`). */
export function createTrinoEngine(options: TrinoEngineOptions): TrinoEngine {
  return new TrinoEngine(options);
}

/** The names a Trino engine (or its renderer) gives the lake's tables, from its options. */
function trinoNames(options: Pick<TrinoEngineOptions, 'catalog' | 'rawSchema' | 'processedSchema' | 'localRoot'>): { catalog: string; localRoot: string; ns: SqlNamespace } {
  const catalog = options.catalog ?? 'lake';
  quoteLakeIdent(catalog);
  return { catalog, localRoot: options.localRoot ?? '/', ns: { catalog, rawDatabase: options.rawSchema ?? 'totes_raw', processedDatabase: options.processedSchema ?? 'totes_processed' } };
}

export class TrinoEngine implements QueryEngine {
  readonly name = 'trino' as const;
  /** Bytes scanned are Trino's physical input bytes, what Athena (engine v3 is Trino) reports as `DataScannedInBytes`. */
  readonly measuresScan = true;
  readonly client: TrinoClient;
  readonly ns: SqlNamespace;
  private readonly catalog: string;
  private readonly localRoot: string;
  private schemasReady?: Promise<void>;
  /** Raw tables created in this process, with the `dt` partitions known to be registered. */
  private readonly rawPartitions = new Map<SourceTableName, Set<string>>();
  /** Tables over processed-store prefixes registered (or written) in this process, by qualified name (a prefix and its columns). */
  private readonly registered = new Set<string>();
  /**
   * What is being set up now: raw tables (per source table, one after another) and prefixes being
   * registered. A batch sends independent statements together (core/transform/concurrently.ts), and
   * two of them may need the same table: the second waits for the first's DDL instead of racing it.
   */
  private readonly rawSetup = new Map<SourceTableName, Promise<void>>();
  private readonly registering = new Map<string, Promise<void>>();
  /** The processed store's files, when they are local (a folder store): cleared and named here. */
  private readonly local: LocalFiles | undefined;

  constructor(private readonly options: TrinoEngineOptions) {
    ({ catalog: this.catalog, localRoot: this.localRoot, ns: this.ns } = trinoNames(options));
    this.local = localFiles(options.processed);
    this.client = new TrinoClient({
      url: options.url,
      user: options.user,
      catalog: this.catalog,
      timeoutMs: options.timeoutMs,
      onStatement: options.onStatement,
      // Parquet compression as on Athena (write_compression = 'ZSTD' there, a session property here).
      session: { [`${this.catalog}.compression_codec`]: 'ZSTD' },
    });
  }

  async write(select: string, bindings: RelationBindings, target: WriteTarget): Promise<QueryStats> {
    const started = Date.now();
    const where = `${target.origin} (table ${target.table}, batch ${target.batchId})`;
    await this.ensureSchemas();
    const relations = await this.bind(bindings);
    const { table, location } = this.processedTable(target.prefix, target.columns.map((c) => ({ name: c.name, type: c.trinoType })));

    // A re-run of a batch writes the same prefix again: forget the earlier table, clear the files.
    await this.client.execute(dropOutputSql(table), `Dropping the earlier output table of ${where}`);
    this.registered.delete(table);
    await this.clearPrefix(target.prefix, where);

    let partitions: PartitionValues[] | undefined;
    let bytesScanned = 0;
    if (target.partitionedBy?.length) {
      const found = await this.client.execute(partitionValuesQuery(select, relations, target), `Listing the partitions of ${where}`);
      partitions = found.rows.map((row) => row.map((v) => (v === null ? null : String(v))));
      bytesScanned += found.physicalInputBytes;
    }
    const statements = planWrite({ dialect: 'trino', table, location, select, relations, target, partitions });
    let rows = 0;
    for (const [i, sql] of statements.entries()) {
      const context = statements.length > 1 ? `${where}, statement ${i + 1} of ${statements.length}` : where;
      const result = await this.client.execute(sql, context).catch((err: unknown) => {
        if (i === 0 && isEmptyLocationError(err)) return this.createEmpty(table, location, target, context);
        throw err;
      });
      rows += result.updateCount ?? 0;
      bytesScanned += result.physicalInputBytes;
    }
    this.registered.add(table);
    await this.nameParquetFiles(target.prefix);

    const files: string[] = [];
    for await (const info of this.options.processed.list(target.prefix)) {
      if (!info.key.split('/').some((part) => part.startsWith('.') || part.startsWith('_'))) files.push(info.key);
    }
    // As Athena counts them: the partition listing and the planned statements (not the DDL above).
    return { rows, bytesScanned, elapsedMs: Date.now() - started, files, statements: statements.length + (partitions ? 1 : 0) };
  }

  /**
   * Runs a read-only query with the relations bound. Values come back as Trino encodes them in
   * JSON: numbers for integers, text for decimals, dates and times ('12.30', '2024-01-31').
   */
  async query(sql: string, bindings?: RelationBindings): Promise<Record<string, unknown>[]> {
    return (await this.select(sql, bindings)).rows;
  }

  /** A query's rows, and the bytes Trino read for them (physical input bytes). */
  async select(sql: string, bindings?: RelationBindings): Promise<QueryAnswer> {
    const head = sql.replace(/^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*/, '');
    if (!/^(select|with|values|\()/i.test(head)) throw new Error(`Only read-only SELECT queries can run against the lake; got: ${sql.slice(0, 200)}`);
    await this.ensureSchemas();
    const relations = bindings ? await this.bind(bindings) : [];
    const result = await this.client.execute(prependCtes(sql, relations), 'Query');
    return { rows: result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c.name, row[i]]))), bytesScanned: result.physicalInputBytes };
  }

  async close(): Promise<void> {
    // Stateless over HTTP: nothing to release.
  }

  private ensureSchemas(): Promise<void> {
    this.schemasReady ??= (async () => {
      for (const schema of [this.ns.rawDatabase, this.ns.processedDatabase]) {
        await this.client.execute(createSchemaSql(this.catalog, schema), `Creating schema ${this.catalog}.${schema}`);
      }
    })().catch((err: unknown) => {
      this.schemasReady = undefined;
      throw err;
    });
    return this.schemasReady;
  }

  /** The WITH entries binding every relation `bindings` names. */
  private bind(bindings: RelationBindings): Promise<string[]> {
    const reader: RelationReader = {
      raw: async (relation) => {
        await this.ensureRaw(relation.table, relation.slices.map((s) => s.dt));
        return rawTableSql(this.ns, relation);
      },
      parquet: async (relation) => {
        const tables: string[] = [];
        for (const prefix of relation.prefixes) {
          if (await hasObjects(this.options.processed, prefix)) tables.push(await this.registerPrefix(relation.name, prefix, relation.columns));
        }
        return tables.length ? unionSql(tables, relation.columns) : undefined;
      },
      columnType: (type) => type,
    };
    return relationEntries(compileRelations(bindings), reader);
  }

  /** The Trino table standing for a processed-store prefix, and its location. */
  private processedTable(prefix: string, columns: readonly RelationColumn[]): { table: string; location: string } {
    const location = trinoLocation(this.options.processed, prefix, this.localRoot);
    return { table: qualifiedTable(this.ns, this.ns.processedDatabase, prefixTableName(prefix, location, columns)), location };
  }

  /**
   * A CTAS that selects no rows writes no file, and Trino's file metastore (unlike Glue) refuses
   * to record a table whose location does not exist. Such an output is recorded as an empty table
   * over a created folder instead: the same result (no rows) that Athena's CTAS gives.
   */
  private async createEmpty(table: string, location: string, target: WriteTarget, context: string): Promise<TrinoResult> {
    if (!this.local) throw new Error(`${context}: Trino could not record an empty output at ${location}`);
    await fs.mkdir(this.local.pathOf(target.prefix), { recursive: true });
    const cols = outputColumns(target).map((c) => `${quoteLakeIdent(c.name)} ${c.type}`).join(', ');
    const partitioned = target.partitionedBy?.length ? `, partitioned_by = ARRAY[${target.partitionedBy.map(stringLiteral).join(', ')}]` : '';
    return this.client.execute(`CREATE TABLE ${table} (${cols}) WITH (format = 'PARQUET', external_location = ${stringLiteral(location)}${partitioned})`, `${context} (no rows)`);
  }

  /**
   * The raw table of a source table, with the `dt` partitions `dts` registered. A table of that
   * name left by another lake (one Trino schema, two lake folders) is re-pointed at this lake:
   * dropping an external table forgets its metadata only, never its files.
   */
  private ensureRaw(table: SourceTableName, dts: readonly string[]): Promise<void> {
    const next = (this.rawSetup.get(table) ?? Promise.resolve()).catch(() => undefined).then(() => this.ensureRawNow(table, dts));
    this.rawSetup.set(table, next);
    return next;
  }

  private async ensureRawNow(table: SourceTableName, dts: readonly string[]): Promise<void> {
    let known = this.rawPartitions.get(table);
    const qualified = qualifiedTable(this.ns, this.ns.rawDatabase, rawTableName(table));
    if (!known) {
      const location = trinoLocation(this.options.ingestion, rawPrefix(table), this.localRoot);
      const existing = await this.client
        .execute(`SHOW CREATE TABLE ${qualified}`, `Reading the definition of ${qualified}`)
        .then((r) => /external_location = '((?:[^']|'')*)'/.exec(String(r.rows[0]?.[0] ?? ''))?.[1]?.replace(/''/g, "'") ?? '')
        .catch((err: unknown) => {
          if (err instanceof TrinoQueryError && err.errorName === 'TABLE_NOT_FOUND') return undefined;
          throw err;
        });
      if (existing !== undefined && existing !== location) {
        await this.client.execute(`DROP TABLE ${qualified}`, `Re-pointing ${qualified} from ${existing} to ${location}`);
      }
      if (existing !== location) await this.client.execute(trinoRawTableDdl(this.ns, table, location), `Creating raw table ${qualified}`);
      known = new Set();
      this.rawPartitions.set(table, known);
    }
    const wanted = new Set(dts);
    if ([...wanted].every((dt) => known.has(dt))) return;
    // Glue finds dt partitions by projection; a Hive metastore must be told. ADD only: never drops.
    await this.client.execute(syncPartitionsSql(this.ns, table), `Registering the dt partitions of ${qualified}`);
    for (const dt of wanted) known.add(dt);
  }

  /** The table over a location of the processed store, registered once with the relation's columns. */
  private async registerPrefix(name: string, prefix: string, columns: readonly RelationColumn[]): Promise<string> {
    const { table: qualified, location } = this.processedTable(prefix, columns);
    if (!this.registered.has(qualified)) {
      let registering = this.registering.get(qualified);
      if (!registering) {
        registering = this.client
          .execute(registerPrefixSql(qualified, columns, location), `Registering ${prefix} of ${this.options.processed.name} as ${name}`)
          .then(() => void this.registered.add(qualified))
          .finally(() => this.registering.delete(qualified));
        this.registering.set(qualified, registering);
      }
      await registering;
    }
    return qualified;
  }

  /**
   * Trino names its output files `<query id>_<uuid>`, without an extension. In a folder store they
   * get `.parquet` appended, so the local tools that pick Parquet files by name (the DuckDB engine,
   * `totes query`) read a lake Trino built; Trino itself reads every non-hidden file of a location.
   */
  private async nameParquetFiles(prefix: string): Promise<void> {
    if (!this.local) return;
    for (const file of await walk(this.local.pathOf(prefix))) {
      const name = path.basename(file);
      if (!name.startsWith('.') && !name.startsWith('_') && !name.endsWith('.parquet')) await fs.rename(file, `${file}.parquet`);
    }
  }

  /**
   * Removes what an earlier attempt left under `prefix`: Trino refuses to create a table over a
   * location that exists (even empty, on the local file system). Only folder stores can be cleared
   * here; on S3 a non-empty prefix is reported.
   */
  private async clearPrefix(prefix: string, where: string): Promise<void> {
    if (this.local) {
      await fs.rm(this.local.pathOf(prefix), { recursive: true, force: true });
      return;
    }
    if (await hasObjects(this.options.processed, prefix)) {
      throw new Error(`${where}: ${this.options.processed.uri(prefix)} already holds files from an earlier attempt and this store cannot delete them; remove them and run again`);
    }
  }
}

/**
 * What the Trino engine would send, rendered without a server (`totes compile --engine trino`): the
 * same statements from the same generators (`./relations.ts`), in the engine's order — the schemas
 * once; per raw table its DDL (the engine sends it when the table is missing or points elsewhere) and
 * the `dt` partition sync; per processed prefix read, its table (`CREATE TABLE IF NOT EXISTS`, once,
 * for a prefix holding files or written by this renderer); per write, the output table dropped and
 * the CTAS. A write of more than 100 partitions is split by the engine after a partition query;
 * rendered, it is one CTAS (the partitions are not known without running the SELECT).
 */
export class TrinoRenderer implements StatementRenderer {
  readonly name = 'trino' as const;
  private readonly catalog: string;
  private readonly localRoot: string;
  private readonly ns: SqlNamespace;
  private schemas = false;
  private readonly rawPartitions = new Map<SourceTableName, Set<string>>();
  private readonly registered = new Set<string>();
  private readonly written = new Set<string>();
  private pending: RenderedStatement[] = [];

  constructor(private readonly options: Omit<TrinoEngineOptions, 'url' | 'user' | 'timeoutMs' | 'onStatement'>) {
    ({ catalog: this.catalog, localRoot: this.localRoot, ns: this.ns } = trinoNames(options));
  }

  async renderWrite(select: string, bindings: RelationBindings, target: WriteTarget): Promise<RenderedStatement[]> {
    this.ensureSchemas();
    const relations = await this.bind(bindings);
    const location = trinoLocation(this.options.processed, target.prefix, this.localRoot);
    const table = qualifiedTable(this.ns, this.ns.processedDatabase, prefixTableName(target.prefix, location, target.columns.map((c) => ({ name: c.name, type: c.trinoType }))));
    this.pending.push({ role: `DROP: forgets an earlier output table of ${target.prefix} (its files are cleared too)`, sql: dropOutputSql(table) });
    const statements = planWrite({ dialect: 'trino', table, location, select, relations, target });
    statements.forEach((sql, i) => this.pending.push({ role: i === 0 ? `CTAS: writes ${target.table} as Parquet at ${location}` : 'INSERT INTO: a further chunk of partitions', sql }));
    this.written.add(target.prefix);
    this.registered.add(table);
    return this.pending.splice(0);
  }

  async renderQuery(sql: string, bindings?: RelationBindings): Promise<RenderedStatement[]> {
    this.ensureSchemas();
    const relations = bindings ? await this.bind(bindings) : [];
    this.pending.push({ role: 'SELECT: read-only query', sql: prependCtes(sql, relations) });
    return this.pending.splice(0);
  }

  private ensureSchemas(): void {
    if (this.schemas) return;
    this.schemas = true;
    for (const schema of [this.ns.rawDatabase, this.ns.processedDatabase]) this.pending.push({ role: `schema ${this.catalog}.${schema}, once per engine`, sql: createSchemaSql(this.catalog, schema) });
  }

  private bind(bindings: RelationBindings): Promise<string[]> {
    return relationEntries(compileRelations(bindings), {
      raw: (relation) => {
        let known = this.rawPartitions.get(relation.table);
        if (!known) {
          known = new Set();
          this.rawPartitions.set(relation.table, known);
          const location = trinoLocation(this.options.ingestion, rawPrefix(relation.table), this.localRoot);
          this.pending.push({ role: `raw table of ${relation.table} (sent when missing or pointing elsewhere)`, sql: trinoRawTableDdl(this.ns, relation.table, location) });
        }
        if (!relation.slices.every((s) => known.has(s.dt))) {
          for (const s of relation.slices) known.add(s.dt);
          this.pending.push({ role: `dt partitions of raw_${relation.table} registered`, sql: syncPartitionsSql(this.ns, relation.table) });
        }
        return rawTableSql(this.ns, relation);
      },
      parquet: async (relation) => {
        const tables: string[] = [];
        for (const prefix of relation.prefixes) {
          if (!this.written.has(prefix) && !(await hasObjects(this.options.processed, prefix))) continue;
          const location = trinoLocation(this.options.processed, prefix, this.localRoot);
          const qualified = qualifiedTable(this.ns, this.ns.processedDatabase, prefixTableName(prefix, location, relation.columns));
          if (!this.registered.has(qualified)) {
            this.registered.add(qualified);
            this.pending.push({ role: `table over ${prefix} (${relation.name}), once per engine`, sql: registerPrefixSql(qualified, relation.columns, location) });
          }
          tables.push(qualified);
        }
        return tables.length ? unionSql(tables, relation.columns) : undefined;
      },
      columnType: (type) => type,
    });
  }
}

/** Files under a folder, recursively. */
async function walk(dir: string): Promise<string[]> {
  const found: string[] = [];
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return found;
    throw err;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await walk(full)));
    else found.push(full);
  }
  return found;
}

function isEmptyLocationError(err: unknown): boolean {
  return err instanceof TrinoQueryError && err.errorName === 'HIVE_METASTORE_ERROR' && /External table location does not exist/i.test(err.message);
}

async function hasObjects(store: ObjectStore, prefix: string): Promise<boolean> {
  for await (const _ of store.list(prefix)) return true;
  return false;
}

export { TrinoQueryError };
