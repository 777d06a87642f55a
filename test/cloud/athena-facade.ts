import { AthenaClient, GetWorkGroupCommand, type WorkGroup } from '@aws-sdk/client-athena';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { TrinoClient, TrinoQueryError, type TrinoColumn } from '../../functions/engines/trino/client';
import type { MotoServer } from '../support/moto-server';
import { ATHENA_CATALOG, type TrinoGlueServer } from './trino-glue';

/**
 * The offline Athena: an HTTP server speaking Athena's JSON 1.1 protocol (`POST /`,
 * `X-Amz-Target: AmazonAthena.<Operation>`) that runs each query on a real Trino over moto's Glue
 * catalog and S3 (trino-glue.ts). Point the SDK at it with `AWS_ENDPOINT_URL_ATHENA` and the
 * product's own AthenaEngine runs for real: its statements are parsed, planned and executed by the
 * engine Athena v3 is, against the catalog and buckets the other adapters see.
 *
 * Served: StartQueryExecution (asynchronous: the id comes back at once, the query runs on Trino in
 * the background, QUEUED → RUNNING → SUCCEEDED | FAILED | CANCELLED), GetQueryExecution and
 * BatchGetQueryExecution (state, StateChangeReason, AthenaError, Statistics from Trino's own query
 * statistics), GetQueryResults (Athena's header row for a SELECT, ColumnInfo with Athena's type
 * names, text values, MaxResults and NextToken paging, UpdateCount), StopQueryExecution; workgroup
 * operations are forwarded to moto, which holds the workgroup the stack created. Any other
 * operation fails loudly, naming itself, and is recorded in {@link AthenaFacade.unsupported}.
 *
 * What Athena would refuse fails here too (see {@link checkStatement}): the query-text size, more
 * than one statement, statements and DDL Athena v3 does not run, and (enforced by Trino's catalog
 * configuration) more than 100 partitions written by one CTAS or INSERT INTO. The workgroup must
 * exist, be enabled and give (or be given) an output location, and its bytes-scanned cutoff applies.
 *
 * The SQL runs verbatim but for the Athena-only syntax Trino lacks, each mapping commented where it
 * is made ({@link mapToTrino}); every query records the mappings applied to it.
 */

export interface AthenaFacadeOptions {
  trino: Pick<TrinoGlueServer, 'url' | 'catalog'>;
  moto: Pick<MotoServer, 'endpoint' | 'clientConfig'>;
  /** A query running longer is stopped and FAILED, like Athena's DML query timeout (default 30 minutes). */
  queryTimeoutMs?: number;
  /** Write each SELECT's result CSV to the workgroup's output location, as Athena does (default true). */
  writeResults?: boolean;
}

export type QueryState = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

export interface AthenaErrorInfo {
  ErrorCategory: number;
  ErrorType: number;
  ErrorMessage: string;
  Retryable: boolean;
}

/** One query as the facade saw it: what the end-to-end tests count, time and sum. */
export interface FacadeQuery {
  id: string;
  /** The QueryString as the client sent it. */
  sql: string;
  /** What ran on Trino (after the Athena-only mappings). */
  trinoSql?: string;
  /** The mappings applied (e.g. `write_compression → session compression_codec`). */
  mappings: string[];
  database?: string;
  workgroup: string;
  statementType: 'DML' | 'DDL' | 'UTILITY';
  substatementType: string;
  state: QueryState;
  stateChangeReason?: string;
  error?: AthenaErrorInfo;
  trinoQueryId?: string;
  submittedAt: number;
  completedAt?: number;
  /** Submission to completion, as Athena's TotalExecutionTimeInMillis. */
  totalMs?: number;
  /** Trino's execution time, as Athena's EngineExecutionTimeInMillis. */
  engineMs?: number;
  queueMs?: number;
  planningMs?: number;
  /** Bytes Trino read from S3 (physical input), as Athena's DataScannedInBytes. */
  bytesScanned: number;
  /** Rows written by a CTAS or INSERT INTO (Athena's UpdateCount). */
  updateCount?: number;
  /** Rows a SELECT returned. */
  resultRows?: number;
  outputLocation?: string;
}

export interface AthenaFacade {
  /** `http://127.0.0.1:<port>`: the value for AWS_ENDPOINT_URL_ATHENA. */
  endpoint: string;
  /** Every query started, in order, with its state, timings and bytes scanned. */
  readonly queries: readonly FacadeQuery[];
  /** Operations a client called that the facade does not serve (each also failed the call). */
  readonly unsupported: readonly string[];
  stop(): Promise<void>;
}

/** Athena's one service error for a bad request (JSON 1.1: HTTP 400, `__type` and `message`). */
class InvalidRequest extends Error {
  readonly type: string = 'InvalidRequestException';
}

class UnknownOperation extends InvalidRequest {
  override readonly type = 'UnknownOperationException';
}

// --- Athena's limits --------------------------------------------------------------------------

/**
 * Query text: at most 262,144 bytes. "Query string length: 262,144 bytes (not adjustable)" —
 * https://docs.aws.amazon.com/athena/latest/ug/service-limits.html, and StartQueryExecution's
 * QueryString "Length Constraints: Minimum length of 1. Maximum length of 262144"
 * (https://docs.aws.amazon.com/athena/latest/APIReference/API_StartQueryExecution.html). Counted
 * in UTF-8 bytes, the stricter reading: a text within it here is within it on Athena.
 */
export const MAX_QUERY_BYTES = 262_144;

/** GetQueryResults MaxResults: 1..1000, default 1000 (API_GetQueryResults.html). */
const MAX_RESULTS = 1000;

/** Athena's default DML query timeout: 30 minutes (service-limits.html). */
const DML_TIMEOUT_MS = 30 * 60_000;

