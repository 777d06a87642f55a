import { parseRawKey, rawKey } from '../../../functions/core/lake/lake-layout';
import { Parser } from 'node-sql-parser';
import {
  ctasStatement,
  insertStatement,
  outputColumns,
  partitionValuesQuery,
  planWrite,
  qualifiedTable,
  rawTableSql,
  storageType,
  trinoRawTableDdl,
  unionSql,
  type SqlNamespace,
} from '../../../functions/engines/trino/relations';
import { athenaRawTableDdl } from '../../../functions/engines/athena/relations';
import type { RelationBindings, WriteTarget } from '../../../functions/core/ports/query-engine';
import { compileRelations, relationEntries, type Relation } from '../../../functions/core/sql/relations';
import { prependCtes, quoteLakeIdent, splitSelect, stringLiteral } from '../../../functions/core/sql/sql-text';

const BATCH = '0000000042-20261125T204100Z-3f9a';
const ns: SqlNamespace = { rawDatabase: 'totes_raw', processedDatabase: 'totes_processed' };
const trino: SqlNamespace = { catalog: 'hive', ...ns };

const target = (over: Partial<WriteTarget> = {}): WriteTarget => ({
  table: 'dim_currency',
  prefix: `star/dim_currency/${BATCH}/`,
  columns: [
    { name: 'currency_id', trinoType: 'integer' },
    { name: 'currency_code', trinoType: 'varchar' },
  ],
  batchId: BATCH,
  sqlHash: 'abc123',
  origin: 'sql/transform/dim_currency.sql',
  ...over,
});

/** The one relation `bindings` compile to. */
function only(bindings: Partial<RelationBindings>): Relation {
  const relations = compileRelations({ batch: {}, current: {}, star: {}, ...bindings });
  expect(relations).toHaveLength(1);
  return relations[0];
}

/** The raw relation of `keys`, read from the raw table, as Trino and Athena bind it. */
function rawSql(name: 'batch' | 'raw', table: 'currency' | 'sales_order' | 'staff', keys: string[]): string {
  const relation = only({ [name]: { [table]: keys } });
  if (relation.kind !== 'raw') throw new Error(`expected a raw relation, got ${relation.kind}`);
  return rawTableSql(ns, relation);
}

/** node-sql-parser has no Trino grammar; its Athena (Presto) grammar checks the query shape. */
function parsesAsQuery(sql: string): boolean {
  new Parser().astify(sql, { database: 'athena' });
  return true;
}

describe('identifiers and literals', () => {
  it('quotes contract identifiers and refuses anything else', () => {
    expect(quoteLakeIdent('sales_order')).toBe('"sales_order"');
    expect(() => quoteLakeIdent('a"; DROP TABLE x; --')).toThrow(/not an identifier/);
    expect(() => quoteLakeIdent('Upper')).toThrow(/not an identifier/);
  });

  it('doubles quotes in literals', () => {
    expect(stringLiteral("O'Brien")).toBe("'O''Brien'");
  });

  it('qualifies with a catalog only for Trino', () => {
    expect(qualifiedTable(ns, 'totes_raw', 'raw_staff')).toBe('"totes_raw"."raw_staff"');
    expect(qualifiedTable(trino, 'totes_raw', 'raw_staff')).toBe('"hive"."totes_raw"."raw_staff"');
  });

  it('stores times as text and validates types', () => {
    expect(storageType('time(3)')).toBe('varchar');
    expect(storageType('decimal(10,2)')).toBe('decimal(10,2)');
    expect(() => storageType('integer); DROP')).toThrow(/not a column type/);
  });
});

