import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { readTransformManifest } from '../../../functions/core/lake/manifest-log';
import type { StatementRenderer } from '../../../functions/core/ports/query-engine';
import { compileNextBatch, NothingToCompileError, type CompiledBatch, type CompiledStatement } from '../../../functions/core/transform/compile';
import { loadSqlFiles } from '../../../functions/core/transform/sql-files';
import { transformPending } from '../../../functions/core/transform/transform';
import { splitSelect, stripOuter } from '../../../functions/core/sql/sql-text';
import { selectStatements } from '../../../functions/cli/commands/compile';
import { AthenaRenderer } from '../../../functions/engines/athena/engine';
import { DuckDbEngine, DuckDbRenderer } from '../../../functions/engines/duckdb/engine';
import { TrinoRenderer } from '../../../functions/engines/trino/engine';
import { openFolderPipeline, type FolderPipeline } from '../../../functions/local/folder-pipeline';
import { RawLake, REPO_ROOT } from './raw-lake';
import { batchOne, batchTwo } from './totesys-rows';

/**
 * `totes compile` (core/transform/compile.ts) renders what the transform sends: here the transform
 * then runs the batch on DuckDB with every statement it sends captured, and the two lists are
 * compared text for text (and the lineage parameters value for value). The Trino and Athena forms
 * render with no server.
 */

/** Current states kept as base + deltas even at this size, so batch 2 writes deltas and builds dim_transaction by key. */
const DELTAS = { compactBelowRows: 0, maxDeltaFraction: 100 };

/** Batch 2 with a new transaction too: dim_transaction (by key) gets a change set. */
const batchTwoAndTransaction = {
  ...batchTwo,
  transaction: [{ transaction_id: 3, transaction_type: 'SALE', sales_order_id: 2, purchase_order_id: null, created_at: '2022-11-05 10:00:00.000', last_updated: '2022-11-05 10:00:00.000' }],
};

interface Sent {
  sql: string;
  params: readonly unknown[];
}

