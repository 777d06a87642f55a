import { createHash } from 'node:crypto';
import path from 'node:path';
import type { SourceTableName } from '../../core/contract/source-tables';
import { LINEAGE_COLUMNS } from '../../core/contract/star-tables';
import { BATCH_ID_PATTERN } from '../../core/lake/lake-layout';
import type { ObjectStore } from '../../core/ports/object-store';
import type { WriteTarget } from '../../core/ports/query-engine';
import { rawColumns, rawSliceFilter, type RawRelation } from '../../core/sql/relations';
import { prependCtes, quoteLakeIdent, splitSelect, stringLiteral } from '../../core/sql/sql-text';

/**
 * Trino's SQL: how the relations a statement reads (core/sql/relations.ts) and the statements around
 * a `sql/transform/*.sql` SELECT are written for a Trino server — and for Athena, whose engine v3 is
 * Trino (../athena/relations.ts uses this with dialect `athena`).
 *
 * A transform file is one SELECT that reads relations by name (`batch_<table>`, `current_<table>`,
 * star tables). A write becomes:
 *
 *   CREATE TABLE "<db>"."<tmp>" WITH (format = 'PARQUET', …, external_location = 's3://…/') AS
 *   WITH "batch_sales_order" AS (SELECT … FROM "<raw db>"."raw_sales_order" WHERE dt = … AND _batch_id = …),
 *        "current_address" AS (SELECT * FROM "<db>"."<staged table>"),
 *        <the file's own WITH entries, if any>,
 *        _totes_result AS (<the file's SELECT>),
 *        _totes_output AS (SELECT CAST("col" AS <type>) AS "col", …, '<batch>' AS "_batch_id", … FROM _totes_result)
 *   SELECT * FROM _totes_output
 *
 * Everything here is pure text generation, unit-tested without an engine. Values never come from
 * users: batch ids and dates come from our manifests and are validated against their patterns
 * before they become literals; identifiers come from the contracts and are validated too.
 */

export type SqlDialect = 'athena' | 'trino';

/** Where tables live. Trino names a catalog in front; Athena's default catalog is Glue's. */
export interface SqlNamespace {
  catalog?: string;
  /** Database (Trino: schema) of the raw tables `raw_<table>`. */
  rawDatabase: string;
  /** Database of the star, current-state and staged tables. */
  processedDatabase: string;
}

/** Athena fails a query that writes more than this many partitions (HIVE_TOO_MANY_OPEN_PARTITIONS). */
export const MAX_PARTITIONS_PER_WRITE = 100;

const TYPE = /^[a-z]+( [a-z]+)*(\(\d+(, ?\d+)?\))?$/;
const RESULT = '_totes_result';
const OUTPUT = '_totes_output';

/** `"catalog"."database"."table"` (Trino) or `"database"."table"` (Athena). */
export function qualifiedTable(ns: SqlNamespace, database: string, table: string): string {
  return [ns.catalog, database, table].filter((p): p is string => p !== undefined).map(quoteLakeIdent).join('.');
}

export const rawTableName = (table: SourceTableName): string => `raw_${table}`;

/** A Trino type as written into the lake: Hive tables (Glue, Parquet) have no TIME, so times are 'HH:MM:SS.fff' text. */
export function storageType(type: string): string {
  if (!TYPE.test(type)) throw new Error(`"${type}" is not a column type the contracts declare`);
  return /^time(\(\d+\))?$/.test(type) ? 'varchar' : type;
}

function cast(column: string, type: string): string {
  const stored = storageType(type);
  const col = quoteLakeIdent(column);
  // A time goes through time(3) first so that '9:05' and TIME '09:05:00' both become '09:05:00.000'.
  if (stored !== type) return `CAST(CAST(${col} AS time(3)) AS varchar) AS ${col}`;
  return `CAST(${col} AS ${type}) AS ${col}`;
}

/**
 * Reads a raw relation from the raw table `raw_<table>`, filtered to its (dt, batch) slices
 * (core/sql/relations.ts `rawSliceFilter`): the engine prunes to those partitions and files.
 */
export function rawTableSql(ns: SqlNamespace, relation: RawRelation): string {
  const columns = relation.columns.map((c) => quoteLakeIdent(c.name)).join(', ');
  return `SELECT ${columns} FROM ${qualifiedTable(ns, ns.rawDatabase, rawTableName(relation.table))} WHERE ${rawSliceFilter(relation)}`;
}

