import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  TooManyRequestsException,
} from '@aws-sdk/client-athena';
import { BatchDeleteTableCommand, CreateTableCommand, EntityNotFoundException, GetTableCommand, GetTablesCommand, GlueClient } from '@aws-sdk/client-glue';
import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { AthenaEngine, AthenaQueryError } from '../../../functions/engines/athena/engine';
import { S3ObjectStore } from '../../../functions/aws/s3-object-store';
import type { Log } from '../../../functions/core/ports/log';
import type { WriteTarget } from '../../../functions/core/ports/query-engine';

const athena = mockClient(AthenaClient);
const glue = mockClient(GlueClient);
const s3 = mockClient(S3Client);
const BATCH = '0000000042-20261125T204100Z-3f9a';

const metrics: { name: string; value: number; dimensions?: Record<string, string> }[] = [];
const log: Log = { info() {}, warn() {}, error() {}, progress() {}, metric: (name, value, _unit, dimensions) => void metrics.push({ name, value, dimensions }) };

function engine(now?: () => Date) {
  return new AthenaEngine({
    now,
    athena: new AthenaClient({ region: 'eu-west-2', maxAttempts: 1 }),
    glue: new GlueClient({ region: 'eu-west-2', maxAttempts: 1 }),
    workgroup: 'totes',
    namespace: { rawDatabase: 'raw', processedDatabase: 'proc' },
    processed: new S3ObjectStore('processed', new S3Client({ region: 'eu-west-2', maxAttempts: 1 })),
    log,
    sleep: async () => undefined,
  });
}

const target = (over: Partial<WriteTarget> = {}): WriteTarget => ({
  table: 'dim_currency',
  prefix: `star/dim_currency/${BATCH}/`,
  columns: [{ name: 'currency_id', trinoType: 'integer' }],
  batchId: BATCH,
  sqlHash: 'h',
  origin: 'sql/transform/dim_currency.sql',
  ...over,
});

const succeeded = (bytes = 100, ms = 20) => ({ QueryExecution: { Status: { State: 'SUCCEEDED' as const }, Statistics: { DataScannedInBytes: bytes, EngineExecutionTimeInMillis: ms } } });

beforeEach(() => {
  athena.reset();
  glue.reset();
  s3.reset();
  metrics.length = 0;
  s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: `star/dim_currency/${BATCH}/part-0.parquet`, Size: 10 }] });
  s3.on(DeleteObjectsCommand).resolves({});
  glue.on(GetTableCommand).rejects(new EntityNotFoundException({ message: 'no', $metadata: {} }));
  glue.on(CreateTableCommand).resolves({});
  glue.on(BatchDeleteTableCommand).resolves({});
  glue.on(GetTablesCommand).resolves({ TableList: [] });
});