describe('compileNextBatch', () => {
  let lake: RawLake;
  let pipeline: FolderPipeline;
  const sent: Sent[] = [];

  beforeAll(async () => {
    lake = await RawLake.create();
    pipeline = await openFolderPipeline({
      lake: lake.dir,
      engine: (stores) => DuckDbEngine.create(stores.ingestion, stores.processed, { onStatement: (sql, params) => sent.push({ sql, params }) }),
      compaction: DELTAS,
    });
  });
  afterAll(async () => {
    await pipeline.close();
    await lake.close();
  });

  const compile = (renderer: StatementRenderer = new DuckDbRenderer(lake.ingestion, lake.processed)): Promise<CompiledBatch> =>
    compileNextBatch({ ingestion: lake.ingestion, processed: lake.processed, sqlRoot: REPO_ROOT, compaction: DELTAS }, renderer);

  /** Runs the transform, returning what it sent to DuckDB. */
  const transform = async (): Promise<Sent[]> => {
    sent.length = 0;
    await transformPending(pipeline.ctx);
    return [...sent];
  };

  /**
   * The same statements, each sent once: every compiled statement is matched by an executed one of
   * the same text whose bound values are the quoted parameters compile shows (the lineage values).
   * Independent statements of a batch go out together (functions/core/transform/concurrently.ts),
   * so the order within a wave is the order they finished in, not fixed: the match ignores order.
   */
  const expectSameStatements = (compiled: readonly CompiledStatement[], executed: readonly Sent[]) => {
    const pool = [...executed];
    let literals = 0;
    for (const statement of compiled) {
      const quoted = (statement.params ?? []).map((param, k) => [k, param] as const).filter(([, param]) => param.startsWith("'"));
      const i = pool.findIndex((e) => e.sql === statement.sql && quoted.every(([k, param]) => e.params[k] === param.slice(1, -1)));
      expect({ unmatched: i < 0 ? statement.sql : undefined }).toEqual({ unmatched: undefined });
      literals += quoted.length;
      pool.splice(i, 1);
    }
    expect(pool.map((e) => e.sql)).toEqual([]);
    expect(literals).toBeGreaterThan(0);
  };

  const files = async (dir: string): Promise<string[]> =>
    (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)).sort();

  it('says there is nothing to compile before the first extract, naming the command to run', async () => {
    await expect(compile()).rejects.toThrow(NothingToCompileError);
    await expect(compile()).rejects.toThrow(/run `totes run` \(or `npm start`\) first/);
  });

  it('first batch: the statements compile renders are exactly those the transform then sends, and compiling writes nothing', async () => {
    await lake.writeBatch(1, batchOne);
    const before = await files(lake.dir);
    const compiled = await compile();
    expect(await files(lake.dir)).toEqual(before);
    expect(compiled).toMatchObject({ seq: 1, batchId: lake.batchId(1), pending: true, engine: 'duckdb' });

    const executed = await transform();
    // The batch's 26 queries (query-count.test.ts) and the parses of its raw files into scratch Parquet.
    expect(executed.length).toBeGreaterThan(30);
    expectSameStatements(compiled.statements, executed);

    // The generated parts are there and labelled: the current-state statements, the model file with its hash, the lineage.
    const [fact] = (await loadSqlFiles(REPO_ROOT)).filter((f) => f.table.name === 'fact_sales_order');
    const write = compiled.statements.find((s) => s.tables[0] === 'fact_sales_order' && s.sql.startsWith('COPY'))!;
    expect(write).toMatchObject({ origin: 'sql/transform/fact_sales_order.sql', sqlHash: fact.sqlHash, prefix: `star/fact_sales_order/batch_id=${lake.batchId(1)}/` });
    expect(write.lineage).toBe(`_batch_id = '${lake.batchId(1)}' appended by the engine; _sql_hash = '${fact.sqlHash}' appended by the engine`);
    expect(write.sql).toContain(stripOuter(fact.sql));
    expect(compiled.statements.find((s) => s.tables[0] === 'current_sales_order')!.step).toMatch(/^current-state base/);
  });

  it('no batch waiting: the newest batch as the transform ran it, the very statements it sent', async () => {
    const first = await compile();
    expect(first).toMatchObject({ seq: 1, pending: false });
    expect(first.notes[0]).toMatch(/No batch is waiting to be transformed/);
    const executed = await rerunFirst();
    expectSameStatements(first.statements, executed);
  });

  /** The transform's statements for batch 1, as it sent them (run on a fresh lake with the same batch). */
  async function rerunFirst(): Promise<Sent[]> {
    const other = await RawLake.create();
    const captured: Sent[] = [];
    const again = await openFolderPipeline({ lake: other.dir, compaction: DELTAS, engine: (stores) => DuckDbEngine.create(stores.ingestion, stores.processed, { onStatement: (sql, params) => captured.push({ sql, params }) }) });
    try {
      await other.writeBatch(1, batchOne);
      await transformPending(again.ctx);
      // Locations differ between the two lakes only in parameters, never in the text.
      return captured;
    } finally {
      await again.close();
      await other.close();
    }
  }

  it('an incremental batch (deltas, a by-key change set, change sets, carried dimensions): the same statements as the transform sends, but for a dim_date it carries forward', async () => {
    await lake.writeBatch(2, batchTwoAndTransaction);
    const compiled = await compile();
    expect(compiled).toMatchObject({ seq: 2, batchId: lake.batchId(2), pending: true });
    const executed = await transform();
    const manifest = await readTransformManifest(lake.processed, 2);

    // dim_date: the transform counts its rows first and carries it forward when the calendar did not
    // grow; compile renders the rebuild (its note says so). Everything else is sent exactly as rendered.
    const carriedDate = manifest.star.dim_date.builtBy !== undefined;
    const expected = compiled.statements.filter((s) => !(carriedDate && s.tables.includes('dim_date') && !s.step.startsWith('row count')));
    expectSameStatements(expected, executed);

    const steps = compiled.statements.map((s) => `${s.tables.join(',')}: ${s.step}`);
    expect(steps).toContain('current_sales_order: current-state delta: this batch\'s latest version of each sales_order_id (generated from the table contract)');
    expect(steps).toContain('dim_transaction: by-key change set: sql/transform/dim_transaction.sql over the source\'s delta only, the latest version of each key among the batch\'s rows (the dimension is its base plus change sets)');
    expect(steps).toContain('dim_staff: dimension change set: the rows new or changed since the version it replaces (generated), what the load upserts');
    // The keys dim_transaction's change set adds are counted in the data tests' query, not apart.
    expect(steps.filter((step) => /new keys/.test(step))).toEqual([]);
    expect(compiled.statements.filter((st) => st.step.startsWith('data tests of')).map((st) => st.sql).join('\n')).toMatch(/LEFT JOIN \(SELECT DISTINCT transaction_id FROM previous_dim_transaction WHERE transaction_id IN \(SELECT transaction_id FROM dim_transaction\)\) AS kept/);
    expect(compiled.notes.some((n) => /dim_currency is carried forward/.test(n))).toBe(true);
    expect(compiled.notes.some((n) => /dim_date rebuilt after its row count/.test(n))).toBe(true);
    // A star table's statements: its own, the current states it reads, and the data-test query it
    // shares with the other tables the batch wrote, and with every fact's row count (fact_payment has
    // no versions in this batch: its count must be 0): one query for all of them (data-tests.ts).
    const fact = selectStatements(compiled.statements, ['fact_sales_order']);
    expect([...new Set(fact.flatMap((s) => s.tables))].sort()).toEqual(['current_sales_order', 'dim_date', 'dim_staff', 'dim_transaction', 'fact_payment', 'fact_purchase_order', 'fact_sales_order']);
    const tests = compiled.statements.filter((s) => s.step.startsWith('data tests of'));
    expect(tests.map((s) => s.tables)).toHaveLength(1);
  });

  it('renders the Trino and Athena forms without a server: a CTAS around the model file, lineage as literals', async () => {
    await lake.writeBatch(3, batchTwo.sales_order ? { sales_order: batchTwo.sales_order.map((r) => ({ ...r, last_updated: '2022-11-06 09:00:00.000' })) } : {});
    const [fact] = (await loadSqlFiles(REPO_ROOT)).filter((f) => f.table.name === 'fact_sales_order');
    const body = splitSelect(fact.sql).body;
    for (const renderer of [new TrinoRenderer({ ingestion: lake.ingestion, processed: lake.processed }), new AthenaRenderer({ namespace: { rawDatabase: 'totes_raw', processedDatabase: 'totes_processed' }, processed: lake.processed })]) {
      const compiled = await compile(renderer);
      expect(compiled).toMatchObject({ seq: 3, pending: true, engine: renderer.name });
      const ctas = compiled.statements.filter((s) => s.tables[0] === 'fact_sales_order' && s.role.startsWith('CTAS'));
      expect(ctas).toHaveLength(1);
      expect(ctas[0].sql).toMatch(/^CREATE TABLE "/);
      expect(ctas[0].sql).toContain(body);
      expect(ctas[0].sql).toContain(`CAST('${lake.batchId(3)}' AS varchar) AS "_batch_id"`);
      expect(ctas[0].sql).toContain(`CAST('${fact.sqlHash}' AS varchar) AS "_sql_hash"`);
      expect(ctas[0].sql).toContain(`"batch_sales_order" AS (SELECT`);
      expect(ctas[0].params).toBeUndefined();
      // No DuckDB dialect leaks into the Trino form.
      expect(compiled.statements.some((s) => /read_parquet|read_json|\$\d/.test(s.sql))).toBe(false);
    }
  });
});
