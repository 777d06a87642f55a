import { sourceTable, type SourceTableName } from '../contract/source-tables';
import { STAR_TABLES, starReferences, starTable, type StarTableName } from '../contract/star-tables';
import type { ExtractManifest, TransformOutput } from '../lake/manifests';
import type { PipelineContext } from '../pipeline-context';
import type { RelationBindings } from '../ports/query-engine';
import { literal } from '../sql/sql-text';
import { readAcceptedOnly } from './input-checks';
import { concurrently } from './concurrently';
import { newKeysSql } from './dimension-by-key';

/**
 * Write-audit-publish: data tests on a batch's STAGED star tables, run after they are written and
 * before anything is published. A failing test stops the batch (the caller quarantines it): the
 * catalog, the transform manifest and so the warehouse keep their last good state.
 *
 * The tests are dbt's four (unique, not_null, relationships, accepted_values) plus a row-count
 * reconciliation with the extract manifest. Every statement is plain SQL that Trino (Athena) and
 * DuckDB run with one meaning: SELECT / JOIN / WHERE / GROUP BY / HAVING, `count(*)` and literal
 * constants taken from the contracts — no engine-specific function.
 */

export interface DataTestResult {
  name: string;
  table: string;
  passed: boolean;
  /** Failing rows (or, for a count reconciliation, the absolute difference). */
  failures: number;
  /** Up to five failing rows, for the quarantine report. */
  sample: Record<string, unknown>[];
}

interface DataTest {
  name: string;
  table: StarTableName;
  /** A relationship test's dimension, the key it looks up and the fact column that names it. */
  dimension?: { name: string; key: string; column: string };
  /** A SELECT returning the failing rows (empty = pass). */
  sql: string;
  /**
   * For a test of single rows of its own table (not_null, accepted_values): the condition a failing
   * row meets, so that one scan of the table can count the failures of all such tests at once.
   */
  failsWhen?: string;
}

/**
 * Source table of each fact whose model tests `one_row_per_version_of` it (star contract `versionsOf`):
 * its rows are exactly the batch's distinct versions of that table.
 */
export const FACT_SOURCES: Partial<Record<StarTableName, SourceTableName>> = Object.fromEntries(
  STAR_TABLES.flatMap((t) => (t.kind === 'fact' && t.versionsOf ? [[t.name, t.versionsOf]] : [])),
);

/**
 * The SQL data tests of the star schema, generated from the star contract, i.e. from the tests each
 * model declares in `sql/transform/<table>.yml` (functions/core/contract/star-models.ts): unique on the
 * key, not_null, relationships (a fact column's `references`) and accepted_values (`accepted`).
 */
export function dataTests(): DataTest[] {
  const tests: DataTest[] = [];
  for (const table of STAR_TABLES) {
    const key = table.key.join(', ');
    tests.push({
      name: `unique(${key})`,
      table: table.name,
      sql: `SELECT ${key}, count(*) AS copies FROM ${table.name} GROUP BY ${key} HAVING count(*) > 1`,
    });
    for (const column of table.columns.filter((c) => !c.nullable)) {
      const failsWhen = `${column.name} IS NULL`;
      tests.push({ name: `not_null(${column.name})`, table: table.name, sql: `SELECT ${key} FROM ${table.name} WHERE ${failsWhen}`, failsWhen });
    }
    if (table.kind !== 'fact') continue;
    // The contract's references (star-tables.ts), keys of ordinary dimensions first, then dates.
    const refs = starReferences().filter((r) => r.fact === table.name);
    for (const { column, dimension: dim, dimensionKey: dimKey } of [...refs.filter((r) => r.dimension !== 'dim_date'), ...refs.filter((r) => r.dimension === 'dim_date')]) {
      tests.push({
        name: `relationship(${column} → ${dim}.${dimKey})`,
        table: table.name,
        dimension: { name: dim, key: dimKey, column },
        sql: `SELECT f.${column} FROM ${table.name} f LEFT JOIN ${dim} d ON f.${column} = d.${dimKey} WHERE f.${column} IS NOT NULL AND d.${dimKey} IS NULL`,
      });
    }
  }
  for (const { table, column, values } of STAR_TABLES.flatMap((t) => t.columns.flatMap((c) => (c.accepted ? [{ table: t.name, column: c.name, values: c.accepted }] : [])))) {
    const failsWhen = `${column} NOT IN (${values.map(literal).join(', ')})`;
    tests.push({ name: `accepted_values(${column})`, table, sql: `SELECT ${column} FROM ${table} WHERE ${failsWhen}`, failsWhen });
  }
  return tests;
}