describe('batch bindings', () => {
  it('binds batch_<table> to the raw table filtered by dt and batch id', () => {
    const keys = [`raw/currency/dt=2026-11-25/${BATCH}.ndjson.gz`];
    expect(only({ batch: { currency: keys } })).toMatchObject({ kind: 'raw', name: 'batch_currency', batchId: BATCH });
    expect(rawSql('batch', 'currency', keys)).toBe(
      `SELECT "currency_id", "currency_code", "created_at", "last_updated", "_batch_id" FROM "totes_raw"."raw_currency" ` +
        `WHERE (dt = '2026-11-25' AND "_batch_id" = '${BATCH}')`,
    );
  });

  it('collapses the parts of one batch into one filter', () => {
    const keys = [
      `raw/sales_order/dt=2026-11-25/${BATCH}.ndjson.gz`,
      ...[1, 2].map((p) => rawKey('sales_order', BATCH, { index: p, nonce: 'beef' })),
    ];
    expect(rawSql('batch', 'sales_order', keys).match(/_batch_id" =/g)).toHaveLength(1);
  });

  it('binds a table without files (no keys) as an empty relation of its columns', async () => {
    expect(only({ batch: { staff: [] } })).toMatchObject({ kind: 'empty', name: 'batch_staff' });
    const [entry] = await relationEntries(compileRelations({ batch: {}, current: {}, star: {}, raw: { staff: [] } }), {
      raw: () => 'unused',
      parquet: () => 'unused',
      columnType: (type) => type,
    });
    expect(entry).toMatch(/^"raw_staff" AS \(SELECT CAST\(NULL AS integer\) AS "staff_id", .*CAST\(NULL AS varchar\) AS "_batch_id" WHERE false\)$/);
  });

  it('binds raw_<table> to the published slices only, in batch order', () => {
    const other = '0000000043-20261126T000500Z-0b1c';
    const relation = only({ raw: { staff: [`raw/staff/dt=2026-11-26/${other}.ndjson.gz`, `raw/staff/dt=2026-11-25/${BATCH}.ndjson.gz`] } });
    expect(relation).toMatchObject({ kind: 'raw', name: 'raw_staff' });
    expect(relation).not.toHaveProperty('batchId');
    expect(rawSql('raw', 'staff', [`raw/staff/dt=2026-11-26/${other}.ndjson.gz`, `raw/staff/dt=2026-11-25/${BATCH}.ndjson.gz`])).toContain(
      `(dt = '2026-11-25' AND "_batch_id" = '${BATCH}') OR (dt = '2026-11-26' AND "_batch_id" = '${other}')`,
    );
  });

  it('refuses a batch relation over files of two batches', () => {
    const other = '0000000043-20261126T000500Z-0b1c';
    expect(() => only({ batch: { staff: [`raw/staff/dt=2026-11-26/${other}.ndjson.gz`, `raw/staff/dt=2026-11-25/${BATCH}.ndjson.gz`] } })).toThrow(/files of 2 batches/);
  });

  it('rejects keys that are not raw keys of the table, before they become literals', () => {
    expect(() => parseRawKey('staff', `raw/address/dt=2026-11-25/${BATCH}.ndjson.gz`)).toThrow(/not a raw key of table staff/);
    expect(() => parseRawKey('staff', `raw/staff/dt=2026-11-25/x' OR '1'='1.ndjson.gz`)).toThrow(/not a batch id/);
    expect(() => only({ batch: { staff: [`raw/staff/dt=2026-11-25/bad'id.ndjson.gz`] } })).toThrow(/not a batch id/);
  });

  it('reads a current state in segments as the latest version of each row, and an unknown star table not at all', () => {
    const relation = only({ current: { currency: [`current/currency/${BATCH}/`, 'current/currency/0000000043-20261126T000500Z-0b1c/'] } });
    expect(relation).toMatchObject({ kind: 'latest', name: 'current_currency', segments: { kind: 'parquet', name: '_segments_current_currency', shape: 'current_currency' } });
    expect(() => only({ star: { dim_nope: ['star/dim_nope/x/'] } })).toThrow(/no such table/);
    expect(() => only({ star: {}, previousStar: { dim_staff: 'star/dim_staff/x/' } })).toThrow(/bound without dim_staff/);
  });

  it('reads registered tables, one or a union', () => {
    expect(unionSql(['"db"."tmp_1"'])).toBe('SELECT * FROM "db"."tmp_1"');
    expect(unionSql(['"db"."a"', '"db"."b"'])).toBe('SELECT * FROM "db"."a" UNION ALL SELECT * FROM "db"."b"');
    expect(() => unionSql([])).toThrow(/at least one table/);
  });
});

describe('splitSelect', () => {
  it('returns a plain SELECT as the body, without header comments or semicolon', () => {
    expect(splitSelect('-- dim_currency: one row per currency\n/* rebuilt */\nSELECT 1 AS x;\n')).toEqual({ ctes: undefined, body: 'SELECT 1 AS x' });
  });

  it('splits WITH entries, including column lists, strings and comments with parentheses', () => {
    const sql = `-- header (with parens)
WITH latest (id, n) AS (SELECT id, count(*) FROM t WHERE s = 'a)b' GROUP BY id),
     "odd)name" AS (SELECT 1 /* ) */ AS x), -- a comment )
     third AS (SELECT ')' AS y)
SELECT * FROM latest JOIN third ON true;`;
    const { ctes, body } = splitSelect(sql);
    expect(ctes).toBe(`latest (id, n) AS (SELECT id, count(*) FROM t WHERE s = 'a)b' GROUP BY id),
     "odd)name" AS (SELECT 1 /* ) */ AS x), -- a comment )
     third AS (SELECT ')' AS y)`);
    expect(body).toBe('SELECT * FROM latest JOIN third ON true');
  });

  it('does not mistake a column named with_x for WITH', () => {
    expect(splitSelect('SELECT with_x FROM t').ctes).toBeUndefined();
  });

  it('refuses WITH RECURSIVE and unbalanced SQL with a clear message', () => {
    expect(() => splitSelect('WITH RECURSIVE r AS (SELECT 1) SELECT * FROM r')).toThrow(/RECURSIVE/);
    expect(() => splitSelect('WITH a AS (SELECT 1 SELECT 2')).toThrow(/no query after/);
    expect(() => splitSelect("SELECT 'unterminated")).not.toThrow();
    expect(() => splitSelect("WITH a AS (SELECT 'x) SELECT 1")).toThrow(/Unterminated string/);
  });

  it('merges bindings in front of the file own WITH entries', () => {
    const entry = `"batch_currency" AS (${rawSql('batch', 'currency', [`raw/currency/dt=2026-11-25/${BATCH}.ndjson.gz`])})`;
    const sql = prependCtes('-- header\nWITH\na AS (SELECT * FROM batch_currency) SELECT * FROM a;', [entry]);
    expect(sql).toMatch(/^WITH\n"batch_currency" AS \(SELECT .*\),\na AS \(SELECT \* FROM batch_currency\) SELECT \* FROM a$/s);
    expect(parsesAsQuery(sql)).toBe(true);
    expect(prependCtes('SELECT 1;\n-- done\n', [])).toBe('SELECT 1');
    expect(prependCtes('SELECT 1', [entry])).toBe(`WITH\n${entry}\nSELECT 1`);
  });
});

describe('write statements', () => {
  const select = `-- dim_currency
WITH codes AS (SELECT currency_id, currency_code FROM current_currency)
SELECT currency_id, currency_code FROM codes;`;
  const relations = ['"current_currency" AS (SELECT * FROM "totes_processed"."tmp_0000000042_current_currency")'];

  it('builds the exact Athena CTAS with casts and lineage appended', () => {
    const sql = ctasStatement({
      dialect: 'athena',
      table: '"totes_processed"."tmp_out"',
      location: `s3://processed/star/dim_currency/${BATCH}/`,
      select,
      relations,
      target: target(),
    });
    expect(sql).toBe(`CREATE TABLE "totes_processed"."tmp_out"
WITH (format = 'PARQUET', write_compression = 'ZSTD', external_location = 's3://processed/star/dim_currency/${BATCH}/')
AS
WITH
"current_currency" AS (SELECT * FROM "totes_processed"."tmp_0000000042_current_currency"),
codes AS (SELECT currency_id, currency_code FROM current_currency),
_totes_result AS (
SELECT currency_id, currency_code FROM codes
),
_totes_output AS (SELECT CAST("currency_id" AS integer) AS "currency_id", CAST("currency_code" AS varchar) AS "currency_code", CAST('${BATCH}' AS varchar) AS "_batch_id", CAST('abc123' AS varchar) AS "_sql_hash" FROM _totes_result)
SELECT * FROM _totes_output`);
    expect(parsesAsQuery(sql.slice(sql.indexOf('AS\nWITH') + 3))).toBe(true);
  });

  it('omits write_compression for Trino (a session property there)', () => {
    const sql = ctasStatement({ dialect: 'trino', table: '"hive"."p"."t"', location: 's3://p/x/', select: 'SELECT 1 AS currency_id, \'x\' AS currency_code', relations: [], target: target() });
    expect(sql).toContain(`WITH (format = 'PARQUET', external_location = 's3://p/x/')`);
  });

  it('keeps a lineage column the target lists as data, and casts times to canonical text', () => {
    const cols = outputColumns(
      target({ columns: [{ name: 'staff_id', trinoType: 'integer' }, { name: 'created_time', trinoType: 'time(3)' }, { name: '_batch_id', trinoType: 'varchar' }] }),
    );
    expect(cols.map((c) => c.name)).toEqual(['staff_id', 'created_time', '_batch_id', '_sql_hash']);
    expect(cols[1].expression).toBe('CAST(CAST("created_time" AS time(3)) AS varchar) AS "created_time"');
    expect(cols[2].expression).toBe('CAST("_batch_id" AS varchar) AS "_batch_id"');
  });

  it('puts partition columns last and refuses unknown ones', () => {
    const t = target({ columns: [{ name: 'day', trinoType: 'date' }, { name: 'n', trinoType: 'integer' }], partitionedBy: ['day'] });
    expect(outputColumns(t).map((c) => c.name)).toEqual(['n', '_batch_id', '_sql_hash', 'day']);
    expect(ctasStatement({ dialect: 'athena', table: '"d"."t"', location: 's3://b/p/', select: 'SELECT 1', relations: [], target: t })).toContain(
      `partitioned_by = ARRAY['day']`,
    );
    expect(() => outputColumns(target({ partitionedBy: ['nope'] }))).toThrow(/Partition column nope of dim_currency/);
  });

  it('refuses a location without a trailing slash', () => {
    expect(() => ctasStatement({ dialect: 'athena', table: '"d"."t"', location: 's3://b/p', select: 'SELECT 1', relations: [], target: target() })).toThrow(/must end with/);
  });
});

describe('partition split', () => {
  const t = target({
    table: 'events_by_day',
    columns: [{ name: 'day', trinoType: 'date' }, { name: 'region', trinoType: 'varchar' }, { name: 'n', trinoType: 'integer' }],
    partitionedBy: ['day', 'region'],
  });
  const input = { dialect: 'athena' as const, table: '"d"."t"', location: 's3://b/p/', select: 'SELECT day, region, n FROM x', relations: [] };
  const partitions = Array.from({ length: 250 }, (_, i) => [`2026-01-${String((i % 28) + 1).padStart(2, '0')}`, i === 7 ? null : `r${i}`]);

  it('writes at most 100 partitions in one statement: one CTAS, then INSERTs', () => {
    const statements = planWrite({ ...input, target: t, partitions });
    expect(statements).toHaveLength(3);
    expect(statements[0]).toMatch(/^CREATE TABLE "d"."t"/);
    expect(statements[1]).toMatch(/^INSERT INTO "d"."t" \("n", "_batch_id", "_sql_hash", "day", "region"\)\nWITH/);
    expect(statements[2]).toMatch(/^INSERT INTO/);
    const counts = statements.map((s) => (s.split('\nWHERE ')[1].match(/\(("day")/g) ?? []).length);
    expect(counts).toEqual([100, 100, 50]);
    // Every partition is in exactly one chunk; null goes through IS NULL.
    const all = statements.join('\n');
    expect(all).toContain(`("day" = CAST('2026-01-08' AS date) AND "region" IS NULL)`);
    expect(all.match(/"region" = CAST\('r249' AS varchar\)/g)).toHaveLength(1);
    expect(parsesAsQuery(statements[2].slice(statements[2].indexOf('\nWITH') + 1))).toBe(true);
  });

  it('writes a small or unpartitioned target in one CTAS', () => {
    expect(planWrite({ ...input, target: t, partitions: partitions.slice(0, 100) })).toHaveLength(1);
    expect(planWrite({ ...input, target: target(), partitions })).toHaveLength(1);
    expect(planWrite({ ...input, target: t, partitions: partitions.slice(0, 5), limit: 2 })).toHaveLength(3);
  });

  it('asks the engine for the distinct partitions first', () => {
    const q = partitionValuesQuery('SELECT day, region, n FROM x', [], t);
    expect(q).toMatch(/^SELECT DISTINCT "day", "region" FROM \(\nWITH/);
    expect(q).toMatch(/ORDER BY "day", "region"$/);
    expect(() => partitionValuesQuery('SELECT 1', [], target())).toThrow(/not partitioned/);
  });

  it('escapes partition values read back from the engine', () => {
    const [s] = planWrite({ ...input, target: t, partitions: [["2026-01-01", "it's"], ["2026-01-02", 'b']], limit: 1 });
    expect(s).toContain(`CAST('it''s' AS varchar)`);
    expect(insertStatement({ ...input, target: t, only: [] })).toMatch(/WHERE false$/);
  });
});

describe('raw table DDL', () => {
  it('declares a Trino JSON table with the Glue column types, dt last', () => {
    const ddl = trinoRawTableDdl(trino, 'payment', 's3://ingest/raw/payment/');
    expect(ddl).toContain('CREATE TABLE IF NOT EXISTS "hive"."totes_raw"."raw_payment" (');
    expect(ddl).toContain('"payment_amount" decimal(10,2)');
    expect(ddl).toContain('"paid" boolean');
    expect(ddl).toContain('"created_at" timestamp(3)');
    expect(ddl).toMatch(/"_batch_id" varchar,\n {2}"dt" varchar\n\)/);
    expect(ddl).toContain(`WITH (format = 'JSON', external_location = 's3://ingest/raw/payment/', partitioned_by = ARRAY['dt'])`);
  });

  it('declares the Athena equivalent with partition projection', () => {
    const ddl = athenaRawTableDdl('totes_raw', 'currency', 's3://ingest/raw/currency/', '2026-01-01');
    expect(ddl).toContain('`currency_id` int');
    expect(ddl).toContain('`created_at` timestamp');
    expect(ddl).toContain("'projection.dt.range' = '2026-01-01,NOW'");
    expect(() => athenaRawTableDdl('totes_raw', 'currency', 's3://x/', "2026'")).toThrow(/dt partition/);
  });
});