describe('AthenaEngine (mocked Athena and Glue)', () => {
  it('runs one CTAS in the workgroup, polls until done, and reports rows, bytes, time and files', async () => {
    let started = 0;
    athena.on(StartQueryExecutionCommand).callsFake(() => ({ QueryExecutionId: `q${++started}` }));
    athena.on(GetQueryExecutionCommand)
      .resolvesOnce({ QueryExecution: { Status: { State: 'QUEUED' } } })
      .resolvesOnce({ QueryExecution: { Status: { State: 'RUNNING' } } })
      .resolves(succeeded(1234, 56));
    athena.on(GetQueryResultsCommand).resolves({ UpdateCount: 3 });
    const e = engine();
    const stats = await e.write('SELECT currency_id FROM current_currency', { batch: {}, current: { currency: `current/currency/${BATCH}/` }, star: {} }, target());
    expect(stats).toEqual({ rows: 3, bytesScanned: 1234, elapsedMs: 56, files: [`star/dim_currency/${BATCH}/part-0.parquet`], statements: 1 });

    const start = athena.commandCalls(StartQueryExecutionCommand)[0].args[0].input;
    expect(start.WorkGroup).toBe('totes');
    expect(start.QueryExecutionContext).toEqual({ Database: 'proc', Catalog: undefined });
    expect(start.QueryString).toMatch(/^CREATE TABLE "proc"."totes_tmp_[0-9a-f]{8}_\d+_dim_currency"\nWITH \(format = 'PARQUET', write_compression = 'ZSTD', external_location = 's3:\/\/processed\/star\/dim_currency\/0000000042-20261125T204100Z-3f9a\/'\)/);
    // current_currency reads a temporary table registered over its prefix, shaped like the contract.
    const registered = glue.commandCalls(CreateTableCommand)[0].args[0].input.TableInput!;
    expect(registered.StorageDescriptor?.Location).toBe(`s3://processed/current/currency/${BATCH}/`);
    expect(registered.StorageDescriptor?.Columns?.map((c) => c.Name)).toEqual(['currency_id', 'currency_code', 'created_at', 'last_updated', '_batch_id', '_sql_hash']);
    expect(start.QueryString).toContain(`"current_currency" AS (SELECT * FROM "proc"."${registered.Name}")`);
    expect(metrics).toContainEqual({ name: 'BytesScanned', value: 1234, dimensions: { table: 'dim_currency' } });

    // Both the registered table and the CTAS table are dropped, metadata only.
    await e.close();
    const dropped = glue.commandCalls(BatchDeleteTableCommand)[0].args[0].input;
    expect(dropped.DatabaseName).toBe('proc');
    expect(dropped.TablesToDelete).toHaveLength(2);
  });

  it('clears what a dead attempt left at the target location before the CTAS, which needs it empty', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce({ Contents: [{ Key: `star/dim_currency/${BATCH}/half-written.parquet`, Size: 3 }] })
      .resolves({ Contents: [{ Key: `star/dim_currency/${BATCH}/part-0.parquet`, Size: 10 }] });
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q' });
    athena.on(GetQueryExecutionCommand).resolves(succeeded());
    athena.on(GetQueryResultsCommand).resolves({ UpdateCount: 1 });
    const stats = await engine().write('SELECT 1 AS currency_id', { batch: {}, current: {}, star: {} }, target());
    const deleted = s3.commandCalls(DeleteObjectsCommand).map((c) => c.args[0].input.Delete?.Objects?.map((o) => o.Key));
    expect(deleted).toEqual([[`star/dim_currency/${BATCH}/half-written.parquet`]]);
    expect(stats.files).toEqual([`star/dim_currency/${BATCH}/part-0.parquet`]);
  });

  it('reads current_<table> of this batch from the CTAS table that wrote it, without registering another', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q' });
    athena.on(GetQueryExecutionCommand).resolves(succeeded());
    athena.on(GetQueryResultsCommand).resolves({ UpdateCount: 1 });
    const e = engine();
    const prefix = `current/currency/${BATCH}/`;
    await e.write('SELECT 1 AS currency_id', { batch: { currency: [`raw/currency/dt=2026-11-25/${BATCH}.ndjson.gz`] }, current: {}, star: {} }, target({ table: 'current_currency', prefix }));
    await e.write('SELECT currency_id FROM current_currency', { batch: {}, current: { currency: prefix }, star: {} }, target());
    expect(glue.commandCalls(CreateTableCommand)).toHaveLength(0);
    const [first, second] = athena.commandCalls(StartQueryExecutionCommand).map((c) => c.args[0].input.QueryString!);
    const ctasTable = /^CREATE TABLE ("proc"."[^"]+")/.exec(first)![1];
    expect(second).toContain(`"current_currency" AS (SELECT * FROM ${ctasTable})`);
    expect(first).toContain(`"batch_currency" AS (SELECT "currency_id", "currency_code", "created_at", "last_updated", "_batch_id" FROM "raw"."raw_currency" WHERE (dt = '2026-11-25'`);
  });

  it('binds a batch without files as an empty relation, reading no raw table', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q' });
    athena.on(GetQueryExecutionCommand).resolves(succeeded());
    athena.on(GetQueryResultsCommand).resolves({ UpdateCount: 0 });
    await engine().write('SELECT currency_id FROM batch_currency', { batch: { currency: [] }, current: {}, star: {} }, target());
    const [sql] = athena.commandCalls(StartQueryExecutionCommand).map((c) => c.args[0].input.QueryString!);
    expect(sql).toContain('"batch_currency" AS (SELECT CAST(NULL AS integer) AS "currency_id", ');
    expect(sql).not.toContain('raw_currency');
  });

  it('backs off and retries a throttled start (TooManyRequestsException)', async () => {
    athena.on(StartQueryExecutionCommand)
      .rejectsOnce(new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }))
      .rejectsOnce(new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }))
      .resolves({ QueryExecutionId: 'q' });
    athena.on(GetQueryExecutionCommand).resolves(succeeded());
    athena.on(GetQueryResultsCommand).resolves({ UpdateCount: 0 });
    await engine().write('SELECT 1 AS currency_id', { batch: {}, current: {}, star: {} }, target());
    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(3);
  });

  it('raises Athena reason, SQL file and batch for a FAILED query, and counts the failure', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-failed' });
    athena.on(GetQueryExecutionCommand).resolves({
      QueryExecution: { Status: { State: 'FAILED', StateChangeReason: "COLUMN_NOT_FOUND: line 3:8: Column 'nope' cannot be resolved", AthenaError: { ErrorCategory: 2, Retryable: false } } },
    });
    const err = await engine().write('SELECT nope FROM x', { batch: {}, current: {}, star: {} }, target()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AthenaQueryError);
    expect((err as Error).message).toContain(`Athena query for sql/transform/dim_currency.sql of batch ${BATCH} FAILED: COLUMN_NOT_FOUND`);
    expect((err as Error).message).toContain('Query q-failed in workgroup totes');
    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(1);
    expect(metrics).toContainEqual({ name: 'QueryFailed', value: 1, dimensions: undefined });
  });

  it('re-runs a query whose failure Athena marks retryable, and reports CANCELLED', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q' });
    athena.on(GetQueryExecutionCommand)
      .resolvesOnce({ QueryExecution: { Status: { State: 'FAILED', StateChangeReason: 'Internal error', AthenaError: { ErrorCategory: 1, Retryable: true } } } })
      .resolves(succeeded());
    athena.on(GetQueryResultsCommand).resolves({ UpdateCount: 2 });
    expect((await engine().write('SELECT 1 AS currency_id', { batch: {}, current: {}, star: {} }, target())).rows).toBe(2);
    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(2);

    athena.reset();
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q' });
    athena.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'CANCELLED', StateChangeReason: 'Query cancelled by user' } } });
    await expect(engine().write('SELECT 1 AS currency_id', { batch: {}, current: {}, star: {} }, target())).rejects.toThrow(/CANCELLED: Query cancelled by user/);
  });

  it('splits a write of more than 100 partitions into a CTAS and INSERTs, summing rows', async () => {
    let n = 0;
    athena.on(StartQueryExecutionCommand).callsFake(() => ({ QueryExecutionId: `q${++n}` }));
    athena.on(GetQueryExecutionCommand).resolves(succeeded(10, 1));
    const days = Array.from({ length: 230 }, (_, i) => new Date(Date.UTC(2026, 0, 1 + i)).toISOString().slice(0, 10));
    athena.on(GetQueryResultsCommand, { QueryExecutionId: 'q1' }).resolves({
      ResultSet: {
        ResultSetMetadata: { ColumnInfo: [{ Name: 'day', Type: 'date' }] },
        Rows: [{ Data: [{ VarCharValue: 'day' }] }, ...days.map((d) => ({ Data: [{ VarCharValue: d }] }))],
      },
    });
    athena.on(GetQueryResultsCommand, { MaxResults: 1 }).resolves({ UpdateCount: 7 });
    const t = target({ table: 'by_day', columns: [{ name: 'day', trinoType: 'date' }, { name: 'n', trinoType: 'integer' }], partitionedBy: ['day'] });
    const stats = await engine().write('SELECT day, n FROM x', { batch: {}, current: {}, star: {} }, t);
    const sql = athena.commandCalls(StartQueryExecutionCommand).map((c) => c.args[0].input.QueryString!);
    expect(sql[0]).toMatch(/^SELECT DISTINCT "day"/);
    expect(sql.slice(1).map((s) => s.split(/\s/)[0])).toEqual(['CREATE', 'INSERT', 'INSERT']);
    expect(stats.rows).toBe(21);
    expect(stats.bytesScanned).toBe(40);
    // Each of the four is an Athena query, sent after the previous one finished.
    expect(stats.statements).toBe(4);
  });

  it('registers a prefix once for statements sent together (core/transform/concurrently.ts)', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q' });
    athena.on(GetQueryExecutionCommand).resolves(succeeded());
    athena.on(GetQueryResultsCommand).resolves({ ResultSet: { ResultSetMetadata: { ColumnInfo: [{ Name: 'n', Type: 'bigint' }] }, Rows: [{ Data: [{ VarCharValue: 'n' }] }, { Data: [{ VarCharValue: '1' }] }] } });
    const e = engine();
    const star = { dim_currency: [`star/dim_currency/${BATCH}/`] };
    await Promise.all([e.query('SELECT count(*) AS n FROM dim_currency', { batch: {}, current: {}, star }), e.query('SELECT count(*) AS n FROM dim_currency', { batch: {}, current: {}, star })]);
    expect(glue.commandCalls(CreateTableCommand)).toHaveLength(1);
    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(2);
  });

  it('binds many batches of a fact as one table with an enum partition projection', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q' });
    athena.on(GetQueryExecutionCommand).resolves(succeeded());
    athena.on(GetQueryResultsCommand).resolves({ UpdateCount: 0 });
    const other = '0000000041-20261125T203600Z-0000';
    const star = { fact_payment: [`star/fact_payment/batch_id=${other}/`, `star/fact_payment/batch_id=${BATCH}/`] };
    await engine().write('SELECT 1 AS currency_id FROM fact_payment', { batch: {}, current: {}, star }, target());
    const input = glue.commandCalls(CreateTableCommand)[0].args[0].input.TableInput!;
    expect(input.StorageDescriptor?.Location).toBe('s3://processed/star/fact_payment/');
    expect(input.PartitionKeys).toEqual([{ Name: 'batch_id', Type: 'string' }]);
    expect(input.Parameters).toMatchObject({
      'projection.enabled': 'true',
      'projection.batch_id.type': 'enum',
      'projection.batch_id.values': `${other},${BATCH}`,
      'storage.location.template': 's3://processed/star/fact_payment/batch_id=${batch_id}/',
    });
  });

  it('returns query rows across result pages, typed by column', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q' });
    athena.on(GetQueryExecutionCommand).resolves(succeeded());
    const meta = { ColumnInfo: [{ Name: 'id', Type: 'integer' }, { Name: 'paid', Type: 'boolean' }, { Name: 'amount', Type: 'decimal' }, { Name: 'note', Type: 'varchar' }] };
    athena.on(GetQueryResultsCommand)
      .resolvesOnce({ NextToken: 't', ResultSet: { ResultSetMetadata: meta, Rows: [{ Data: [{ VarCharValue: 'id' }, { VarCharValue: 'paid' }, { VarCharValue: 'amount' }, { VarCharValue: 'note' }] }, { Data: [{ VarCharValue: '1' }, { VarCharValue: 'true' }, { VarCharValue: '10.50' }, {}] }] } })
      .resolvesOnce({ ResultSet: { ResultSetMetadata: meta, Rows: [{ Data: [{ VarCharValue: '2' }, { VarCharValue: 'false' }, { VarCharValue: '0.01' }, { VarCharValue: 'x' }] }] } });
    const e = engine();
    expect(e.measuresScan).toBe(true);
    const { rows, bytesScanned } = await e.select('SELECT * FROM raw_payment', { batch: {}, current: {}, star: {}, raw: { payment: [] } });
    expect(rows).toEqual([
      { id: 1, paid: true, amount: '10.50', note: null },
      { id: 2, paid: false, amount: '0.01', note: 'x' },
    ]);
    // DataScannedInBytes of the query's execution (succeeded(): 100).
    expect(bytesScanned).toBe(100);
    expect(athena.commandCalls(StartQueryExecutionCommand)[0].args[0].input.QueryString).toMatch(/^WITH\n"raw_payment" AS \(SELECT .* WHERE false\)\nSELECT \* FROM raw_payment$/);
  });
});