interface Token {
  kind: 'word' | 'quoted' | 'backtick' | 'string' | 'number' | 'punct';
  text: string;
  upper: string;
  start: number;
  end: number;
}

/** SQL tokens, without whitespace and comments. Strings, "identifiers" and `backticks` are single tokens. */
function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (kind: Token['kind'], start: number, end: number) => {
    const text = sql.slice(start, end);
    tokens.push({ kind, text, upper: text.toUpperCase(), start, end });
  };
  while (i < sql.length) {
    const ch = sql[i];
    if (/\s/.test(ch)) {
      i++;
    } else if (sql.startsWith('--', i)) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
    } else if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (ch === "'" || ch === '"' || ch === '`') {
      let j = i + 1;
      for (;;) {
        const end = sql.indexOf(ch, j);
        if (end < 0) {
          j = sql.length;
          break;
        }
        if (sql[end + 1] === ch) j = end + 2;
        else {
          j = end + 1;
          break;
        }
      }
      push(ch === "'" ? 'string' : ch === '"' ? 'quoted' : 'backtick', i, j);
      i = j;
    } else if (/[A-Za-z_]/.test(ch)) {
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_$@]/.test(sql[j])) j++;
      push('word', i, j);
      i = j;
    } else if (/[0-9]/.test(ch)) {
      let j = i + 1;
      while (j < sql.length && /[0-9.eE]/.test(sql[j])) j++;
      push('number', i, j);
      i = j;
    } else {
      push('punct', i, i + 1);
      i++;
    }
  }
  return tokens;
}

export interface CheckedStatement {
  statementType: FacadeQuery['statementType'];
  substatementType: string;
  /** The statement's text: the query without a trailing `;` (Athena accepts one; Trino does not). */
  text: string;
  tokens: Token[];
}

/** A statement Athena would not run: the query FAILS with this reason (Athena parses, then fails). */
export class RefusedStatement extends Error {
  constructor(
    readonly errorName: string,
    message: string,
  ) {
    super(message);
  }
}

const ATHENA_DDL_DOC = 'https://docs.aws.amazon.com/athena/latest/ug/unsupported-ddl.html';
const ATHENA_LIMITS_DOC = 'https://docs.aws.amazon.com/athena/latest/ug/other-notable-limitations.html';

/**
 * Classifies a query and refuses what Athena v3 would refuse (each rule cites its source):
 *  - more than one statement: Athena runs one SQL statement per query execution (the query editor
 *    and StartQueryExecution refuse a second one, "Only one sql statement is allowed"). A single
 *    trailing `;` is accepted, as Athena does.
 *  - CALL: "Stored procedures are not supported" (other-notable-limitations.html); Trino's Hive
 *    procedures (system.sync_partition_metadata, register_partition…) do not exist on Athena —
 *    its raw tables use partition projection instead.
 *  - DELETE, UPDATE, MERGE, TRUNCATE: supported on Athena only for transactional (Iceberg) tables;
 *    the lake's tables are Hive tables (other-notable-limitations.html, unsupported-ddl.html).
 *  - CREATE TABLE … LIKE, ALTER TABLE … RENAME TO, transactions (START TRANSACTION, COMMIT,
 *    ROLLBACK), roles and grants: listed in unsupported-ddl.html.
 *  - CREATE TABLE without AS: on Athena that is Hive DDL (`CREATE EXTERNAL TABLE … ROW FORMAT …
 *    LOCATION`); Trino's form with a column list and `WITH (format = …, external_location = …)` is
 *    a syntax error there. (The Hive form is refused too: Trino cannot parse Hive DDL, so the
 *    facade cannot serve it — the product registers tables through Glue, never through Athena DDL.)
 *  - other ALTER statements, MSCK REPAIR TABLE, UNLOAD, SET/RESET SESSION, USE: Hive DDL or
 *    Athena-only syntax Trino lacks, or Trino session statements Athena does not have.
 * Everything else that both engines run the same way (SELECT/WITH/VALUES, CTAS, INSERT INTO,
 * CREATE [OR REPLACE] VIEW, DROP TABLE/VIEW, CREATE/DROP SCHEMA, SHOW, DESCRIBE, EXPLAIN) passes.
 */