/** The union of tables the engine registered (e.g. a fact read from several prefixes). */
export function unionSql(qualified: readonly string[], columns?: readonly { name: string }[]): string {
  if (qualified.length === 0) throw new Error('A relation must be bound to at least one table');
  // With the relation's columns, each table gives exactly those, by name: tables registered by
  // different writes of one shape may declare extra columns (a write's lineage) or, after a contract
  // change, a different set (prefixTableName).
  const list = columns?.length ? columns.map((c) => quoteLakeIdent(c.name)).join(', ') : '*';
  return qualified.map((q) => `SELECT ${list} FROM ${q}`).join(' UNION ALL ');
}

function validBatchId(id: string): string {
  if (!BATCH_ID_PATTERN.test(id)) throw new Error(`"${id}" is not a batch id; it cannot be bound into SQL`);
  return id;
}

/** One output column: taken from the SELECT (cast to its type) or a lineage constant. */
interface OutputColumn {
  name: string;
  expression: string;
  type: string;
}

/**
 * Output columns of a write, in the order the table stores them: the target's columns cast to
 * their types; then each lineage column (`_batch_id`, `_sql_hash`) the target does not already
 * list, set to this write's batch and SQL hash; partition columns last, as Hive requires.
 * A lineage column the target lists (e.g. a current-state table's `_batch_id`, the batch that
 * extracted the row) is data from the SELECT, not overwritten.
 */
export function outputColumns(target: WriteTarget): OutputColumn[] {
  const listed = new Set(target.columns.map((c) => c.name));
  const columns: OutputColumn[] = target.columns.map((c) => ({ name: c.name, expression: cast(c.name, c.trinoType), type: storageType(c.trinoType) }));
  const lineage: Record<(typeof LINEAGE_COLUMNS)[number], string> = { _batch_id: validBatchId(target.batchId), _sql_hash: target.sqlHash };
  for (const name of LINEAGE_COLUMNS) {
    if (!listed.has(name)) columns.push({ name, expression: `CAST(${stringLiteral(lineage[name])} AS varchar) AS ${quoteLakeIdent(name)}`, type: 'varchar' });
  }
  const partitionedBy = target.partitionedBy ?? [];
  for (const p of partitionedBy) {
    if (!columns.some((c) => c.name === p)) throw new Error(`Partition column ${p} of ${target.table} is not one of its columns (${target.origin})`);
  }
  return [...columns.filter((c) => !partitionedBy.includes(c.name)), ...partitionedBy.map((p) => columns.find((c) => c.name === p)!)];
}

/** A set of partitions, as the values of the partition columns (null = Hive's default partition). */
export type PartitionValues = readonly (string | null)[];

/**
 * The query part of a write: bindings, the file's WITH entries, the SELECT, then the cast and
 * lineage projection; optionally only rows of the given partitions (see {@link planWrite}).
 */
export function writeQuery(select: string, relations: readonly string[], target: WriteTarget, only?: readonly PartitionValues[]): string {
  const { ctes, body } = splitSelect(select);
  const columns = outputColumns(target);
  const where = only ? `\nWHERE ${partitionFilter(target, only)}` : '';
  const query = `WITH\n${RESULT} AS (\n${body}\n),\n${OUTPUT} AS (SELECT ${columns.map((c) => c.expression).join(', ')} FROM ${RESULT})\nSELECT * FROM ${OUTPUT}${where}`;
  return prependCtes(query, [...relations, ...(ctes ? [ctes] : [])]);
}

function partitionFilter(target: WriteTarget, only: readonly PartitionValues[]): string {
  const partitionedBy = target.partitionedBy ?? [];
  const types = new Map(outputColumns(target).map((c) => [c.name, c.type]));
  if (only.length === 0) return 'false';
  return only
    .map((values) => {
      if (values.length !== partitionedBy.length) throw new Error(`Partition of ${target.table} needs ${partitionedBy.length} values, got ${values.length}`);
      const parts = partitionedBy.map((p, i) => {
        const v = values[i];
        return v === null ? `${quoteLakeIdent(p)} IS NULL` : `${quoteLakeIdent(p)} = CAST(${stringLiteral(v)} AS ${types.get(p)})`;
      });
      return `(${parts.join(' AND ')})`;
    })
    .join(' OR ');
}