/**
 * A relationship test against a by-key dimension (dimension-by-key.ts), read as the union of its
 * `segments`: the fact's rows whose `column` names no key in any of them. Each segment is read only
 * at the fact's keys (`IN (SELECT …)`, a semi-join): DuckDB and Trino build it on the batch's few
 * fact rows and push their keys into the segment's scan (DuckDB's join filters, Trino's dynamic
 * filtering), so the large dimension is read where the batch's keys lie. Joined whole, DuckDB read
 * every key of a 1.4M-row dim_transaction for a batch of 15 payments. The small dimensions keep the
 * plain join (each semi-join costs Trino a stage more).
 */
function relationshipSql(fact: string, column: string, segments: readonly string[], key: string): string {
  const keys = segments.map((s) => `SELECT ${key} FROM ${s} WHERE ${key} IN (SELECT ${column} FROM ${fact})`).join(' UNION ALL ');
  return `SELECT f.${column} FROM ${fact} f LEFT JOIN (${keys}) d ON f.${column} = d.${key} WHERE f.${column} IS NOT NULL AND d.${key} IS NULL`;
}

/** A relationship test of a fact column against a dimension read whole: the test's id in its query and what it looks up. */
interface Lookup { id: number; fact: string; name: string; key: string; column: string }

/**
 * The relationship tests of one query against dimensions read whole, one branch per dimension: the
 * values of every fact column that references it (tagged with their test's id, a UNION ALL) joined
 * to it once, each failing value a row under its test — a fact row's column that is not null and
 * names no key, as the test's own SQL (`dataTests`) finds it. A five-minute batch's three facts
 * reference seven dimensions read whole in 23 columns: a join per column cost DuckDB 23 joins and
 * 23 more scans to plan and run for a few dozen rows, and the one query of the tests 6–12 ms more
 * (BENCHMARKS.md). Trino plans it in fewer stages too (the dimension scanned once, one join); the
 * stage estimate still counts each test as its own join (`testStages`), an upper bound.
 */
function lookupBranches(lookups: readonly Lookup[]): string[] {
  const byDimension = new Map<string, Lookup[]>();
  for (const lookup of lookups) {
    const at = `${lookup.name}.${lookup.key}`;
    byDimension.set(at, [...(byDimension.get(at) ?? []), lookup]);
  }
  return [...byDimension.values()].map((same) => {
    const { name, key } = same[0];
    const values = same.map((l) => `SELECT ${l.id} AS test_id, ${l.column} AS looked_up FROM ${l.fact}`).join(' UNION ALL ');
    return `SELECT v.test_id FROM (${values}) AS v LEFT JOIN ${name} d ON v.looked_up = d.${key} WHERE v.looked_up IS NOT NULL AND d.${key} IS NULL`;
  });
}

/**
 * Runs every data test on the staged outputs of one batch (`staged`: the star outputs it just
 * wrote, none published) and reconciles fact row counts with the extract manifest. What a batch
 * writes is what it tests: a fact's tests read its batch partition; a dimension rebuilt whole is
 * tested whole; a by-key dimension that added a change set is tested on that change set, and the
 * facts' keys are looked up in all of its segments (see below). A whole test of such a dimension runs
 * when it is compacted into a new base (a whole rebuild).
 */
