import { AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, GetWorkGroupCommand, ListNamedQueriesCommand, StartQueryExecutionCommand, type QueryExecution } from '@aws-sdk/client-athena';
import { GetTableCommand, GlueClient } from '@aws-sdk/client-glue';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ensureCurrentViews } from '../../functions/aws/athena-current-views';
import { AthenaEngine, AthenaQueryError } from '../../functions/engines/athena/engine';
import { buildAwsContext, createAwsClients } from '../../functions/aws/aws-pipeline-context';
import type { AwsConfig } from '../../functions/aws/aws-config';
import { GlueCatalog } from '../../functions/aws/glue-catalog';
import { SOURCE_TABLES } from '../../functions/core/contract/source-tables';
import { STAR_TABLES } from '../../functions/core/contract/star-tables';
import { extract } from '../../functions/core/extract/extract';
import { currentLocations, readTransformManifest } from '../../functions/core/lake/manifest-log';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import type { WriteTarget } from '../../functions/core/ports/query-engine';
import { currentStateColumns, currentStateSql } from '../../functions/core/transform/current-state';
import { sha256 } from '../../functions/core/transform/sql-files';
import { transformPending } from '../../functions/core/transform/transform';
import { compactFacts } from '../../functions/core/transform/fact-compaction';
import { urlLocator } from '../../functions/local/embedded-postgres';
import { openFolderPipeline, type FolderPipeline } from '../../functions/local/folder-pipeline';
import { seedTotesys } from '../../functions/totesys/seed';
import { simulateActivity } from '../../functions/totesys/simulate';
import { parquetTypes, readStarRows, rowDifferences } from '../integration/trino/star-outputs';
import { startMotoServer, type MotoServer } from '../support/moto-server';
import { testDatabase, type TestDatabase } from '../support/test-postgres';
import { MAX_QUERY_BYTES, startAthenaFacade, type AthenaFacade, type FacadeQuery } from './athena-facade';
import { collectingLog, offlineAthenaMissing, provisionOfflineLake, useOfflineEndpoints } from './offline-lake';
import { startTrinoGlue, type TrinoGlueServer } from './trino-glue';
import { stopwatch } from '../support/timed';

/**
 * The product's Athena engine, Glue catalog and S3 store, through the AWS SDK configured only by
 * endpoints (AWS_ENDPOINT_URL_ATHENA at the offline Athena, AWS_ENDPOINT_URL at moto), running
 * their statements for real on Trino over moto's Glue and S3: CTAS, INSERT INTO (a write over 100
 * partitions, split by the engine), SELECT with paging, a failing query, a stopped one, Athena's
 * limits, the current-state views, and a whole transform batch compared with DuckDB's.
 */

const REPO = path.resolve(__dirname, '..', '..');
const INGESTION = 'totes-ingestion';
const PROCESSED = 'totes-processed';
const RESULTS = 'totes-athena-results';
const RAW_DB = 'totes_raw';
const PROCESSED_DB = 'totes_processed';
const WORKGROUP = 'totes-transform';

// test:cloud never skips: a missing tool fails the suite, naming it.
const missing = offlineAthenaMissing();

const { timings, timed } = stopwatch();

const warnings: string[] = [];
const log = collectingLog(warnings);