/** Table properties of a CTAS: Parquet + ZSTD (Athena; Trino sets compression per session). */
function tableProperties(dialect: SqlDialect, location: string, partitionedBy: readonly string[]): string {
  const props = [`format = 'PARQUET'`];
  if (dialect === 'athena') props.push(`write_compression = 'ZSTD'`);
  props.push(`external_location = ${stringLiteral(location)}`);
  if (partitionedBy.length > 0) props.push(`partitioned_by = ARRAY[${partitionedBy.map(stringLiteral).join(', ')}]`);
  return props.join(', ');
}

export interface WriteStatementInput {
  dialect: SqlDialect;
  /** Qualified name of the table the CTAS creates / the INSERT fills (a temporary table of the engine). */
  table: string;
  /** Full URI of `target.prefix` (`s3://bucket/prefix/`); must be empty for a CTAS. */
  location: string;
  select: string;
  relations: readonly string[];
  target: WriteTarget;
  /** Only rows of these partitions (a chunk of a split write). */
  only?: readonly PartitionValues[];
}

/** `CREATE TABLE <table> WITH (format = 'PARQUET', …, external_location = …) AS <query>`. */
export function ctasStatement(input: WriteStatementInput): string {
  const { dialect, table, location, select, relations, target, only } = input;
  if (!location.endsWith('/')) throw new Error(`Write location ${location} of ${target.table} must end with '/'`);
  return `CREATE TABLE ${table}\nWITH (${tableProperties(dialect, location, target.partitionedBy ?? [])})\nAS\n${writeQuery(select, relations, target, only)}`;
}

/** `INSERT INTO <table> (<columns>) <query>`: the second and later chunks of a split write. */
export function insertStatement(input: Omit<WriteStatementInput, 'dialect' | 'location'>): string {
  const { table, select, relations, target, only } = input;
  const names = outputColumns(target).map((c) => quoteLakeIdent(c.name)).join(', ');
  return `INSERT INTO ${table} (${names})\n${writeQuery(select, relations, target, only)}`;
}

/**
 * The distinct partitions a write would create, for deciding whether to split it. Run it only for
 * targets with `partitionedBy`; each result row is one partition's values in `partitionedBy` order.
 */
export function partitionValuesQuery(select: string, relations: readonly string[], target: WriteTarget): string {
  const partitionedBy = target.partitionedBy ?? [];
  if (partitionedBy.length === 0) throw new Error(`${target.table} is not partitioned; it needs no partition query`);
  const cols = partitionedBy.map(quoteLakeIdent).join(', ');
  return `SELECT DISTINCT ${cols} FROM (\n${writeQuery(select, relations, target)}\n) ORDER BY ${cols}`;
}

/**
 * The statements of one write, in order. An unpartitioned target, or one writing at most
 * {@link MAX_PARTITIONS_PER_WRITE} partitions, is one CTAS. A larger write is a CTAS of the first
 * chunk of partitions, then one INSERT INTO per further chunk, each touching at most `limit`
 * partitions (Athena's limit); all chunks write under the same location.
 */
export function planWrite(input: Omit<WriteStatementInput, 'only'> & { partitions?: readonly PartitionValues[]; limit?: number }): string[] {
  const { partitions, limit = MAX_PARTITIONS_PER_WRITE, ...rest } = input;
  if (!(limit >= 1)) throw new Error(`Partition limit must be at least 1, got ${limit}`);
  if (!rest.target.partitionedBy?.length || partitions === undefined || partitions.length <= limit) return [ctasStatement(rest)];
  const chunks: PartitionValues[][] = [];
  for (let i = 0; i < partitions.length; i += limit) chunks.push(partitions.slice(i, i + limit));
  return chunks.map((only, i) => (i === 0 ? ctasStatement({ ...rest, only }) : insertStatement({ ...rest, only })));
}

/**
 * Trino DDL of a raw table over the ingestion bucket: gzip NDJSON (Trino detects the `.gz`
 * suffix), partitioned by `dt`, with the same column types as the Glue definitions. Trino's Hive
 * connector does not discover partitions: call `system.sync_partition_metadata` (or register
 * them) after creating it.
 */
export function trinoRawTableDdl(ns: SqlNamespace, table: SourceTableName, location: string): string {
  const cols = [...rawColumns(table), { name: 'dt', type: 'varchar' }].map((c) => `${quoteLakeIdent(c.name)} ${c.type}`).join(',\n  ');
  return `CREATE TABLE IF NOT EXISTS ${qualifiedTable(ns, ns.rawDatabase, rawTableName(table))} (\n  ${cols}\n)\nWITH (format = 'JSON', external_location = ${stringLiteral(location)}, partitioned_by = ARRAY['dt'])`;
}