export async function runDataTests(
  ctx: Pick<PipelineContext, 'engine'>,
  extract: ExtractManifest,
  staged: Partial<Record<StarTableName, TransformOutput>>,
  acceptOnly: readonly SourceTableName[] = [],
  /**
   * Tables this batch did not build: dimensions carried forward unchanged (tested when they were
   * built; facts still check their keys against them) and facts without versions in the batch
   * (nothing to test). Their own tests are not run.
   */
  carried: readonly StarTableName[] = [],
  /**
   * Filled, when given, with the keys each by-key dimension's change set adds (dimension-by-key.ts
   * `newKeysSql`), counted in the same query: the batch adds them to the dimension's `rows`.
   */
  newKeys?: Map<StarTableName, number>,
): Promise<DataTestResult[]> {
  // What each table is read as. A by-key dimension kept as base + deltas (dimension-by-key.ts) is
  // read as the union of its segments: the facts' relationship tests ask only whether a key exists,
  // which a key does in the merged dimension exactly when it does in some segment (rows never leave a
  // dimension), and reading one key column of the segments costs far less than merging them.
  // Its own tests (unique, not null, accepted values) check only what this batch wrote, its change
  // set: the base was tested whole when it was built, each earlier change set by its batch, and the
  // merge keeps one row per key by construction, so unique keys in the change set are all it needs.
  // So that both read in one statement, such a dimension is bound as its change set, and the segments
  // before it (the version the batch replaces) as `previous_<dimension>`; the facts' lookups read both.
  const star: Record<string, string[]> = {};
  const previousStar: Record<string, string[]> = {};
  for (const [name, output] of Object.entries(staged)) {
    const segments = [output.prefix, ...(output.deltas ?? []).map((d) => d.prefix)];
    const written = output.deltas?.at(-1);
    if (output.changes && written && written.prefix === output.changes.prefix) {
      star[name] = [written.prefix];
      previousStar[name] = segments.slice(0, -1);
    } else star[name] = segments;
  }
  const bindings = (batch: RelationBindings['batch']): RelationBindings => ({ batch, current: {}, star, ...(Object.keys(previousStar).length ? { previousStar } : {}) });
  const testSql = (test: DataTest): string => {
    if (!test.dimension || !previousStar[test.dimension.name]) return test.sql;
    const { name, key, column } = test.dimension;
    return relationshipSql(test.table, column, [name, `previous_${name}`], key);
  };
  // Trino's stages of a test (see STAGE_BUDGET): a scan per prefix it reads (its table's; a
  // relationship's dimension, all its segments), and a step for a unique key's aggregation or a
  // relationship's join.
  const prefixes = (table: string): number => star[table]?.length ?? 1;
  const testStages = (test: DataTest): number =>
    prefixes(test.table) + (test.name.startsWith('unique(') ? 1 : 0) + (test.dimension ? dimensionStages(test.dimension.name, test.table) : 0);
  // A relationship's dimension: its segments' scans and the join; a by-key one's two semi-joins each read the fact again.
  const dimensionStages = (dimension: string, fact: string): number =>
    previousStar[dimension] ? prefixes(dimension) + previousStar[dimension].length + 2 * prefixes(fact) + 1 : prefixes(dimension) + 1;
  // Row counts: one fact row per distinct (id, last_updated) version the batch extracted. A version
  // read twice (an at-least-once retry) folds into one row, so the manifest's count is an upper bound.
  const facts = (Object.entries(FACT_SOURCES) as [StarTableName, SourceTableName][]).filter(([fact]) => staged[fact]);
  const tests = dataTests().filter((t) => staged[t.table] && !carried.includes(t.table));
  // One query answers the tests of several tables (failing rows counted per test), so a batch costs
  // a few engine round trips here, not one per test (~115) nor one per table (11): on Athena each
  // query has seconds of overhead and a 10 MB minimum charge. A fact's distinct versions are counted
  // in its tables' query too (a branch whose rows are the versions). Tables are grouped in contract
  // order while the group's estimated stages stay within {@link STAGE_BUDGET}, under Trino's (and
  // Athena's) limit of 150 stages a query: the eleven tables of a full batch fit in one today
  // (estimated 124), as do the four of a five-minute batch; more by-key segments, or more tables,
  // take a second. Samples are fetched only for failing tests.
  //
  // The queries read only the staged outputs and the batch: all are sent at once (concurrently.ts),
  // so the tests are one step of the batch's critical path (transform/query-tally.ts).
  const versionsId = (fact: StarTableName): number => tests.length + facts.findIndex(([f]) => f === fact);
  // A by-key dimension's change set: the keys it adds, counted beside its tests (their rows).
  const counted = STAR_TABLES.filter((t) => previousStar[t.name] && !carried.includes(t.name)).map((t) => t.name);
  const newKeysId = (dim: StarTableName): number => tests.length + facts.length + counted.indexOf(dim);
  // A branch yields a row per failure (`test_id`), or, `counts`, its tests' failure counts
  // (`test_id, failures`), or, `lookup`, a relationship test's values, looked up with the others of
  // its query that reference the same dimension (`lookupBranches`).
  interface Branch { sql: string; stages: number; counts?: boolean; lookup?: Lookup }
  const branchesOf = (table: StarTableName): Branch[] => {
    const mine = [...tests.entries()].filter(([, t]) => t.table === table);
    const own: Branch[] = mine.flatMap(([i, t]): Branch[] => {
      if (t.failsWhen) return [];
      // A relationship to a dimension read whole (not a by-key one's segments, `relationshipSql`).
      if (t.dimension && !previousStar[t.dimension.name]) return [{ sql: '', stages: testStages(t), lookup: { id: i, fact: t.table, ...t.dimension } }];
      return [{ sql: `SELECT ${i} AS test_id FROM (${testSql(t)}) AS t${i}`, stages: testStages(t) }];
    });
    // The tests of single rows (not_null, accepted_values) read the table once, all together, each
    // counted by an aggregate of that one scan, then one row per test (a join with its ids): for a
    // fact's dozen not-null columns a dozen scans fewer (on DuckDB each opened its files again; on
    // Trino each was a stage). Not a row per failing test and row (an UNNEST of each row's failed
    // ids): that built an array for every row, 10 s for a first batch of 4.3M rows on DuckDB.
    const rowTests = mine.filter(([, t]) => t.failsWhen);
    if (rowTests.length) {
      const counts = rowTests.map(([i, t]) => `count(CASE WHEN ${t.failsWhen} THEN 1 END) AS f${i}`).join(', ');
      const pick = rowTests.map(([i]) => `WHEN ${i} THEN a.f${i}`).join(' ');
      const ids = rowTests.map(([i]) => `(${i})`).join(', ');
      own.unshift({
        sql: `SELECT k.test_id, CASE k.test_id ${pick} END AS failures FROM (SELECT ${counts} FROM ${table}) AS a CROSS JOIN (VALUES ${ids}) AS k (test_id)`,
        stages: prefixes(table) + 1,
        counts: true,
      });
    }
    if (counted.includes(table)) {
      // The change set read twice (its keys, and the semi-join's), the previous segments once, a join.
      own.push({ sql: `SELECT ${newKeysId(table)} AS test_id FROM (${newKeysSql(starTable(table))}) AS n${newKeysId(table)}`, stages: 2 * prefixes(table) + previousStar[table].length + 2 });
    }
    const source = FACT_SOURCES[table];
    if (!source || !facts.some(([f]) => f === table)) return own;
    const pk = sourceTable(source).primaryKey;
    const versions = readAcceptedOnly(`SELECT ${versionsId(table)} AS test_id FROM (SELECT DISTINCT ${pk}, last_updated FROM batch_${source}) AS v_${source}`, acceptOnly);
    return [...own, { sql: versions, stages: VERSIONS_STAGES }];
  };
  const groups: { tables: StarTableName[]; branches: Branch[]; stages: number }[] = [];
  for (const table of STAR_TABLES.map((t) => t.name).filter((name) => staged[name])) {
    const branches = branchesOf(table);
    if (!branches.length) continue;
    const stages = branches.reduce((sum, b) => sum + b.stages, 0);
    const last = groups.at(-1);
    if (last && last.stages + stages <= STAGE_BUDGET) {
      last.tables.push(table);
      last.branches.push(...branches);
      last.stages += stages;
    } else groups.push({ tables: [table], branches, stages: QUERY_STAGES + stages });
  }
  const failuresOf = new Map<number, number>();
  await concurrently(groups, async ({ tables, branches }) => {
    const batch = Object.fromEntries(facts.filter(([fact]) => tables.includes(fact)).map(([, source]) => [source, extract.tables[source]?.files.map((f) => f.key) ?? []]));
    const failing = [...lookupBranches(branches.flatMap((b) => (b.lookup ? [b.lookup] : []))), ...branches.filter((b) => !b.counts && !b.lookup).map((b) => b.sql)];
    const parts = [
      ...(failing.length ? [`SELECT test_id, count(*) AS failures FROM (${failing.join('\nUNION ALL\n')}) AS failing GROUP BY test_id`] : []),
      ...branches.filter((b) => b.counts).map((b) => b.sql),
    ];
    for (const row of await ctx.engine.query(parts.join('\nUNION ALL\n'), bindings(batch))) {
      failuresOf.set(Number(row.test_id), Number(row.failures));
    }
  });
  for (const dim of counted) newKeys?.set(dim, failuresOf.get(newKeysId(dim)) ?? 0);
  const results: DataTestResult[] = [];
  for (const [i, test] of tests.entries()) {
    const failures = failuresOf.get(i) ?? 0;
    const sample = failures ? await ctx.engine.query(`SELECT * FROM (${testSql(test)}) AS failing LIMIT 5`, bindings({})) : [];
    results.push({ name: test.name, table: test.table, passed: failures === 0, failures, sample });
  }
  for (const [fact, source] of facts) {
    const output = staged[fact]!;
    const extracted = extract.tables[source]?.rows ?? 0;
    const versions = failuresOf.get(versionsId(fact)) ?? 0;
    const passed = output.rows === versions && versions <= extracted;
    results.push({
      name: `row_count(= distinct versions of extract ${source})`,
      table: fact,
      passed,
      failures: passed ? 0 : Math.max(1, Math.abs(output.rows - versions)),
      sample: passed ? [] : [{ staged: output.rows, distinctVersions: versions, extractManifestRows: extracted }],
    });
  }
  return results;
}