describe('the offline Athena: the product’s AthenaEngine on Trino over moto’s Glue and S3', () => {
  const savedEnv = { ...process.env };
  let moto: MotoServer;
  let trino: TrinoGlueServer;
  let facade: AthenaFacade;
  let db: TestDatabase;
  let athena: AthenaClient;
  let glue: GlueClient;
  let s3: S3Client;
  let ctx: PipelineContext;
  let engine: AthenaEngine;

  beforeAll(async () => {
    if (missing) throw new Error(`The offline Athena cannot run: ${missing}`);
    moto = await timed('moto start', () => startMotoServer({ patched: true }));
    [trino, db] = await Promise.all([timed('trino start', () => startTrinoGlue({ moto })), testDatabase('athena_facade')]);
    timings['trino start (first query answered)'] = trino.startMs;
    facade = await startAthenaFacade({ trino, moto });

    // Only endpoints: the product builds its clients exactly as in Lambda (createAwsClients).
    useOfflineEndpoints(moto, facade);
    athena = new AthenaClient({ region: moto.clientConfig.region, endpoint: facade.endpoint, credentials: moto.clientConfig.credentials });
    glue = new GlueClient(moto.clientConfig);
    s3 = new S3Client(moto.clientConfig);

    // The workgroup with a scan cutoff, as the stack's has.
    await provisionOfflineLake(
      moto,
      { ingestionBucket: INGESTION, processedBucket: PROCESSED, resultsBucket: RESULTS, rawDatabase: RAW_DB, processedDatabase: PROCESSED_DB, workgroup: WORKGROUP },
      { bytesScannedCutoff: 10 * 1024 ** 3 },
    );

    const config: AwsConfig = {
      ingestionBucket: INGESTION,
      processedBucket: PROCESSED,
      rawDatabase: RAW_DB,
      processedDatabase: PROCESSED_DB,
      athenaWorkgroup: WORKGROUP,
      warehouseSchema: 'public',
      commitLagSeconds: 0,
    };
    ctx = { ...buildAwsContext(config, createAwsClients(), log), source: urlLocator(db.url), sqlRoot: REPO };
    engine = ctx.engine as AthenaEngine;
    expect(engine).toBeInstanceOf(AthenaEngine);
  }, 600_000);

  afterAll(async () => {
    await engine?.close();
    await facade?.stop();
    await Promise.all([trino?.stop(), db?.close()]);
    await moto?.stop();
    process.env = savedEnv;
    const done = (facade?.queries ?? []).filter((q) => q.completedAt !== undefined);
    const latency = done.map((q) => q.totalMs ?? 0).sort((a, b) => a - b);
    console.log(
      `Offline Athena timings (ms): ${JSON.stringify(timings)}\n` +
        `Queries through the facade: ${done.length}; latency median ${latency[Math.floor(latency.length / 2)] ?? 0} ms, p90 ${latency[Math.floor(latency.length * 0.9)] ?? 0} ms; ` +
        `by state ${JSON.stringify(countBy(done, (q) => q.state))}; by kind ${JSON.stringify(countBy(done, (q) => q.substatementType))}` +
        (warnings.length ? `\nProduct warnings: ${warnings.slice(0, 20).join(' | ')}` : ''),
    );
  });

  test('a CTAS from the raw NDJSON (partition projection) into the processed bucket, read back with paging', async () => {
    // One batch of raw currency rows, in the lake layout the extract writes.
    const batchId = '0000000001-20261125T200000Z-aaaa';
    const key = `raw/currency/dt=2026-11-25/${batchId}.ndjson.gz`;
    const rows = ['GBP', 'USD', 'EUR'].map((code, i) => ({
      currency_id: i + 1,
      currency_code: code,
      created_at: '2024-03-31 01:30:00.000',
      last_updated: `2024-11-0${i + 1} 12:00:00.${i}00`,
      _batch_id: batchId,
    }));
    await ctx.ingestion.put(key, gzipLines(rows));

    const table = SOURCE_TABLES.find((t) => t.name === 'currency')!;
    const sql = currentStateSql(table, { hasPrevious: false });
    const target: WriteTarget = {
      table: 'current_currency',
      prefix: `scratch/current/currency/${batchId}/`,
      columns: currentStateColumns(table),
      batchId,
      sqlHash: sha256(sql),
      origin: 'generated current_currency',
    };
    const stats = await engine.write(sql, { batch: { currency: [key] }, current: {}, star: {} }, target);
    expect(stats.rows).toBe(3);
    expect(stats.files.length).toBeGreaterThan(0);
    expect(stats.files.every((f) => f.startsWith(target.prefix))).toBe(true);
    const ctas = facade.queries.find((q) => q.substatementType === 'CREATE_TABLE_AS_SELECT' && q.sql.includes(target.prefix))!;
    expect(ctas).toMatchObject({ state: 'SUCCEEDED', statementType: 'DML', updateCount: 3 });
    // The raw file was read from S3: Athena's DataScannedInBytes is the compressed bytes.
    expect(ctas.bytesScanned).toBeGreaterThan(0);
    expect(stats.bytesScanned).toBe(ctas.bytesScanned);
    expect(ctas.mappings).toEqual(["write_compression = 'ZSTD' → session awsdatacatalog.compression_codec"]);

    const back = await engine.query('SELECT currency_code, last_updated, _batch_id FROM current_currency ORDER BY currency_id', { batch: {}, current: { currency: target.prefix }, star: {} });
    expect(back).toEqual([
      { currency_code: 'GBP', last_updated: '2024-11-01 12:00:00.000', _batch_id: batchId },
      { currency_code: 'USD', last_updated: '2024-11-02 12:00:00.100', _batch_id: batchId },
      { currency_code: 'EUR', last_updated: '2024-11-03 12:00:00.200', _batch_id: batchId },
    ]);

    // More rows than one page (1000): the engine follows NextToken; values typed from ColumnInfo.
    const many = await engine.query('SELECT x, CAST(x AS double) / 4 AS quarter, x % 2 = 0 AS even, CAST(x AS decimal(10,2)) AS money FROM UNNEST(sequence(1, 2345)) AS u (x) ORDER BY x');
    expect(many).toHaveLength(2345);
    expect(many[0]).toEqual({ x: 1, quarter: 0.25, even: false, money: '1.00' });
    expect(many[2344]).toEqual({ x: 2345, quarter: 586.25, even: false, money: '2345.00' });
    const select = facade.queries.at(-1)!;
    expect(select).toMatchObject({ state: 'SUCCEEDED', substatementType: 'SELECT', resultRows: 2345 });

    // The SDK's own paging with MaxResults: header row first, then rows, NextToken until the end.
    const pages: string[][][] = [];
    let token: string | undefined;
    do {
      const page = await athena.send(new GetQueryResultsCommand({ QueryExecutionId: select.id, MaxResults: 1000, NextToken: token }));
      pages.push((page.ResultSet?.Rows ?? []).map((r) => (r.Data ?? []).map((d) => d.VarCharValue ?? 'NULL')));
      if (pages.length === 1) {
        expect(page.ResultSet?.ResultSetMetadata?.ColumnInfo?.map((c) => [c.Name, c.Type, c.Precision, c.Scale])).toEqual([
          ['x', 'bigint', 19, 0],
          ['quarter', 'double', 17, 0],
          ['even', 'boolean', 0, 0],
          ['money', 'decimal', 10, 2],
        ]);
        expect(page.UpdateCount).toBe(0);
      }
      token = page.NextToken;
    } while (token);
    expect(pages.map((p) => p.length)).toEqual([1000, 1000, 346]);
    expect(pages[0][0]).toEqual(['x', 'quarter', 'even', 'money']);
    expect(pages[0][1]).toEqual(['1', '0.25', 'false', '1.00']);
    // Athena wrote the result to the workgroup's (enforced) output location.
    const csv = await (await s3.send(new GetObjectCommand({ Bucket: RESULTS, Key: `results/${select.id}.csv` }))).Body!.transformToString();
    expect(csv.split('\n').slice(0, 2)).toEqual(['"x","quarter","even","money"', '"1","0.25","false","1.00"']);
  });

  test('a write over 100 partitions: the engine splits it into a CTAS and an INSERT INTO that Athena accepts', async () => {
    const batchId = '0000000002-20261125T200500Z-bbbb';
    const target: WriteTarget = {
      table: 'split_check',
      prefix: `scratch/split/${batchId}/`,
      columns: [
        { name: 'id', trinoType: 'integer' },
        { name: 'part', trinoType: 'varchar' },
      ],
      partitionedBy: ['part'],
      batchId,
      sqlHash: 'split',
      origin: 'a 150-partition write',
    };
    const before = facade.queries.length;
    const stats = await engine.write('SELECT x AS id, CAST(x AS varchar) AS part FROM UNNEST(sequence(1, 150)) AS u (x)', { batch: {}, current: {}, star: {} }, target);
    expect(stats.rows).toBe(150);
    expect(new Set(stats.files.map((f) => f.split('/')[3])).size).toBe(150);
    const writes = facade.queries.slice(before).filter((q) => q.statementType === 'DML' && q.substatementType !== 'SELECT');
    expect(writes.map((q) => [q.substatementType, q.state, q.updateCount])).toEqual([
      ['CREATE_TABLE_AS_SELECT', 'SUCCEEDED', 100],
      ['INSERT', 'SUCCEEDED', 50],
    ]);
    // INSERT INTO writes with the compression its table was created with, as on Athena.
    expect(writes[1].mappings).toEqual(["INSERT INTO a table created with write_compression = 'ZSTD' → session awsdatacatalog.compression_codec"]);
  });

  test('Athena’s limits hold: 101 partitions, two statements, an oversized text, DDL Athena refuses', async () => {
    const run = async (sql: string): Promise<QueryExecution> => {
      const { QueryExecutionId } = await athena.send(new StartQueryExecutionCommand({ QueryString: sql, WorkGroup: WORKGROUP, QueryExecutionContext: { Database: PROCESSED_DB } }));
      for (;;) {
        const { QueryExecution } = await athena.send(new GetQueryExecutionCommand({ QueryExecutionId }));
        if (!['QUEUED', 'RUNNING'].includes(QueryExecution?.Status?.State ?? '')) return QueryExecution!;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const ctas = (name: string, partitions: number) =>
      `CREATE TABLE "${PROCESSED_DB}"."${name}" WITH (format = 'PARQUET', write_compression = 'ZSTD', external_location = 's3://${PROCESSED}/scratch/${name}/', partitioned_by = ARRAY['p']) AS ` +
      `SELECT x, CAST(x AS varchar) AS p FROM UNNEST(sequence(1, ${partitions})) AS u (x)`;

    const tooMany = await run(ctas('limit_101', 101));
    expect(tooMany.Status).toMatchObject({ State: 'FAILED', AthenaError: { ErrorCategory: 2, Retryable: false } });
    expect(tooMany.Status?.StateChangeReason).toMatch(/^HIVE_TOO_MANY_OPEN_PARTITIONS: Exceeded limit of 100 open writers/);
    expect((await run(ctas('limit_100', 100))).Status?.State).toBe('SUCCEEDED');

    const two = await run('SELECT 1; SELECT 2');
    expect(two.Status).toMatchObject({ State: 'FAILED', StateChangeReason: expect.stringMatching(/Only one sql statement is allowed/) });
    expect((await run('SELECT 1 AS one;')).Status?.State).toBe('SUCCEEDED');

    const huge = `SELECT 1 AS x /* ${'x'.repeat(MAX_QUERY_BYTES)} */`;
    await expect(athena.send(new StartQueryExecutionCommand({ QueryString: huge, WorkGroup: WORKGROUP }))).rejects.toMatchObject({
      name: 'InvalidRequestException',
      message: expect.stringMatching(/failed to satisfy constraint: Member must have length less than or equal to 262144/),
    });

    const refused: [string, RegExp][] = [
      [`CALL system.sync_partition_metadata(schema_name => '${RAW_DB}', table_name => 'raw_currency', mode => 'ADD')`, /CALL is not supported/],
      [`CREATE TABLE "${PROCESSED_DB}"."trino_style" (x integer) WITH (format = 'PARQUET', external_location = 's3://${PROCESSED}/scratch/trino_style/')`, /CREATE TABLE without AS SELECT/],
      [`ALTER TABLE "${PROCESSED_DB}"."limit_100" RENAME TO "renamed"`, /RENAME TO is not supported/],
      [`DELETE FROM "${PROCESSED_DB}"."limit_100" WHERE x = 1`, /DELETE is not supported/],
      [`MSCK REPAIR TABLE ${RAW_DB}.raw_currency`, /Hive DDL/],
    ];
    for (const [sql, reason] of refused) {
      const refusedQuery = await run(sql);
      expect({ sql, state: refusedQuery.Status?.State, reason: refusedQuery.Status?.StateChangeReason }).toEqual({ sql, state: 'FAILED', reason: expect.stringMatching(reason) });
    }
    // The workgroup must exist.
    await expect(athena.send(new StartQueryExecutionCommand({ QueryString: 'SELECT 1', WorkGroup: 'no-such-workgroup' }))).rejects.toMatchObject({ name: 'InvalidRequestException' });
  });

  test('a failing query surfaces Athena’s error, with the SQL file and the batch, through the engine', async () => {
    const batchId = '0000000003-20261125T201000Z-cccc';
    const target: WriteTarget = {
      table: 'dim_currency',
      prefix: `scratch/failing/${batchId}/`,
      columns: [{ name: 'currency_id', trinoType: 'integer' }],
      batchId,
      sqlHash: 'bad',
      origin: 'sql/transform/dim_currency.sql',
    };
    const failure = await engine.write('SELECT no_such_column AS currency_id FROM UNNEST(sequence(1, 3)) AS u (x)', { batch: {}, current: {}, star: {} }, target).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(AthenaQueryError);
    const error = failure as AthenaQueryError;
    expect(error.message).toMatch(/^Athena query for sql\/transform\/dim_currency\.sql of batch 0000000003-20261125T201000Z-cccc FAILED: COLUMN_NOT_FOUND: line \d+:\d+: Column 'no_such_column' cannot be resolved/);
    expect(error.message).toContain(`workgroup ${WORKGROUP}`);
    expect(error.retryable).toBe(false);
    const failed = facade.queries.find((q) => q.id === error.queryExecutionId)!;
    expect(failed.error).toMatchObject({ ErrorCategory: 2, ErrorType: 1000, Retryable: false });
  });

  test('a query over its time is stopped by the engine (StopQueryExecution) and reported', async () => {
    const slow = new AthenaEngine({
      athena: new AthenaClient({}),
      glue: new GlueClient({}),
      workgroup: WORKGROUP,
      namespace: { rawDatabase: RAW_DB, processedDatabase: PROCESSED_DB },
      processed: ctx.processed,
      log,
      queryTimeoutMs: 1500,
      pollInitialMs: 200,
    });
    const endless =
      'SELECT count(*) AS n FROM UNNEST(sequence(1, 10000)) AS a (x) CROSS JOIN UNNEST(sequence(1, 10000)) AS b (y) CROSS JOIN UNNEST(sequence(1, 10000)) AS c (z)';
    await expect(slow.query(endless)).rejects.toThrow(/TIMED OUT: still RUNNING after 2 s; stopped/);
    const stopped = facade.queries.at(-1)!;
    await waitFor(() => stopped.completedAt !== undefined);
    expect(stopped.state).toBe('CANCELLED');
    await slow.close();
  });

  test('operations the facade does not serve fail loudly; workgroup calls reach moto’s workgroup', async () => {
    await expect(athena.send(new ListNamedQueriesCommand({}))).rejects.toThrow(/does not serve AmazonAthena\.ListNamedQueries/);
    expect(facade.unsupported).toContain('ListNamedQueries');
    const { WorkGroup } = await athena.send(new GetWorkGroupCommand({ WorkGroup: WORKGROUP }));
    expect(WorkGroup?.Configuration?.ResultConfiguration?.OutputLocation).toBe(`s3://${RESULTS}/results/`);
  });

  describe('the transform on Athena (engine, Glue catalog, S3) builds the same star schema as DuckDB', () => {
    let dir: string;
    let duckPipeline: FolderPipeline;
    let duck: PipelineContext;

    /** Extracts a batch (into a folder, then copied key for key into the ingestion bucket), transforms it on both, compares. */
    async function batch(label: string): Promise<{ seq: number; batchId: string; queries: FacadeQuery[] }> {
      const extracted = await timed(`${label}: extract`, () => extract(duck));
      expect(extracted.published).toBe(true);
      // The extract's own S3 path is the deploy suite's; here both engines read the same raw files.
      for (const file of await walk(path.join(dir, 'ingestion'))) {
        const key = path.relative(path.join(dir, 'ingestion'), file).split(path.sep).join('/');
        if (!(await ctx.ingestion.exists(key))) await ctx.ingestion.put(key, await fs.readFile(file));
      }
      const first = facade.queries.length;
      const [onDuck] = await timed(`${label}: duckdb transform`, () => transformPending(duck));
      const [onAthena] = await timed(`${label}: athena transform`, () => transformPending(ctx));
      expect(onAthena.batchId).toBe(onDuck.batchId);
      const queries = facade.queries.slice(first);
      expect(queries.filter((q) => q.state !== 'SUCCEEDED')).toEqual([]);

      for (const table of STAR_TABLES) {
        // A by-key dimension's location is its base and deltas (Glue: the partitions of <dim>_versions): all compared.
        const published = async (c: PipelineContext) => {
          if (table.kind === 'fact') return (await c.catalog.partitions(table.name)).map((p) => p.prefix);
          const location = (await c.catalog.location(table.name))!;
          return [location.prefix, ...(location.deltas ?? [])];
        };
        const prefixes = await published(duck);
        expect({ table: table.name, prefixes: await published(ctx) }).toEqual({ table: table.name, prefixes });
        const [duckRows, athenaRows] = await Promise.all([readStarRows(duck.processed, table.name, prefixes), readStarRows(ctx.processed, table.name, prefixes)]);
        expect(duckRows.length).toBeGreaterThan(0);
        const diff = rowDifferences(duckRows, athenaRows);
        expect({ table: table.name, rows: athenaRows.length, ...diff }).toEqual({ table: table.name, rows: duckRows.length, onlyLeft: [], onlyRight: [], leftCount: 0, rightCount: 0 });
        const [duckTypes, athenaTypes] = await Promise.all([parquetTypes(duck.processed, table.name, prefixes), parquetTypes(ctx.processed, table.name, prefixes)]);
        expect({ table: table.name, types: athenaTypes }).toEqual({ table: table.name, types: duckTypes });
      }
      // The current states (base and deltas) read back through each engine: the same version of every row.
      for (const table of SOURCE_TABLES) {
        const versions = async (c: PipelineContext) => {
          const m = await readTransformManifest(c.processed, onAthena.seq);
          const rows = await c.engine.query(`SELECT CAST(${table.primaryKey} AS varchar) || '@' || _batch_id AS v FROM current_${table.name}`, {
            batch: {},
            current: { [table.name]: currentLocations(m)[table.name] },
            star: {},
          });
          return rows.map((r) => String(r.v)).sort();
        };
        const [d, a] = await Promise.all([versions(duck), versions(ctx)]);
        expect({ table: table.name, versions: a }).toEqual({ table: table.name, versions: d });
      }
      const bytes = queries.reduce((sum, q) => sum + q.bytesScanned, 0);
      console.log(
        `Athena transform of batch ${onAthena.batchId} (${label}): ${queries.length} queries (${JSON.stringify(countBy(queries, (q) => q.substatementType))}), ` +
          `${bytes} bytes scanned, engine time ${queries.reduce((t, q) => t + (q.engineMs ?? 0), 0)} ms, query wall time ${queries.reduce((t, q) => t + (q.totalMs ?? 0), 0)} ms`,
      );
      return { seq: onAthena.seq, batchId: onAthena.batchId, queries };
    }

    beforeAll(async () => {
      await timed('seed', () => seedTotesys(db.url, { scale: 0.02, seed: 11, asOf: new Date('2025-01-15T12:00:00.000Z') }));
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-athena-facade-'));
      // Current states in deltas from the second batch on (as the fidelity test does), so the
      // incremental batch reads base + delta segments through temporary Glue tables.
      ctx.compaction = { compactBelowRows: 0, maxDeltas: 1, maxDeltaFraction: Number.POSITIVE_INFINITY };
      // The same source, log and policy as the Athena side, over a folder lake with DuckDB.
      duckPipeline = await openFolderPipeline({ lake: dir, source: ctx.source, warehouse: ctx.warehouse, log: ctx.log, compaction: ctx.compaction });
      duck = duckPipeline.ctx;
    });

    afterAll(async () => {
      await duckPipeline?.close();
      if (dir) await fs.rm(dir, { recursive: true, force: true });
    });

    test('a full batch, then the analysts’ current views created through Athena and queried by name', async () => {
      const { seq } = await batch('full');
      // The star tables cdktf deployed now point at the batch's outputs.
      const catalog = ctx.catalog as GlueCatalog;
      const dim = await glue.send(new GetTableCommand({ DatabaseName: PROCESSED_DB, Name: 'dim_staff' }));
      expect(dim.Table?.StorageDescriptor?.Location).toBe(`s3://${PROCESSED}/${(await catalog.location('dim_staff'))!.prefix}`);

      const views = await ensureCurrentViews({ engine, catalog, log });
      expect(Object.values(views)).toEqual(['created', 'created', 'created']);
      const manifest = await readTransformManifest(ctx.processed, seq);
      const facts = await engine.query('SELECT count(*) AS n FROM fact_sales_order', { batch: {}, current: {}, star: { fact_sales_order: [manifest.star.fact_sales_order.prefix] } });
      const published = await engine.query(`SELECT count(*) AS n FROM "${PROCESSED_DB}"."fact_sales_order"`);
      expect(published[0].n).toBe(facts[0].n);
      const current = await engine.query(`SELECT count(*) AS n, count(DISTINCT sales_order_id) AS orders FROM "${PROCESSED_DB}"."fact_sales_order_current"`);
      expect(current[0].n).toBe(current[0].orders);
      expect(Number(current[0].n)).toBeGreaterThan(0);
      expect(Number(current[0].n)).toBeLessThanOrEqual(Number(facts[0].n));
      // Described for people browsing the catalog, and still a view to Athena.
      expect(await ensureCurrentViews({ engine, catalog, log })).toEqual({ fact_sales_order_current: 'unchanged', fact_purchase_order_current: 'unchanged', fact_payment_current: 'unchanged' });
    });

    test('an incremental batch: amendments, payments, moves (current-state deltas, by-key dimensions, dimension changes)', async () => {
      await simulateActivity(db.url, { minutes: 60, seed: 3 });
      const { seq } = await batch('incremental');
      const manifest = await readTransformManifest(ctx.processed, seq);
      expect(Object.keys(manifest.currentDeltas ?? {})).toEqual(expect.arrayContaining(['sales_order', 'payment']));
      const amended = await engine.query(`SELECT count(*) AS n FROM "${PROCESSED_DB}"."fact_sales_order_current"`);
      expect(Number(amended[0].n)).toBeGreaterThan(0);

      // A fact read over several batches: one temporary table over the fact's root, its batches an
      // enum partition projection (functions/engines/athena/relations.ts temporaryTableInput), as the load and verify read it.
      const prefixes = (await ctx.catalog.partitions('fact_sales_order')).map((p) => p.prefix);
      expect(prefixes).toHaveLength(2);
      const sql = 'SELECT _batch_id, count(*) AS n, sum(units_sold) AS units FROM fact_sales_order GROUP BY _batch_id ORDER BY _batch_id';
      const bindings = { batch: {}, current: {}, star: { fact_sales_order: prefixes } };
      const [onAthena, onDuck] = await Promise.all([engine.query(sql, bindings), duck.engine.query(sql, bindings)]);
      expect(onAthena.map((r) => [r._batch_id, Number(r.n), Number(r.units)])).toEqual(onDuck.map((r) => [r._batch_id, Number(r.n), Number(r.units)]));
      expect(onAthena).toHaveLength(2);
    });

    test('the facts compacted on Athena and published by switching each fact’s Glue view: the same versions, read by name', async () => {
      const read = (fact: string, id: string) =>
        engine.query(`SELECT count(*) AS n, count(DISTINCT concat(CAST(${id} AS varchar), '/', _batch_id)) AS versions, sum(CAST(${id} AS bigint)) AS ids FROM "${PROCESSED_DB}"."${fact}"`);
      const facts = STAR_TABLES.filter((t) => t.kind === 'fact');
      const before = await Promise.all(facts.map((f) => read(f.name, f.key[0])));
      const current = await engine.query(`SELECT count(*) AS n FROM "${PROCESSED_DB}"."fact_sales_order_current"`);
      const results = await compactFacts(ctx, { force: true });
      expect(results.map((r) => [r.table, r.outcome])).toEqual(facts.map((f) => [f.name, 'compacted']));
      for (const [i, fact] of facts.entries()) {
        // Every batch is in a month now, and the view reads the months table the compaction built.
        const partitions = await ctx.catalog.partitions(fact.name);
        expect(partitions.length).toBeGreaterThan(0);
        expect(partitions.every((p) => p.month !== undefined)).toBe(true);
        const view = await glue.send(new GetTableCommand({ DatabaseName: PROCESSED_DB, Name: fact.name }));
        expect(view.Table?.TableType).toBe('VIRTUAL_VIEW');
        expect(view.Table?.Parameters?.['totes.months_table']).toMatch(new RegExp(`^${fact.name}_months_`));
        expect(await read(fact.name, fact.key[0])).toEqual(before[i]);
        expect(Number(before[i][0].n)).toBe(Number(before[i][0].versions));
      }
      // The current view reads the fact's view by name: unchanged.
      expect(await engine.query(`SELECT count(*) AS n FROM "${PROCESSED_DB}"."fact_sales_order_current"`)).toEqual(current);
      // Analysts' month filter: a month's rows, through the view.
      const [month] = (await ctx.catalog.partitions('fact_sales_order')).map((p) => p.month!);
      const inMonth = await engine.query(`SELECT count(*) AS n FROM "${PROCESSED_DB}"."fact_sales_order" WHERE created_month = '${month}'`);
      const byDate = await engine.query(`SELECT count(*) AS n FROM "${PROCESSED_DB}"."fact_sales_order" WHERE substr(CAST(created_date AS varchar), 1, 7) = '${month}'`);
      expect(inMonth).toEqual(byDate);
      expect(Number(inMonth[0].n)).toBeGreaterThan(0);
    });
  });
});

function gzipLines(rows: Record<string, unknown>[]): Buffer {
  return gzipSync(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(full)));
    else out.push(full);
  }
  return out;
}

async function waitFor(done: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