export function checkStatement(sql: string): CheckedStatement {
  const all = tokenize(sql);
  const statements: Token[][] = [[]];
  for (const t of all) {
    if (t.kind === 'punct' && t.text === ';') statements.push([]);
    else statements[statements.length - 1].push(t);
  }
  const nonEmpty = statements.filter((s) => s.length > 0);
  if (nonEmpty.length === 0) throw new RefusedStatement('SYNTAX_ERROR', 'line 1:1: the query holds no SQL statement');
  if (nonEmpty.length > 1) {
    throw new RefusedStatement('SYNTAX_ERROR', `Only one sql statement is allowed. Got: ${sql.slice(0, 300)}`);
  }
  const tokens = nonEmpty[0];
  // A trailing semicolon (and whatever comments follow it) is dropped: Athena accepts `SELECT 1;`.
  const text = sql.slice(0, tokens[tokens.length - 1].end);
  const words = tokens.map((t) => (t.kind === 'word' ? t.upper : t.text));
  const [w0, w1, w2] = words;
  const is = (...seq: string[]) => seq.every((w, i) => words[i] === w);
  const refuse = (what: string, why: string, doc = ATHENA_DDL_DOC) => {
    throw new RefusedStatement('NOT_SUPPORTED', `${what} is not supported by Athena engine v3: ${why} (${doc})`);
  };
  const notServed = (what: string) => {
    throw new RefusedStatement(
      'NOT_SUPPORTED',
      `${what} is Hive DDL or Athena-only syntax, which the offline Athena (Trino) cannot run; the product must not need it (it registers tables through Glue)`,
    );
  };
  const ok = (statementType: CheckedStatement['statementType'], substatementType: string): CheckedStatement => ({ statementType, substatementType, text, tokens });

  if (['SELECT', 'WITH', 'VALUES', 'TABLE', '('].includes(w0)) return ok('DML', 'SELECT');
  if (w0 === 'EXPLAIN') return ok('DML', 'EXPLAIN');
  if (is('INSERT', 'INTO')) return ok('DML', 'INSERT');
  if (w0 === 'SHOW') return ok('UTILITY', `SHOW_${w1 ?? ''}`);
  if (w0 === 'DESCRIBE' || w0 === 'DESC') {
    if (w1 === 'INPUT' || w1 === 'OUTPUT') refuse(`DESCRIBE ${w1}`, 'not supported', ATHENA_LIMITS_DOC);
    return ok('UTILITY', 'DESCRIBE_TABLE');
  }
  if (w0 === 'CALL') refuse('CALL', 'stored procedures are not supported (Trino connector procedures do not exist on Athena)', ATHENA_LIMITS_DOC);
  if (['DELETE', 'UPDATE', 'MERGE', 'TRUNCATE'].includes(w0)) refuse(w0, 'only transactional (Iceberg) tables support it; the lake tables are Hive tables', ATHENA_LIMITS_DOC);
  if (['START', 'COMMIT', 'ROLLBACK', 'GRANT', 'REVOKE', 'DENY'].includes(w0)) refuse(w0, 'listed as unsupported DDL');
  if (['SET', 'RESET', 'USE'].includes(w0)) refuse(`${w0} ${w1 ?? ''}`.trim(), 'Athena has no SQL session: each query is independent (its context comes with StartQueryExecution)');
  if (['MSCK', 'UNLOAD', 'LOAD'].includes(w0)) notServed(w0);
  if (w0 === 'ALTER') {
    if (w1 === 'TABLE' && words.includes('RENAME')) refuse('ALTER TABLE … RENAME TO', 'supported only for Iceberg tables');
    notServed(`ALTER ${w1 ?? ''}`.trim());
  }
  if (w0 === 'DROP') {
    if (w1 === 'TABLE') return ok('DDL', 'DROP_TABLE');
    if (w1 === 'VIEW') return ok('DDL', 'DROP_VIEW');
    if (w1 === 'SCHEMA' || w1 === 'DATABASE') return ok('DDL', 'DROP_DATABASE');
    refuse(`DROP ${w1 ?? ''}`.trim(), 'listed as unsupported DDL');
  }
  if (w0 === 'CREATE') {
    if (is('CREATE', 'OR', 'REPLACE', 'VIEW') || w1 === 'VIEW') return ok('DDL', 'CREATE_VIEW');
    if (w1 === 'SCHEMA' || w1 === 'DATABASE') return ok('DDL', 'CREATE_DATABASE');
    if (w1 === 'EXTERNAL') notServed('CREATE EXTERNAL TABLE');
    if (w1 === 'TABLE') {
      if (isCtas(tokens)) return ok('DML', 'CREATE_TABLE_AS_SELECT');
      if (words.includes('LIKE')) refuse('CREATE TABLE … LIKE', 'not supported', ATHENA_LIMITS_DOC);
      refuse(
        'CREATE TABLE without AS SELECT',
        "Athena creates Hive tables only with Hive DDL (CREATE EXTERNAL TABLE … STORED AS … LOCATION); Trino's column list with WITH (format = …, external_location = …) is a syntax error there",
      );
    }
    refuse(`CREATE ${w1 ?? ''} ${w2 ?? ''}`.trim(), 'listed as unsupported DDL');
  }
  throw new RefusedStatement('NOT_SUPPORTED', `"${w0}" statements are not served by the offline Athena: ${text.slice(0, 200)}`);
}

/** `CREATE TABLE <name> [COMMENT …] [WITH (…)] AS …`: an AS at depth 0 before any column list. */
function isCtas(tokens: Token[]): boolean {
  let depth = 0;
  for (const [i, t] of tokens.entries()) {
    if (i < 2) continue;
    if (t.text === '(') {
      // A column list comes right after the name: `CREATE TABLE x (a int)`.
      if (depth === 0 && tokens[i - 1].upper !== 'WITH') return false;
      depth++;
    } else if (t.text === ')') depth--;
    else if (depth === 0 && t.upper === 'AS' && t.kind === 'word') return true;
  }
  return false;
}

// --- Athena-only syntax → Trino ---------------------------------------------------------------

export interface MappedStatement {
  sql: string;
  session: Record<string, string>;
  mappings: string[];
}

/** Parquet compression of the tables a CTAS created with write_compression, for their INSERT INTOs. */
type CompressionByTable = Map<string, string>;

/**
 * The Athena-only syntax Trino lacks, mapped; nothing else is rewritten:
 *  - `write_compression = '<codec>'` in a CTAS's WITH list (Athena's table property,
 *    https://docs.aws.amazon.com/athena/latest/ug/create-table-as.html) does not exist in Trino's
 *    Hive connector, whose Parquet codec is the session property `<catalog>.compression_codec`:
 *    the property is removed and the session property set for that query. Athena's INSERT INTO
 *    writes with the compression of its target table (the one its CTAS chose), so an INSERT INTO a
 *    table the facade saw created with write_compression gets that session property too.
 */