describe('AthenaEngine: current state in segments, and tables left by dead runs', () => {
  it('reads a current state held as base + deltas through the latest-version merge', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q' });
    athena.on(GetQueryExecutionCommand).resolves(succeeded());
    athena.on(GetQueryResultsCommand).resolves({ UpdateCount: 1 });
    const base = `current/currency/${BATCH}/`;
    const delta = 'current/currency/0000000043-20261125T204600Z-aaaa/';
    await engine().write('SELECT currency_id FROM current_currency', { batch: {}, current: { currency: [base, delta] }, star: {} }, target());
    const registered = glue.commandCalls(CreateTableCommand).map((c) => c.args[0].input.TableInput!);
    expect(registered.map((t) => t.StorageDescriptor?.Location)).toEqual([`s3://processed/${base}`, `s3://processed/${delta}`]);
    const sql = athena.commandCalls(StartQueryExecutionCommand)[0].args[0].input.QueryString!;
    expect(sql).toContain(`"_segments_current_currency" AS (SELECT * FROM "proc"."${registered[0].Name}" UNION ALL SELECT * FROM "proc"."${registered[1].Name}")`);
    expect(sql).toMatch(/"current_currency" AS \(SELECT currency_id, currency_code, created_at, last_updated, _batch_id\nFROM \(\n.*row_number\(\) OVER \(PARTITION BY currency_id ORDER BY /s);
  });

  it('drops temporary tables older than two hours that earlier runs left, and nothing else', async () => {
    const now = new Date('2026-11-25T12:00:00Z');
    const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);
    const temporary = { 'totes.temporary': 'true' };
    glue.on(GetTablesCommand)
      .resolvesOnce({ TableList: [{ Name: 'totes_tmp_dead_1_dim_staff', CreateTime: hoursAgo(3), Parameters: temporary }, { Name: 'totes_tmp_live_1_dim_staff', CreateTime: hoursAgo(0.2), Parameters: temporary }], NextToken: 'p2' })
      .resolvesOnce({ TableList: [{ Name: 'totes_tmp_dead_2_fact_payment', CreateTime: hoursAgo(30), Parameters: temporary }, { Name: 'totes_tmp_not_ours', CreateTime: hoursAgo(30), Parameters: {} }, { Name: 'dim_staff', CreateTime: hoursAgo(300), Parameters: temporary }] });
    await engine(() => now).close();
    expect(glue.commandCalls(GetTablesCommand).map((c) => c.args[0].input.NextToken)).toEqual([undefined, 'p2']);
    const dropped = glue.commandCalls(BatchDeleteTableCommand).flatMap((c) => c.args[0].input.TablesToDelete ?? []);
    expect(dropped).toEqual(['totes_tmp_dead_1_dim_staff', 'totes_tmp_dead_2_fact_payment']);
  });

  it('reports, and does not throw, when it cannot look for leftovers', async () => {
    glue.on(GetTablesCommand).rejects(new Error('AccessDeniedException: glue:GetTables'));
    const warnings: string[] = [];
    const e = new AthenaEngine({
      athena: new AthenaClient({ region: 'eu-west-2', maxAttempts: 1 }),
      glue: new GlueClient({ region: 'eu-west-2', maxAttempts: 1 }),
      workgroup: 'totes',
      namespace: { rawDatabase: 'raw', processedDatabase: 'proc' },
      processed: new S3ObjectStore('processed', new S3Client({ region: 'eu-west-2', maxAttempts: 1 })),
      log: { ...log, warn: (message) => void warnings.push(message) },
    });
    await expect(e.close()).resolves.toBeUndefined();
    expect(warnings).toEqual(['Could not look for temporary Glue tables left by earlier runs']);
  });
});