/**
 * Trino plans a query as stages and refuses one of more than 150 (`query.max-stage-count`); Athena
 * runs Trino. The data tests are grouped into queries by an estimate of their stages kept within
 * this budget: per query 2 (its aggregation and output), per test as `testStages` says, per fact's
 * version count 2 (a scan and a DISTINCT). Measured on Trino (each query's stage tree, BENCHMARKS.md),
 * the estimate was above the real count for every query. With a join per relationship test it was
 * by 9 to 36: a full batch's one query estimated 124, planned in 89 stages; a five-minute batch's
 * (dim_transaction's change set with its new keys, and the three facts) estimated 106–122 with
 * dim_transaction in 2–10 segments, planned in 91. Since a dimension is looked up once per query
 * (`lookupBranches`), the same batches plan in 57 and 47 stages. The estimate grows by two per
 * segment (the facts' lookups and the new-key count read them all); Trino's count did not grow.
 */
const STAGE_BUDGET = 140;
const QUERY_STAGES = 2;
const VERSIONS_STAGES = 2;

/** A batch whose staged outputs failed their data tests (or could not be built): nothing of it was published. */
export class QuarantinedBatchError extends Error {
  constructor(
    readonly batchId: string,
    readonly reportKey: string,
    message: string,
  ) {
    super(message);
    this.name = 'QuarantinedBatchError';
  }
}

/** Built in lake-layout.ts; re-exported for the callers that still import it from here (test/scenarios). */
export { quarantineKey } from '../lake/lake-layout';
