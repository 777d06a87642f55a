import { listValue, type DuckDBValue } from '@duckdb/node-api';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BATCH_ID_COLUMN } from '../../core/contract/source-tables';
import { LINEAGE_COLUMNS } from '../../core/contract/star-tables';
import type { LocalFiles, ObjectStore } from '../../core/ports/object-store';
import type { RelationBindings, WriteTarget } from '../../core/ports/query-engine';
import { compileRelations, mentionedRelations, relationEntries, type ParquetRelation, type RawRelation, type RelationColumn } from '../../core/sql/relations';
import { prependCtes, quoteIdent, stripOuter } from '../../core/sql/sql-text';
import type { DuckDbClient, DuckDbSession } from './client';

/** A store whose objects DuckDB reads in place: a folder store. */
export type LocalStore = ObjectStore & LocalFiles;

/** WITH entries and the prepared-statement parameters (`$1`… in order) they use. */
export interface BoundEntries {
  entries: string[];
  params: DuckDBValue[];
}

/**
 * DuckDB's reading of the relations a statement reads (core/sql/relations.ts), over the two lake
 * folders:
 *  - raw files through `read_json` with the column types of the table contract, never inferred, so
 *    a batch of NULLs still has the right columns; a batch's own files are parsed once into a
 *    scratch Parquet file ({@link DuckDbRelations.batchFile});
 *  - Parquet prefixes through `read_parquet` of the files under them; a location without files is
 *    an empty relation of the contract's columns.
 * File lists are prepared-statement parameters, never spliced into the SQL.
 */
export class DuckDbRelations {
  /**
   * Per source table and raw files, the scratch file holding their rows ({@link batchFile}):
   * statements running at once that read the same batch wait for the one parse. Each is its own
   * file, so a batch staged while the input check reads a later batch of the same table (transform.ts)
   * never has its rows swapped under it; `users` counts the statements bound to it, and a file
   * is removed only when none is and a later batch of its table was parsed.
   */
  private readonly batchFiles = new Map<string, BatchFile>();
  /** Per source table, the raw files a statement bound last (the entry kept when no statement reads it). */
  private readonly latest = new Map<string, string>();
  /**
   * Per source table, the raw files `prepare` parsed last that no statement has bound yet: kept
   * too, so a transform that first handles an older pending batch of the table leaves the newer
   * batch's parse for its turn (one per table: a later prepare of the table replaces it).
   */
  private readonly prepared = new Map<string, string>();
  /** Scratch folder of the batch files, made on first use. */
  private scratch?: Promise<string>;
  /** Scratch files named so far (each parse writes a file of its own). */
  private filesNamed = 0;

  constructor(
    private readonly client: DuckDbClient,
    private readonly ingestion: LocalStore,
    private readonly processed: LocalStore,
  ) {}

  /**
   * Parses the raw files of every batch relation `sql` names that no statement parsed yet, each on
   * a connection of its own and all at once (a batch's first statement, its input check, reads every
   * table with rows: parsed one after another they were most of its time). Called before the
   * statement takes its own connection, so it never waits for one while holding another.
   */
  async parseBatches(bindings: RelationBindings, sql: string): Promise<void> {
    const batches = mentionedRelations(compileRelations(bindings), sql).filter((r): r is RawRelation => r.kind === 'raw' && r.batchId !== undefined);
    await Promise.all(batches.map((relation) => this.batchFile(relation).written));
  }

  /**
   * Starts parsing the raw files of each table in `batch` (QueryEngine `prepare`), each on a
   * connection of its own, without waiting: a statement that binds the same files later waits for
   * that parse. A parse that fails is forgotten (`batchFile`), and that statement parses again and
   * reports its error; so is a list of files that does not name one batch. The promise settles,
   * never rejecting, once the parses are done (the engine's close waits for it).
   */
  async prepare(batch: RelationBindings['batch']): Promise<void> {
    let relations;
    try {
      relations = compileRelations({ batch, current: {}, star: {} });
    } catch {
      return;
    }
    const parses = relations.filter((r): r is RawRelation => r.kind === 'raw' && r.batchId !== undefined).map((relation) => this.batchFile(relation, undefined, true).written);
    await Promise.allSettled(parses);
  }