export function mapToTrino(checked: CheckedStatement, database: string | undefined, compression: CompressionByTable): MappedStatement {
  const { text, tokens, substatementType } = checked;
  if (substatementType === 'INSERT') {
    const codec = compression.get(tableKey(tokens.slice(2), database));
    return codec
      ? { sql: text, session: { [`${ATHENA_CATALOG}.compression_codec`]: codec }, mappings: [`INSERT INTO a table created with write_compression = '${codec}' → session ${ATHENA_CATALOG}.compression_codec`] }
      : { sql: text, session: {}, mappings: [] };
  }
  if (substatementType !== 'CREATE_TABLE_AS_SELECT') return { sql: text, session: {}, mappings: [] };
  const withAt = tokens.findIndex((t, i) => t.upper === 'WITH' && tokens[i + 1]?.text === '(');
  const asAt = tokens.findIndex((t, i) => i > 1 && t.upper === 'AS' && t.kind === 'word');
  if (withAt < 0 || withAt > asAt) return { sql: text, session: {}, mappings: [] };
  // The property list: entries between the parentheses, split at depth-0 commas.
  const entries: Token[][] = [[]];
  let depth = 0;
  let close = -1;
  for (let i = withAt + 2; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.text === '(' || t.text === '[') depth++;
    if (t.text === ')' || t.text === ']') {
      if (depth === 0) {
        close = i;
        break;
      }
      depth--;
    }
    if (depth === 0 && t.text === ',') entries.push([]);
    else entries[entries.length - 1].push(t);
  }
  const found = entries.find((e) => e[0]?.upper === 'WRITE_COMPRESSION');
  if (!found || close < 0) return { sql: text, session: {}, mappings: [] };
  const value = found.find((t) => t.kind === 'string');
  if (!value) throw new RefusedStatement('INVALID_TABLE_PROPERTY', `write_compression must be a string literal: ${text.slice(found[0].start, found[found.length - 1].end)}`);
  const codec = value.text.slice(1, -1).replace(/''/g, "'").toUpperCase();
  const kept = entries.filter((e) => e !== found && e.length > 0).map((e) => text.slice(e[0].start, e[e.length - 1].end));
  const sql = `${text.slice(0, tokens[withAt + 1].end)}${kept.join(', ')}${text.slice(tokens[close].start)}`;
  compression.set(tableKey(tokens.slice(2, withAt), database), codec);
  return {
    sql,
    session: { [`${ATHENA_CATALOG}.compression_codec`]: codec },
    mappings: [`write_compression = '${codec}' → session ${ATHENA_CATALOG}.compression_codec`],
  };
}

/** `db.table` (lower case, unquoted) from the tokens of a table name; unqualified names take `database`. */
function tableKey(tokens: Token[], database: string | undefined): string {
  const parts: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'punct' && t.text === '.') continue;
    if (t.kind === 'word' && ['IF', 'NOT', 'EXISTS'].includes(t.upper)) continue;
    if (t.kind !== 'word' && t.kind !== 'quoted' && t.kind !== 'backtick') break;
    parts.push((t.kind === 'word' ? t.text : t.text.slice(1, -1)).toLowerCase());
  }
  const name = parts.slice(-2);
  return (name.length === 1 ? [database ?? '', name[0]] : name).join('.');
}

// --- Trino results and statistics as Athena shows them -----------------------------------------

/** Athena's ColumnInfo for a Trino column type: the base type name, precision and scale apart. */
export function columnInfo(column: TrinoColumn): Record<string, unknown> {
  const type = column.type.toLowerCase();
  const params = /^[a-z ]+\((\d+)(?:,\s*(\d+))?\)/.exec(type);
  const base = type.replace(/\(.*?\)/, '').replace(/\s+/g, ' ').trim().replace(/^(array|map|row) .*$/, '$1');
  const precision: Record<string, number> = { tinyint: 3, smallint: 5, integer: 10, bigint: 19, real: 7, double: 17, boolean: 0, date: 0, varchar: 2147483647 };
  const name = base.startsWith('timestamp') || base.startsWith('time') ? base : base.split(' ')[0];
  return {
    CatalogName: 'hive',
    SchemaName: '',
    TableName: '',
    Name: column.name,
    Label: column.name,
    Type: name,
    Precision: params ? Number(params[1]) : (precision[name] ?? 0),
    Scale: params?.[2] !== undefined ? Number(params[2]) : 0,
    Nullable: 'UNKNOWN',
    CaseSensitive: name === 'varchar' || name === 'char',
  };
}

/** A Trino JSON value as Athena's text (VarCharValue); undefined for NULL. */
export function athenaText(value: unknown, type: string): string | undefined {
  if (value === null || value === undefined) return undefined;
  const t = type.toLowerCase();
  if ((t === 'double' || t === 'real') && typeof value === 'number') return javaFloat(value);
  if (Array.isArray(value)) {
    const inner = /^array\((.*)\)$/.exec(t)?.[1] ?? '';
    return `[${value.map((v) => athenaText(v, inner) ?? 'null').join(', ')}]`;
  }
  if (typeof value === 'object') return `{${Object.entries(value as Record<string, unknown>).map(([k, v]) => `${k}=${athenaText(v, '') ?? 'null'}`).join(', ')}}`;
  return String(value);
}