/** `CREATE SCHEMA IF NOT EXISTS` of a schema of the lake's catalog. */
export function createSchemaSql(catalog: string, schema: string): string {
  return `CREATE SCHEMA IF NOT EXISTS ${quoteLakeIdent(catalog)}.${quoteLakeIdent(schema)}`;
}

/** Registers the `dt` partitions a raw table's location holds (ADD only: never drops). */
export function syncPartitionsSql(ns: SqlNamespace, table: SourceTableName): string {
  return `CALL ${quoteLakeIdent(ns.catalog ?? 'lake')}.system.sync_partition_metadata(schema_name => ${stringLiteral(ns.rawDatabase)}, table_name => ${stringLiteral(rawTableName(table))}, mode => 'ADD')`;
}

/** The external Parquet table standing for a location of the processed store ({@link prefixTableName}). */
export function registerPrefixSql(qualified: string, columns: readonly { name: string; type: string }[], location: string): string {
  const cols = columns.map((c) => `${quoteLakeIdent(c.name)} ${c.type}`).join(', ');
  return `CREATE TABLE IF NOT EXISTS ${qualified} (${cols}) WITH (format = 'PARQUET', external_location = ${stringLiteral(location)})`;
}

/** Forgets the table of an earlier write of the same prefix (metadata only). */
export function dropOutputSql(qualified: string): string {
  return `DROP TABLE IF EXISTS ${qualified}`;
}

/**
 * How a Trino server names the lake's objects.
 *
 * An S3 store's URIs (`s3://bucket/key`) are what a Hive catalog with S3 reads, unchanged. A
 * folder store's URIs are absolute paths, which Trino reads through its native local file system
 * (`fs.native-local.enabled=true`): `local:///<path relative to local.location>`. So the engine
 * needs the `local.location` of the server's catalog (`localRoot`, `/` in the test harness); the
 * lake must lie under it, on a disk the Trino server sees.
 */
export function trinoLocation(store: ObjectStore, key: string, localRoot: string): string {
  const uri = store.uri(key);
  const slash = key.endsWith('/') ? '/' : '';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) return uri.endsWith('/') || !slash ? uri : `${uri}/`;
  if (!path.isAbsolute(uri)) throw new Error(`Object store ${store.name} gives "${uri}" for ${key}: neither a URI nor an absolute path Trino could read`);
  const relative = path.relative(path.resolve(localRoot), uri);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new Error(
      `${uri} lies outside ${localRoot}, the local.location of the Trino catalog; put the lake under it or pass the catalog's local.location as localRoot`,
    );
  }
  const posix = relative.split(path.sep).filter(Boolean).join('/');
  return `local:///${posix}${posix && slash}`;
}

/**
 * The Trino table that stands for a location of the processed store: one name per prefix, stable
 * across runs, so a prefix this engine wrote is found again and a prefix it never saw (written by
 * an earlier process, or by another engine) is registered once under the same name. The readable
 * part comes from the prefix, the suffix is a hash of the location (the lake it lies in).
 * `star/dim_staff/0000000007-20261125T204100Z-3f9a/` → `star__dim_staff__0000000007_20261125t204100z_3f9a_1a2b3c4d`.
 */
export function prefixTableName(prefix: string, location: string = prefix, columns?: readonly { name: string; type: string }[]): string {
  const readable = prefix
    .toLowerCase()
    .replace(/\/+$/, '')
    .replace(/\//g, '__')
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 100);
  // The hash is of the full location, so two lakes served by one Trino schema never share a table;
  // and of the data columns the table declares, so a prefix written before its contract gained a
  // column is registered anew, with it, by code that has it (Trino reads Parquet columns by name: a
  // column a file lacks reads NULL), rather than found again with the columns it was written with.
  // The lineage columns are left out: a write declares both, a read of a current state only one.
  const data = (columns ?? []).filter((c) => !(LINEAGE_COLUMNS as readonly string[]).includes(c.name)).map((c) => `${c.name} ${c.type}`);
  const hash = createHash('sha256').update(data.length ? `${location}\n${data.join(',')}` : location).digest('hex').slice(0, 8);
  return `${/^[a-z_]/.test(readable) ? '' : 't_'}${readable}_${hash}`;
}