  /**
   * The entries binding the relations of `bindings` that `sql` names ({@link duckdbEntries}); a
   * batch's raw files are parsed on `session` when no statement did yet. The batch files bound stay
   * until `release()`, which the caller runs once the statement is done.
   */
  async bind(bindings: RelationBindings, sql: string, session: DuckDbSession): Promise<BoundEntries & { release(): void }> {
    const used: BatchFile[] = [];
    const release = () => {
      for (const file of used.splice(0)) {
        file.users -= 1;
        this.evict(file.table);
      }
    };
    try {
      const bound = await duckdbEntries<DuckDBValue>(bindings, sql, {
        batchFile: (relation) => {
          const file = this.batchFile(relation, session);
          file.users += 1;
          used.push(file);
          return file.written;
        },
        rawFiles: (relation) => listValue(relation.keys.map((key) => this.ingestion.pathOf(key))),
        parquetFiles: async (relation) => {
          const files = (await Promise.all(relation.prefixes.map((p) => this.parquetFiles(p)))).flat();
          return files.length ? listValue(files) : undefined;
        },
      });
      return { ...bound, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Parquet files under a key prefix of the processed store, as paths (a missing folder has none). */
  async parquetFiles(prefix: string): Promise<string[]> {
    const found: string[] = [];
    for await (const { key } of this.processed.list(prefix)) if (key.endsWith('.parquet')) found.push(this.processed.pathOf(key));
    return found;
  }

  /** Removes the scratch folder. */
  async close(): Promise<void> {
    const scratch = this.scratch;
    this.scratch = undefined;
    this.batchFiles.clear();
    this.latest.clear();
    this.prepared.clear();
    if (scratch) await fs.rm(await scratch, { recursive: true, force: true });
  }

  /**
   * The rows of a batch's raw files of one table, parsed once into a Parquet file in a scratch
   * folder: a batch's statements read them many times (input checks, current state, dim_date,
   * facts, data tests), and parsing gzip JSON lines is most of their cost on a large batch, while
   * Parquet reads back fast and streams (holding them in a DuckDB table instead doubled the peak
   * memory of a 1M-order first batch). Raw files are immutable, so the list of files identifies
   * the rows. A table's earlier batch files are removed once no statement reads them, so a
   * long-running `totes run --every` holds about one batch per table (two while a batch `prepare`
   * parsed waits for its turn), not its history; close() removes the folder. `prepared`: parsed
   * for `prepare`, not for a statement.
   */
  private batchFile(relation: RawRelation, session?: DuckDbSession, prepared = false): BatchFile {
    const files = relation.keys.map((key) => this.ingestion.pathOf(key));
    const identity = `${relation.table}\n${files.join('\n')}`;
    if (prepared) {
      this.prepared.set(relation.table, identity);
    } else {
      this.latest.set(relation.table, identity);
      if (this.prepared.get(relation.table) === identity) this.prepared.delete(relation.table);
    }
    const parsed = this.batchFiles.get(identity);
    if (parsed) return parsed;
    this.scratch ??= fs.mkdtemp(path.join(os.tmpdir(), 'totes-duckdb-'));
    const name = `batch_${relation.table}_${++this.filesNamed}.parquet`;
    const written = (async () => {
      const target = path.join(await this.scratch!, name);
      const parse = (on: DuckDbSession) =>
        on.run(
          batchFileStatement(relation),
          [listValue(files), target],
          `Reading the batch's raw files of ${relation.table} (${relation.keys[0]}${relation.keys.length > 1 ? ` and ${relation.keys.length - 1} more` : ''})`,
        );
      // On the statement's own connection when it binds one not parsed yet; else on a connection of its own.
      await (session ? parse(session) : this.client.session(parse));
      return target;
    })();
    const entry: BatchFile = { table: relation.table, written, users: 0 };
    this.batchFiles.set(identity, entry);
    // A parse that failed is not kept: the next statement reading the batch parses it again.
    written.catch(() => {
      if (this.batchFiles.get(identity) === entry) this.batchFiles.delete(identity);
    });
    this.evict(relation.table);
    return entry;
  }

  /** Removes the batch files of `table` that no statement reads, but the one parsed last. */
  private evict(table: string): void {
    for (const [identity, file] of this.batchFiles) {
      if (file.table !== table || file.users > 0 || identity === this.latest.get(table) || identity === this.prepared.get(table)) continue;
      this.batchFiles.delete(identity);
      void file.written.then(
        (written) => fs.rm(written, { force: true }).catch(() => undefined),
        () => undefined,
      );
    }
  }
}

/** A batch's scratch Parquet file ({@link DuckDbRelations} `batchFile`). */
interface BatchFile {
  table: string;
  written: Promise<string>;
  /** Statements bound to it that have not finished. */
  users: number;
}

/**
 * What a binding reads, as parameters of type `P`: the engine passes DuckDB values (files it found,
 * the scratch file it parsed), the renderer (`totes compile`) their descriptions. The SQL text is the
 * same either way.
 */
export interface DuckDbSources<P> {
  /** The scratch Parquet file holding a batch relation's raw rows ({@link DuckDbRelations} `batchFile`). */
  batchFile(relation: RawRelation): Promise<P>;
  /** The raw files of a relation that is not a batch's (`raw_<t>`), as a list. */
  rawFiles(relation: RawRelation): P;
  /** The Parquet files under a relation's prefixes, as a list; undefined when there are none (the relation is then empty). */
  parquetFiles(relation: ParquetRelation): Promise<P | undefined>;
}

/**
 * The WITH entries binding the relations of `bindings` that the statement `sql` names
 * (core/sql/relations.ts `mentionedRelations`: only those are listed, parsed or read), and the
 * parameters (`$1`… in order) they use.
 */
export async function duckdbEntries<P>(bindings: RelationBindings, sql: string, sources: DuckDbSources<P>): Promise<{ entries: string[]; params: P[] }> {
  const params: P[] = [];
  const param = (value: P): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const entries = await relationEntries(mentionedRelations(compileRelations(bindings), sql), {
    raw: async (relation) =>
      relation.batchId ? `SELECT * FROM read_parquet(${param(await sources.batchFile(relation))})` : readJson(param(sources.rawFiles(relation)), relation.columns),
    parquet: async (relation) => {
      const files = await sources.parquetFiles(relation);
      if (files === undefined) return undefined;
      if (!relation.shape.startsWith('current_')) return `SELECT * FROM read_parquet(${param(files)}, hive_partitioning = false)`;
      // A source table's current state may hold segments written before the source contract gained a
      // column (README.md, "Changing a model": a new source column's history starts at the first
      // batch that carries it). Read by name, a column a file lacks is NULL — as Trino's and Athena's
      // Parquet readers do by themselves — and one no file has yet is NULL too: a typed empty row
      // set names every contract column. DuckDB drops the empty side and still pushes projections
      // and filters into the scan.
      const typed = relation.columns.map((c) => `CAST(NULL AS ${duckdbTypeOfTrino(c.type)}) AS ${quoteIdent(c.name)}`).join(', ');
      return `SELECT * FROM (SELECT ${typed} LIMIT 0) UNION ALL BY NAME SELECT * FROM read_parquet(${param(files)}, hive_partitioning = false, union_by_name = true)`;
    },
    columnType: (type) => duckdbTypeOfTrino(type),
    // A previous version is read only at a batch's keys (semi-joins), each mention with its own filter.
    inlined: (name) => /^(_segments_)?previous_/.test(name),
  });
  return { entries, params };
}

/** The statement parsing a batch's raw files (`$1`, a list) once into a scratch Parquet file (`$2`). */
export function batchFileStatement(relation: Pick<RawRelation, 'columns'>): string {
  return `COPY (${readJson('$1', relation.columns)}) TO $2 (FORMAT parquet, COMPRESSION snappy)`;
}

/** Gzip NDJSON files (a list parameter) read with the given columns and types. */
function readJson(files: string, columns: readonly RelationColumn[]): string {
  const struct = columns.map((c) => `${quoteIdent(c.name)}: '${duckdbTypeOfTrino(c.type)}'`).join(', ');
  return `SELECT * FROM read_json(${files}, format = 'newline_delimited', compression = 'gzip', columns = {${struct}})`;
}

/** The DuckDB type for a Trino type name of a write target or a relation column. */
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

/**
 * The statements of a write, from one generator for the engine and the renderer: `COPY (…) TO $n`
 * of the projection ({@link projection}) into the output file `output`, followed by every column
 * of the SELECT that the target does not have (`* EXCLUDE (…)`, nothing when it matches) and
 * returning each file's column statistics (`RETURN_STATS`): a column the SELECT lacks fails the
 * COPY, one too many is a column of the file, so the one statement both writes and checks the
 * columns ({@link writtenColumns}; issue 14, item 1: a separate DESCRIBE bound the whole statement
 * once more). The `DESCRIBE` of the SELECT is run only when that check fails, to name the columns
 * ({@link checkProduced}). `bound.params` are the bindings' parameters; each statement gets its own list.
 */
export function duckdbWriteStatements<P>(
  select: string,
  bound: { entries: readonly string[]; params: readonly P[] },
  target: WriteTarget,
  values: { literal: (value: string) => P; output: P },
): { describe: { sql: string; params: P[] }; copy: { sql: string; params: P[] } } {
  const statement = (tail: string): string => prependCtes(`WITH _result AS (\n${stripOuter(select)}\n)\n${tail}`, bound.entries);
  const params = [...bound.params];
  const columns = projection(target, params, values.literal);
  params.push(values.output);
  const partitionedBy = target.partitionedBy ?? [];
  const options = partitionedBy.length === 0
    ? 'FORMAT parquet, COMPRESSION zstd, RETURN_STATS true'
    : `FORMAT parquet, COMPRESSION zstd, PARTITION_BY (${partitionedBy.map((n) => quoteIdent(n)).join(', ')}), RETURN_STATS true`;
  const others = `* EXCLUDE (${target.columns.map((c) => quoteIdent(c.name)).join(', ')})`;
  // In key order where the target asks (WriteTarget.sortedBy); a partitioned write is by partition already.
  const orderBy = target.sortedBy?.length && !partitionedBy.length ? `\nORDER BY ${target.sortedBy.map((n) => quoteIdent(n)).join(', ')}` : '';
  return {
    describe: { sql: `DESCRIBE ${statement('SELECT * FROM _result')}`, params: [...bound.params] },
    copy: { sql: `COPY (${statement(`SELECT ${columns},\n  ${others} FROM _result${orderBy}`)}) TO $${params.length} (${options})`, params },
  };
}

/**
 * The columns a write's COPY put in each file it wrote, from its `RETURN_STATS` rows; undefined when
 * it wrote no file (a partitioned write of no rows), which tells nothing about the SELECT's columns.
 */
export function writtenColumns(stats: readonly Record<string, unknown>[]): string[][] | undefined {
  if (!stats.length) return undefined;
  return stats.map((row) => ((row.column_statistics ?? []) as { key: string }[]).map(({ key }) => key.replace(/^"(.*)"$/, '$1').replace(/""/g, '"')));
}

/** The columns each file of a write holds when its SELECT produces exactly the target's: the target's and the appended lineage, less the partition columns (in the file's path). */
export function expectedFileColumns(target: WriteTarget): string[] {
  const names = target.columns.map((c) => c.name);
  const partitions = new Set(target.partitionedBy ?? []);
  return [...names, ...LINEAGE_COLUMNS.filter((n) => !names.includes(n))].filter((n) => !partitions.has(n));
}

/** `produced` (the SELECT's columns, from DESCRIBE) must be exactly the target's; `where` names the statement. */
export function checkProduced(target: WriteTarget, produced: readonly string[], where: string): void {
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
}

/**
 * The output columns of a write: the target's, in order, cast to their types; then each lineage
 * column the target does not list, set to this write's batch and SQL hash as parameters (as the
 * Athena and Trino engines do, ../trino/relations.ts `outputColumns`). A listed lineage column is
 * data from the SELECT.
 */
export function projection<P>(target: WriteTarget, params: P[], literal: (value: string) => P): string {
  const wanted = new Set(target.columns.map((c) => c.name));
  const where = `${target.origin} (table ${target.table}, batch ${target.batchId})`;
  const columns = target.columns.map((c) => `CAST(${quoteIdent(c.name)} AS ${duckdbTypeOfTrino(c.trinoType, where)}) AS ${quoteIdent(c.name)}`);
  for (const name of LINEAGE_COLUMNS) {
    if (wanted.has(name)) continue;
    params.push(literal(name === BATCH_ID_COLUMN ? target.batchId : target.sqlHash));
    columns.push(`CAST($${params.length} AS VARCHAR) AS ${quoteIdent(name)}`);
  }
  return columns.join(',\n  ');
}
