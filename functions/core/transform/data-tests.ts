import { sourceTable, type SourceTableName } from '../contract/source-tables';
import { STAR_TABLES, starReferences, type StarTableName } from '../contract/star-tables';
import type { ExtractManifest, TransformOutput } from '../lake/manifests';
import type { PipelineContext } from '../pipeline-context';
import type { RelationBindings } from '../ports/query-engine';
import { literal } from '../sql/sql-text';
import { readAcceptedOnly } from './input-checks';
import { concurrently } from './concurrently';

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
  /** A SELECT returning the failing rows (empty = pass). */
  sql: string;
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
      tests.push({ name: `not_null(${column.name})`, table: table.name, sql: `SELECT ${key} FROM ${table.name} WHERE ${column.name} IS NULL` });
    }
    if (table.kind !== 'fact') continue;
    // The contract's references (star-tables.ts), keys of ordinary dimensions first, then dates.
    const refs = starReferences().filter((r) => r.fact === table.name);
    for (const { column, dimension: dim, dimensionKey: dimKey } of [...refs.filter((r) => r.dimension !== 'dim_date'), ...refs.filter((r) => r.dimension === 'dim_date')]) {
      tests.push({
        name: `relationship(${column} → ${dim}.${dimKey})`,
        table: table.name,
        sql: `SELECT f.${column} FROM ${table.name} f LEFT JOIN ${dim} d ON f.${column} = d.${dimKey} WHERE f.${column} IS NOT NULL AND d.${dimKey} IS NULL`,
      });
    }
  }
  for (const { table, column, values } of STAR_TABLES.flatMap((t) => t.columns.flatMap((c) => (c.accepted ? [{ table: t.name, column: c.name, values: c.accepted }] : [])))) {
    tests.push({
      name: `accepted_values(${column})`,
      table,
      sql: `SELECT ${column} FROM ${table} WHERE ${column} NOT IN (${values.map(literal).join(', ')})`,
    });
  }
  return tests;
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
): Promise<DataTestResult[]> {
  // A by-key dimension kept as base + deltas (dimension-by-key.ts) is bound as the union of its
  // segments: the facts' relationship tests ask only whether a key exists, which a key does in the
  // merged dimension exactly when it does in some segment (rows never leave a dimension), and reading
  // one key column of the segments costs far less than merging them.
  const bindings: RelationBindings = {
    batch: {},
    current: {},
    star: Object.fromEntries(Object.entries(staged).map(([name, output]) => [name, [output.prefix, ...(output.deltas ?? []).map((d) => d.prefix)]])),
  };
  // Its own tests (unique, not null, accepted values) check only what this batch wrote, its change
  // set: the base was tested whole when it was built, each earlier change set by its batch, and the
  // merge keeps one row per key by construction, so unique keys in the change set are all it needs.
  const ownBindings = (table: StarTableName): RelationBindings => {
    const output = staged[table];
    const written = output?.deltas?.at(-1);
    if (!output?.changes || !written || written.prefix !== output.changes.prefix) return bindings;
    return { ...bindings, star: { ...bindings.star, [table]: [written.prefix] } };
  };
  // One query per star table answers all of that table's tests (failing rows counted per test), so
  // a batch costs 11 engine round trips here, not one per test (~115): on Athena each query has
  // seconds of overhead and a 10 MB minimum charge. (One query for all tables would pass Trino's
  // limit of 150 stages a query.) Samples are fetched only for the tests that fail.
  //
  // The per-table queries and the row-count query below read only the staged outputs and the
  // batch: all are sent at once (concurrently.ts), so the tests are one step of the batch's
  // critical path (transform/query-tally.ts) however many tables it wrote.
  const tests = dataTests().filter((t) => staged[t.table] && !carried.includes(t.table));
  const failuresOf = new Map<number, number>();
  const tableQueries = [...new Set(tests.map((t) => t.table))].map((table) => {
    const failing = tests
      .map((t, i) => ({ t, i }))
      .filter(({ t }) => t.table === table)
      .map(({ t, i }) => `SELECT ${i} AS test_id FROM (${t.sql}) AS t${i}`)
      .join('\nUNION ALL\n');
    return async () => {
      for (const row of await ctx.engine.query(`SELECT test_id, count(*) AS failures FROM (${failing}) AS failing GROUP BY test_id`, ownBindings(table))) {
        failuresOf.set(Number(row.test_id), Number(row.failures));
      }
    };
  });
  // Row counts: one fact row per distinct (id, last_updated) version the batch extracted. A version
  // read twice (an at-least-once retry) folds into one row, so the manifest's count is an upper bound.
  const facts = (Object.entries(FACT_SOURCES) as [StarTableName, SourceTableName][]).filter(([fact]) => staged[fact]);
  const versionsOf = new Map<string, number>();
  const countQueries = facts.length
    ? [
        async () => {
          const counts = facts.map(([, source]) => {
            const pk = sourceTable(source).primaryKey;
            return `SELECT '${source}' AS source, count(*) AS n FROM (SELECT DISTINCT ${pk}, last_updated FROM batch_${source}) AS v_${source}`;
          });
          const batch = Object.fromEntries(facts.map(([, source]) => [source, extract.tables[source]?.files.map((f) => f.key) ?? []]));
          // A batch built without superseded rejected versions (input-checks.ts) counts only the rows it read.
          for (const row of await ctx.engine.query(readAcceptedOnly(counts.join('\nUNION ALL\n'), acceptOnly), { batch, current: {}, star: {} })) {
            versionsOf.set(String(row.source), Number(row.n));
          }
        },
      ]
    : [];
  await concurrently([...tableQueries, ...countQueries], (query) => query());
  const results: DataTestResult[] = [];
  for (const [i, test] of tests.entries()) {
    const failures = failuresOf.get(i) ?? 0;
    const sample = failures ? await ctx.engine.query(`SELECT * FROM (${test.sql}) AS failing LIMIT 5`, ownBindings(test.table)) : [];
    results.push({ name: test.name, table: test.table, passed: failures === 0, failures, sample });
  }
  for (const [fact, source] of facts) {
    const output = staged[fact]!;
    const extracted = extract.tables[source]?.rows ?? 0;
    const versions = versionsOf.get(source) ?? 0;
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