/** Java's Double.toString, which Athena's text results use: `1.0`, `0.1`, `1.0E7`, `1.5E-4`. */
function javaFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(n);
  if (abs >= 1e-3 && abs < 1e7) {
    const s = String(n);
    return s.includes('.') ? s : `${s}.0`;
  }
  const [mantissa, exponent] = n.toExponential().split('e');
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}E${Number(exponent)}`;
}

/** Trino's Duration text (`6.30s`, `5.44ms`, `275.47us`) in milliseconds. */
function durationMs(text: unknown): number {
  const m = /^([\d.]+)\s*(ns|us|ms|s|m|h|d)$/.exec(String(text ?? ''));
  if (!m) return 0;
  const factor: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  return Math.round(Number(m[1]) * factor[m[2]]);
}

/** Trino's DataSize text (`30060B`, `1.5kB`, `2MB`) in bytes. */
function dataSizeBytes(text: unknown): number {
  const m = /^([\d.]+)\s*(B|kB|MB|GB|TB|PB)$/.exec(String(text ?? ''));
  if (!m) return 0;
  const factor: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4, PB: 1024 ** 5 };
  return Math.round(Number(m[1]) * factor[m[2]]);
}

const queryInfoSchema = z
  .object({
    queryId: z.string(),
    state: z.string(),
    queryStats: z.object({ queuedTime: z.unknown(), planningTime: z.unknown(), executionTime: z.unknown(), physicalInputDataSize: z.unknown() }).passthrough(),
    errorType: z.string().optional(),
    errorCode: z.object({ name: z.string(), type: z.string().optional() }).optional(),
    failureInfo: z.object({ message: z.string().nullish() }).passthrough().nullish(),
  })
  .passthrough();
type QueryInfo = z.infer<typeof queryInfoSchema>;

/**
 * Athena's error catalog (https://docs.aws.amazon.com/athena/latest/ug/error-reference.html):
 * category 1 system, 2 user; type 1000 user error, 1001 data error, 0 resources exhausted,
 * 200 engine internal error, 204 metastore error. Only exhausted resources are retryable.
 */
function athenaError(errorName: string, errorType: string | undefined, message: string): AthenaErrorInfo {
  const [category, type, retryable] =
    errorName === 'HIVE_BAD_DATA' || errorName === 'HIVE_CURSOR_ERROR'
      ? [2, 1001, false]
      : errorName === 'HIVE_METASTORE_ERROR'
        ? [1, 204, false]
        : errorType === 'USER_ERROR'
          ? [2, 1000, false]
          : errorType === 'INSUFFICIENT_RESOURCES'
            ? [1, 0, true]
            : [1, 200, false];
  return { ErrorCategory: category, ErrorType: type, ErrorMessage: message, Retryable: retryable };
}

// --- the server --------------------------------------------------------------------------------

interface Execution extends FacadeQuery {
  user: string;
  columns?: TrinoColumn[];
  rows?: unknown[][];
  stopRequested: boolean;
  done: Promise<void>;
  queryExecutionContext: { Database?: string; Catalog?: string };
}

const startSchema = z.object({
  QueryString: z.string(),
  ClientRequestToken: z.string().optional(),
  QueryExecutionContext: z.object({ Database: z.string().optional(), Catalog: z.string().optional() }).optional(),
  ResultConfiguration: z.object({ OutputLocation: z.string().optional() }).passthrough().optional(),
  WorkGroup: z.string().optional(),
  ExecutionParameters: z.array(z.string()).optional(),
});
const idSchema = z.object({ QueryExecutionId: z.string() });
const resultsSchema = z.object({ QueryExecutionId: z.string(), NextToken: z.string().optional(), MaxResults: z.number().optional() });
const batchSchema = z.object({ QueryExecutionIds: z.array(z.string()) });

/** Workgroup operations answered by moto, which holds the workgroup Terraform created. */
const FORWARDED = new Set(['GetWorkGroup', 'ListWorkGroups', 'CreateWorkGroup', 'DeleteWorkGroup', 'UpdateWorkGroup', 'ListTagsForResource', 'TagResource', 'UntagResource']);

/** Starts the facade on a free port of 127.0.0.1. */
export async function startAthenaFacade(options: AthenaFacadeOptions): Promise<AthenaFacade> {
  const executions = new Map<string, Execution>();
  const queries: Execution[] = [];
  const unsupported: string[] = [];
  const byToken = new Map<string, string>();
  const compression: CompressionByTable = new Map();
  const motoAthena = new AthenaClient({ ...options.moto.clientConfig, maxAttempts: 2 });
  const motoS3 = new S3Client({ ...options.moto.clientConfig, maxAttempts: 2 });
  const trinoUrl = options.trino.url.replace(/\/+$/, '');
  const timeoutMs = options.queryTimeoutMs ?? DML_TIMEOUT_MS;
  const writeResults = options.writeResults ?? true;
  const trinoHeaders = { 'X-Trino-User': 'athena-facade' };

  async function workgroup(name: string): Promise<WorkGroup> {
    try {
      const found = (await motoAthena.send(new GetWorkGroupCommand({ WorkGroup: name }))).WorkGroup;
      if (!found) throw new InvalidRequest(`WorkGroup ${name} is not found.`);
      return found;
    } catch (err) {
      if (err instanceof InvalidRequest) throw err;
      throw new InvalidRequest(`WorkGroup ${name} is not found. (moto answered: ${(err as Error).name}: ${(err as Error).message})`);
    }
  }

  async function start(body: unknown): Promise<unknown> {
    const input = parse(startSchema, body, 'StartQueryExecution');
    // Athena: the same ClientRequestToken returns the same query (an SDK retry never runs a query twice).
    if (input.ClientRequestToken) {
      const earlier = byToken.get(input.ClientRequestToken);
      if (earlier) {
        if (executions.get(earlier)?.sql !== input.QueryString) throw new InvalidRequest('Idempotent parameters do not match');
        return { QueryExecutionId: earlier };
      }
    }
    const bytes = Buffer.byteLength(input.QueryString, 'utf8');
    if (bytes < 1 || bytes > MAX_QUERY_BYTES) {
      throw new InvalidRequest(`1 validation error detected: Value at 'queryString' failed to satisfy constraint: Member must have length less than or equal to ${MAX_QUERY_BYTES} (this one has ${bytes} bytes)`);
    }
    if (input.ExecutionParameters?.length) throw new UnknownOperation('ExecutionParameters (parameterized queries) are not served by the offline Athena');
    const catalog = input.QueryExecutionContext?.Catalog;
    if (catalog && catalog.toLowerCase() !== ATHENA_CATALOG) throw new InvalidRequest(`Catalog ${catalog} is not served by the offline Athena (only AwsDataCatalog)`);
    const name = input.WorkGroup ?? 'primary';
    const wg = await workgroup(name);
    if (wg.State === 'DISABLED') throw new InvalidRequest(`WorkGroup ${name} is disabled.`);
    const engine = wg.Configuration?.EngineVersion?.SelectedEngineVersion;
    if (engine && !/^(AUTO|Athena engine version 3)$/.test(engine)) {
      throw new InvalidRequest(`WorkGroup ${name} selects ${engine}; the offline Athena serves Athena engine version 3 only`);
    }
    // Where results go: the workgroup's location when it enforces its configuration, else the
    // request's; with neither Athena refuses the query (API_ResultConfiguration.html, workgroups-settings-override.html).
    const enforced = wg.Configuration?.EnforceWorkGroupConfiguration === true;
    const outputLocation = enforced
      ? (wg.Configuration?.ResultConfiguration?.OutputLocation ?? input.ResultConfiguration?.OutputLocation)
      : (input.ResultConfiguration?.OutputLocation ?? wg.Configuration?.ResultConfiguration?.OutputLocation);
    if (!outputLocation) {
      throw new InvalidRequest('No output location provided. An output location is required either through the Workgroup result configuration setting or as an API input.');
    }

    const id = randomUUID();
    const database = input.QueryExecutionContext?.Database;
    const execution: Execution = {
      id,
      sql: input.QueryString,
      mappings: [],
      database,
      workgroup: name,
      statementType: 'DML',
      substatementType: 'SELECT',
      state: 'QUEUED',
      submittedAt: Date.now(),
      bytesScanned: 0,
      outputLocation: `${outputLocation.replace(/\/?$/, '/')}${id}.csv`,
      user: `athena-${id}`,
      stopRequested: false,
      done: Promise.resolve(),
      queryExecutionContext: { ...(database ? { Database: database } : {}), Catalog: catalog ?? 'AwsDataCatalog' },
    };
    executions.set(id, execution);
    queries.push(execution);
    if (input.ClientRequestToken) byToken.set(input.ClientRequestToken, id);
    execution.done = run(execution, wg.Configuration?.BytesScannedCutoffPerQuery);
    return { QueryExecutionId: id };
  }

  /** Runs one query on Trino in the background and records how it ended (a fault of the facade itself FAILS it, loudly). */
  function run(execution: Execution, cutoff: number | undefined): Promise<void> {
    return execute(execution, cutoff).catch((err: unknown) => {
      const reason = `GENERIC_INTERNAL_ERROR: the offline Athena failed: ${(err as Error).stack ?? String(err)}`;
      finishExecution(execution, 'FAILED', reason, athenaError('GENERIC_INTERNAL_ERROR', 'INTERNAL_ERROR', reason));
    });
  }

  async function execute(execution: Execution, cutoff: number | undefined): Promise<void> {
    // Athena queues a query before it runs; one turn of the event loop stands for that here.
    await new Promise((resolve) => setImmediate(resolve));
    const finish = (state: QueryState, reason?: string, error?: AthenaErrorInfo) => finishExecution(execution, state, reason, error);
    if (execution.stopRequested) return finish('CANCELLED', 'Query was cancelled by user');
    let checked: CheckedStatement;
    let mapped: MappedStatement;
    try {
      checked = checkStatement(execution.sql);
      execution.statementType = checked.statementType;
      execution.substatementType = checked.substatementType;
      mapped = mapToTrino(checked, execution.database, compression);
    } catch (err) {
      if (!(err instanceof RefusedStatement)) throw err;
      const reason = `${err.errorName}: ${err.message}`;
      return finish('FAILED', reason, athenaError(err.errorName, 'USER_ERROR', reason));
    }
    execution.trinoSql = mapped.sql;
    execution.mappings = mapped.mappings;
    execution.state = 'RUNNING';
    const started = Date.now();
    const client = new TrinoClient({
      url: trinoUrl,
      user: execution.user,
      catalog: ATHENA_CATALOG,
      schema: execution.database,
      session: mapped.session,
      timeoutMs,
    });
    try {
      const result = await client.execute(mapped.sql, `Athena query ${execution.id}`);
      execution.trinoQueryId = result.queryId;
      execution.columns = result.columns;
      execution.rows = result.rows;
      execution.updateCount = result.updateCount;
      if (execution.substatementType === 'SELECT') execution.resultRows = result.rows.length;
      const info = await queryInfo(result.queryId);
      record(execution, info, started);
      if (cutoff !== undefined && execution.bytesScanned > cutoff) {
        // Athena cancels a query once it scans past the workgroup's per-query cutoff
        // (https://docs.aws.amazon.com/athena/latest/ug/workgroups-setting-control-limits-cloudwatch.html);
        // here the query has finished when that is known, so what it wrote stays written.
        return finish('CANCELLED', `Query cancelled! : Bytes scanned limit was exceeded (${execution.bytesScanned} > ${cutoff})`);
      }
      if (writeResults && execution.substatementType === 'SELECT') await putResultCsv(execution);
      finish('SUCCEEDED');
    } catch (err) {
      const queryId = err instanceof TrinoQueryError ? err.queryId : undefined;
      execution.trinoQueryId = queryId;
      const info = queryId ? await queryInfo(queryId).catch(() => undefined) : undefined;
      if (info) record(execution, info, started);
      const errorName = info?.errorCode?.name ?? (err instanceof TrinoQueryError ? err.errorName : undefined) ?? 'GENERIC_INTERNAL_ERROR';
      if (execution.stopRequested && (errorName === 'USER_CANCELED' || errorName === 'ADMINISTRATIVELY_KILLED')) return finish('CANCELLED', 'Query was cancelled by user');
      const message = info?.failureInfo?.message ?? trinoMessage(err);
      const reason = `${errorName}: ${message}`;
      finish('FAILED', reason, athenaError(errorName, info?.errorType ?? info?.errorCode?.type, reason));
    }
  }

  function record(execution: Execution, info: QueryInfo, started: number): void {
    const stats = info.queryStats;
    execution.engineMs = durationMs(stats.executionTime);
    execution.planningMs = durationMs(stats.planningTime);
    execution.queueMs = started - execution.submittedAt + durationMs(stats.queuedTime);
    execution.bytesScanned = dataSizeBytes(stats.physicalInputDataSize);
  }

  async function queryInfo(queryId: string): Promise<QueryInfo> {
    const res = await fetch(`${trinoUrl}/v1/query/${encodeURIComponent(queryId)}`, { headers: trinoHeaders });
    if (!res.ok) throw new Error(`Trino has no query info for ${queryId}: HTTP ${res.status}`);
    return parse(queryInfoSchema, await res.json(), `Trino query info of ${queryId}`);
  }

  /** Athena writes a SELECT's result as CSV (every value quoted, NULL empty) to the output location, with the caller's rights. */
  async function putResultCsv(execution: Execution): Promise<void> {
    const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(execution.outputLocation ?? '');
    if (!m) throw new Error(`Output location ${execution.outputLocation} is not an s3:// URI`);
    const quote = (v: string | undefined) => (v === undefined ? '' : `"${v.replace(/"/g, '""')}"`);
    const columns = execution.columns ?? [];
    const lines = [columns.map((c) => quote(c.name)).join(','), ...(execution.rows ?? []).map((row) => row.map((v, i) => quote(athenaText(v, columns[i].type))).join(','))];
    await motoS3.send(new PutObjectCommand({ Bucket: m[1], Key: m[2], Body: `${lines.join('\n')}\n`, ServerSideEncryption: 'AES256', ContentType: 'text/csv' }));
  }

  /** Cancels the Trino query of an execution (found by its per-query user), retrying until it ends. */
  async function cancel(execution: Execution): Promise<void> {
    execution.stopRequested = true;
    let ended = false;
    void execution.done.then(() => (ended = true));
    const deadline = Date.now() + 30_000;
    while (!ended && Date.now() < deadline) {
      const res = await fetch(`${trinoUrl}/v1/query`, { headers: trinoHeaders }).catch(() => undefined);
      const list = res?.ok ? ((await res.json()) as { queryId: string; state: string; session?: { user?: string } }[]) : [];
      for (const q of list.filter((q) => q.session?.user === execution.user && !['FINISHED', 'FAILED'].includes(q.state))) {
        await fetch(`${trinoUrl}/v1/query/${encodeURIComponent(q.queryId)}`, { method: 'DELETE', headers: trinoHeaders }).catch(() => undefined);
      }
      await Promise.race([execution.done, new Promise((r) => setTimeout(r, 100))]);
    }
  }

  function describe(execution: Execution): Record<string, unknown> {
    const now = Date.now();
    const terminal = execution.completedAt !== undefined;
    return {
      QueryExecutionId: execution.id,
      Query: execution.sql,
      StatementType: execution.statementType,
      SubstatementType: execution.substatementType,
      ResultConfiguration: { OutputLocation: execution.outputLocation, EncryptionConfiguration: { EncryptionOption: 'SSE_S3' } },
      ResultReuseConfiguration: { ResultReuseByAgeConfiguration: { Enabled: false } },
      QueryExecutionContext: execution.queryExecutionContext,
      Status: {
        State: execution.state,
        ...(execution.stateChangeReason ? { StateChangeReason: execution.stateChangeReason } : {}),
        SubmissionDateTime: execution.submittedAt / 1000,
        ...(terminal ? { CompletionDateTime: execution.completedAt! / 1000 } : {}),
        ...(execution.error ? { AthenaError: execution.error } : {}),
      },
      Statistics: {
        EngineExecutionTimeInMillis: execution.engineMs ?? (terminal ? 0 : now - execution.submittedAt),
        DataScannedInBytes: execution.bytesScanned,
        TotalExecutionTimeInMillis: execution.totalMs ?? now - execution.submittedAt,
        QueryQueueTimeInMillis: execution.queueMs ?? 0,
        QueryPlanningTimeInMillis: execution.planningMs ?? 0,
        ServicePreProcessingTimeInMillis: 0,
        ServiceProcessingTimeInMillis: 0,
        ResultReuseInformation: { ReusedPreviousResult: false },
      },
      WorkGroup: execution.workgroup,
      EngineVersion: { SelectedEngineVersion: 'Athena engine version 3', EffectiveEngineVersion: 'Athena engine version 3' },
      ExecutionParameters: [],
    };
  }

  function find(id: string): Execution {
    const execution = executions.get(id);
    if (!execution) throw new InvalidRequest(`QueryExecution ${id} was not found`);
    return execution;
  }

  function results(body: unknown): unknown {
    const input = parse(resultsSchema, body, 'GetQueryResults');
    const execution = find(input.QueryExecutionId);
    if (execution.state === 'QUEUED' || execution.state === 'RUNNING') throw new InvalidRequest(`Query has not yet finished. Current state: ${execution.state}`);
    if (execution.state !== 'SUCCEEDED') throw new InvalidRequest(`Query did not finish successfully. Final query state: ${execution.state}${execution.stateChangeReason ? `\n${execution.stateChangeReason}` : ''}`);
    const max = input.MaxResults ?? MAX_RESULTS;
    if (!Number.isInteger(max) || max < 1 || max > MAX_RESULTS) {
      throw new InvalidRequest(`1 validation error detected: Value '${max}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to ${MAX_RESULTS}`);
    }
    let offset = 0;
    if (input.NextToken) {
      const token = decodeToken(input.NextToken);
      if (!token || token.id !== execution.id) throw new InvalidRequest(`NextToken ${input.NextToken} is not a token of query ${execution.id}`);
      offset = token.offset;
    }
    const columns = execution.columns ?? [];
    const isWrite = execution.substatementType === 'CREATE_TABLE_AS_SELECT' || execution.substatementType === 'INSERT';
    const update = isWrite ? (execution.updateCount ?? Number(execution.rows?.[0]?.[0] ?? 0)) : 0;
    // A SELECT's first row repeats the column names; a write's result is its row count alone (UpdateCount).
    const all: { Data: { VarCharValue?: string }[] }[] = [];
    if (!isWrite && execution.statementType !== 'DDL') {
      if (execution.substatementType === 'SELECT') all.push({ Data: columns.map((c) => ({ VarCharValue: c.name })) });
      for (const row of execution.rows ?? []) all.push({ Data: row.map((v, i) => { const text = athenaText(v, columns[i]?.type ?? 'varchar'); return text === undefined ? {} : { VarCharValue: text }; }) });
    }
    const page = all.slice(offset, offset + max);
    const next = offset + max < all.length ? encodeToken({ id: execution.id, offset: offset + max }) : undefined;
    return {
      UpdateCount: update,
      ResultSet: {
        Rows: page,
        ResultSetMetadata: { ColumnInfo: isWrite ? [columnInfo({ name: 'rows', type: 'bigint' })] : execution.statementType === 'DDL' ? [] : columns.map(columnInfo) },
      },
      ...(next ? { NextToken: next } : {}),
    };
  }

  async function forward(operation: string, raw: string, headers: http.IncomingHttpHeaders): Promise<{ status: number; body: string }> {
    const pass: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) if (typeof v === 'string' && !['host', 'content-length', 'connection'].includes(k)) pass[k] = v;
    const res = await fetch(options.moto.endpoint, { method: 'POST', body: raw, headers: { ...pass, 'x-amz-target': `AmazonAthena.${operation}` } });
    return { status: res.status, body: await res.text() };
  }

  async function handle(operation: string, body: unknown): Promise<unknown> {
    switch (operation) {
      case 'StartQueryExecution':
        return start(body);
      case 'GetQueryExecution':
        return { QueryExecution: describe(find(parse(idSchema, body, operation).QueryExecutionId)) };
      case 'BatchGetQueryExecution': {
        const { QueryExecutionIds } = parse(batchSchema, body, operation);
        if (QueryExecutionIds.length < 1 || QueryExecutionIds.length > 50) throw new InvalidRequest('QueryExecutionIds must hold 1 to 50 ids');
        return {
          QueryExecutions: QueryExecutionIds.filter((id) => executions.has(id)).map((id) => describe(executions.get(id)!)),
          UnprocessedQueryExecutionIds: QueryExecutionIds.filter((id) => !executions.has(id)).map((id) => ({ QueryExecutionId: id, ErrorCode: 'INVALID_INPUT', ErrorMessage: `QueryExecution ${id} was not found` })),
        };
      }
      case 'GetQueryResults':
        return results(body);
      case 'StopQueryExecution': {
        const execution = find(parse(idSchema, body, operation).QueryExecutionId);
        if (execution.completedAt === undefined) await cancel(execution);
        return {};
      }
      default:
        unsupported.push(operation);
        throw new UnknownOperation(`The offline Athena (test/cloud/athena-facade.ts) does not serve AmazonAthena.${operation}; serve it there if the product needs it`);
    }
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const target = String(req.headers['x-amz-target'] ?? '');
        const operation = target.startsWith('AmazonAthena.') ? target.slice('AmazonAthena.'.length) : '';
        const reply = (status: number, payload: string) => {
          res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
          res.end(payload);
        };
        try {
          if (req.method !== 'POST' || !operation) throw new UnknownOperation(`Expected POST / with X-Amz-Target: AmazonAthena.<Operation>; got ${req.method} ${req.url} target "${target}"`);
          if (FORWARDED.has(operation)) {
            const answer = await forward(operation, raw, req.headers);
            return reply(answer.status, answer.body);
          }
          reply(200, JSON.stringify(await handle(operation, raw ? JSON.parse(raw) : {})));
        } catch (err) {
          if (err instanceof InvalidRequest) return reply(400, JSON.stringify({ __type: err.type, message: err.message, Message: err.message }));
          reply(500, JSON.stringify({ __type: 'InternalServerException', message: `The offline Athena failed: ${(err as Error).stack ?? String(err)}` }));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    queries,
    unsupported,
    async stop() {
      await Promise.all(queries.filter((q) => q.completedAt === undefined).map((q) => cancel(q)));
      await Promise.all(queries.map((q) => q.done.catch(() => undefined)));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      motoAthena.destroy();
      motoS3.destroy();
    },
  };
}

function finishExecution(execution: FacadeQuery, state: QueryState, reason?: string, error?: AthenaErrorInfo): void {
  execution.state = state;
  execution.stateChangeReason = reason;
  execution.error = error;
  execution.completedAt = Date.now();
  execution.totalMs = execution.completedAt - execution.submittedAt;
}

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new InvalidRequest(`${what}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

function encodeToken(token: { id: string; offset: number }): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodeToken(text: string): { id: string; offset: number } | undefined {
  try {
    const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as { id?: unknown; offset?: unknown };
    return typeof value.id === 'string' && typeof value.offset === 'number' ? { id: value.id, offset: value.offset } : undefined;
  } catch {
    return undefined;
  }
}

/** Trino's own message out of the client's error text (`… failed on Trino (NAME, query id): message`). */
function trinoMessage(err: unknown): string {
  const text = (err as Error)?.message ?? String(err);
  const m = /failed on Trino \([^)]*\): ([\s\S]*)$/.exec(text);
  return m ? m[1] : text;
}
