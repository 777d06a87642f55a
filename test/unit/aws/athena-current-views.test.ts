import { AthenaClient, GetQueryExecutionCommand, StartQueryExecutionCommand } from '@aws-sdk/client-athena';
import { DeleteTableCommand, EntityNotFoundException, GetTableCommand, GlueClient, UpdateTableCommand, type Table, type TableInput } from '@aws-sdk/client-glue';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { ensureCurrentViews, ensureDimensionViews } from '../../../functions/aws/athena-current-views';
import { AthenaEngine } from '../../../functions/engines/athena/engine';
import { GlueCatalog } from '../../../functions/aws/glue-catalog';
import { createHandler as createTransform } from '../../../functions/transform/handler';
import { athenaCurrentViewDdl, athenaDimensionViewDdl, CURRENT_VIEWS, DIMENSION_VIEWS } from '../../../functions/core/analysis/current-views';
import { extractManifestKey } from '../../../functions/core/lake/lake-layout';
import { RunRecord } from '../../../functions/core/operate/run-record';
import { silentLog } from '../../../functions/core/ports/log';
import { sha256 } from '../../../functions/core/transform/sql-files';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const athena = mockClient(AthenaClient);
const glue = mockClient(GlueClient);
const s3 = mockClient(S3Client);
const DB = 'totes_processed';

/**
 * A Glue database that behaves like the real one for views: Athena's CREATE OR REPLACE VIEW
 * writes a VIRTUAL_VIEW table (Presto encoding, no descriptions), UpdateTable replaces it.
 */
function fakeLake(initial: Record<string, Table> = {}) {
  const tables = new Map<string, Table>(Object.entries(initial));
  const statements: string[] = [];
  glue.on(GetTableCommand).callsFake(({ Name }: { Name: string }) => {
    const table = tables.get(Name);
    if (!table) throw new EntityNotFoundException({ message: `Table ${Name} not found`, $metadata: {} });
    return { Table: structuredClone(table) };
  });
  glue.on(DeleteTableCommand).callsFake(({ Name }: { Name: string }) => {
    tables.delete(Name);
    return {};
  });
  glue.on(UpdateTableCommand).callsFake(({ TableInput: input }: { TableInput: TableInput }) => {
    tables.set(input.Name!, { ...structuredClone(input), Name: input.Name!, DatabaseName: DB });
    return {};
  });
  athena.on(StartQueryExecutionCommand).callsFake(({ QueryString }: { QueryString: string }) => {
    statements.push(QueryString);
    const name = /^CREATE OR REPLACE VIEW \w+\.(\w+) AS/.exec(QueryString)![1];
    tables.set(name, {
      Name: name, DatabaseName: DB, TableType: 'VIRTUAL_VIEW',
      Parameters: { presto_view: 'true', comment: 'Presto View' },
      ViewOriginalText: `/* Presto View: ${Buffer.from(JSON.stringify({ originalSql: QueryString })).toString('base64')} */`,
      ViewExpandedText: '/* Presto View */',
      StorageDescriptor: { Columns: [{ Name: 'sales_order_id', Type: 'int' }, { Name: 'units_sold', Type: 'int' }, { Name: '_batch_id', Type: 'varchar' }] },
    });
    return { QueryExecutionId: `q${statements.length}` };
  });
  athena.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'SUCCEEDED' }, Statistics: { DataScannedInBytes: 0, EngineExecutionTimeInMillis: 40 } } });
  return { tables, statements };
}

function ports() {
  const processed = new FolderObjectStore(mkdtempSync(path.join(tmpdir(), 'totes-views-')));
  const engine = new AthenaEngine({
    athena: new AthenaClient({ region: 'eu-west-2' }), glue: new GlueClient({ region: 'eu-west-2' }), workgroup: 'totes',
    namespace: { rawDatabase: 'totes_raw', processedDatabase: DB }, processed, log: silentLog, pollInitialMs: 1, sleep: async () => undefined,
  });
  const catalog = new GlueCatalog(new GlueClient({ region: 'eu-west-2' }), { database: DB, bucket: 'totes-processed' });
  return { engine, catalog, log: silentLog };
}

beforeEach(() => {
  athena.reset();
  glue.reset();
  s3.reset();
});

describe('current-state views in Athena', () => {
  it('creates each fact_*_current view with the core DDL, then describes it and stamps its hash', async () => {
    const { tables, statements } = fakeLake();
    const actions = await ensureCurrentViews(ports());
    expect(actions).toEqual({ fact_sales_order_current: 'created', fact_purchase_order_current: 'created', fact_payment_current: 'created' });
    expect(statements).toEqual(athenaCurrentViewDdl(DB));
    expect(statements[0].startsWith(`CREATE OR REPLACE VIEW ${DB}.fact_sales_order_current AS\nSELECT sales_order_id, created_date, `)).toBe(true);
    expect(statements[0]).toMatch(/row_number\(\) OVER \(PARTITION BY sales_order_id ORDER BY _batch_id DESC, last_updated_date DESC, last_updated_time DESC\) AS version_rank/);
    expect(statements[0]).toMatch(new RegExp(`FROM ${DB}\\.fact_sales_order\\n\\) AS versions\\nWHERE version_rank = 1$`));
    // Every statement ran in the pipeline's workgroup.
    expect(athena.commandCalls(StartQueryExecutionCommand).map((c) => c.args[0].input.WorkGroup)).toEqual(['totes', 'totes', 'totes']);

    const view = tables.get('fact_sales_order_current')!;
    expect(view.TableType).toBe('VIRTUAL_VIEW');
    expect(view.ViewOriginalText).toMatch(/^\/\* Presto View: /);
    expect(view.Parameters).toEqual({
      presto_view: 'true',
      comment: 'Presto View',
      'totes.sql_hash': sha256(statements[0]),
      'totes.description': expect.stringMatching(/^Current state of fact_sales_order: the latest version .* of each sales_order_id/),
    });
    // No Glue Description: Athena (Trino) reads it as the view's comment, and the view would vanish.
    expect(view.Description).toBeUndefined();
    expect(view.StorageDescriptor?.Columns?.every((c) => c.Comment && c.Comment.length > 0)).toBe(true);
    expect(glue.commandCalls(UpdateTableCommand).every((c) => c.args[0].input.SkipArchive === true)).toBe(true);
  });

  it('is idempotent: views at the current hash run no Athena query; a changed definition is replaced', async () => {
    const { tables, statements } = fakeLake();
    await ensureCurrentViews(ports());
    expect(await ensureCurrentViews(ports())).toEqual({ fact_sales_order_current: 'unchanged', fact_purchase_order_current: 'unchanged', fact_payment_current: 'unchanged' });
    expect(statements).toHaveLength(3);

    const stale = tables.get('fact_payment_current')!;
    tables.set('fact_payment_current', { ...stale, Parameters: { ...stale.Parameters, 'totes.sql_hash': 'an-older-definition' } });
    expect((await ensureCurrentViews(ports())).fact_payment_current).toBe('replaced');
    expect(statements).toHaveLength(4);
    expect(statements[3]).toMatch(/^CREATE OR REPLACE VIEW totes_processed\.fact_payment_current AS/);
  });

  it('repairs a view an earlier version described with a Glue Description, without running its DDL again', async () => {
    const { tables, statements } = fakeLake();
    await ensureCurrentViews(ports());
    const described = tables.get('fact_payment_current')!;
    tables.set('fact_payment_current', { ...described, Description: 'Current state of fact_payment (an older description)' });
    expect(await ensureCurrentViews(ports())).toEqual({ fact_sales_order_current: 'unchanged', fact_purchase_order_current: 'unchanged', fact_payment_current: 'repaired' });
    expect(statements).toHaveLength(3);
    const repaired = tables.get('fact_payment_current')!;
    expect(repaired.Description).toBeUndefined();
    expect(repaired.Parameters).toMatchObject({ comment: 'Presto View', 'totes.sql_hash': described.Parameters!['totes.sql_hash'] });
    expect(await ensureCurrentViews(ports())).toMatchObject({ fact_payment_current: 'unchanged' });
  });

  it('refuses to replace a table that is not a view, saying what to do', async () => {
    fakeLake({ fact_sales_order_current: { Name: 'fact_sales_order_current', TableType: 'EXTERNAL_TABLE' } });
    await expect(ensureCurrentViews(ports())).rejects.toThrow(/totes_processed\.fact_sales_order_current exists but is not a view \(EXTERNAL_TABLE\).*drop or rename/);
    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(0);
  });

  it('the transform Lambda keeps them, over the real AWS context, and records its run in S3', async () => {
    const { statements } = fakeLake();
    s3.on(PutObjectCommand).resolves({});
    const clients = () => ({
      s3: new S3Client({ region: 'eu-west-2' }), glue: new GlueClient({ region: 'eu-west-2' }),
      athena: new AthenaClient({ region: 'eu-west-2' }), secrets: new SecretsManagerClient({ region: 'eu-west-2' }),
    });
    const env = {
      TOTES_INGESTION_BUCKET: 'totes-ingestion', TOTES_PROCESSED_BUCKET: 'totes-processed',
      TOTES_GLUE_RAW_DATABASE: 'totes_raw', TOTES_GLUE_PROCESSED_DATABASE: DB, TOTES_ATHENA_WORKGROUP: 'totes',
    };
    const handler = createTransform({ env, clients, log: silentLog, now: () => new Date('2026-11-25T20:45:00Z'), transformPending: async () => [] });
    const event = { Records: [{ eventSource: 'aws:s3', eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'totes-ingestion' }, object: { key: extractManifestKey(1) } } }] };
    await handler(event);
    await handler(event);
    // The first invocation created the views; the second found them current.
    expect(statements.map((q) => /VIEW \w+\.(\w+)/.exec(q)![1])).toEqual([...CURRENT_VIEWS, ...DIMENSION_VIEWS].map((v) => v.name));
    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => [p.Bucket, p.IfNoneMatch])).toEqual([['totes-processed', '*'], ['totes-processed', '*']]);
    const record = RunRecord.parse(JSON.parse(String(puts[0].Body)));
    expect(record).toMatchObject({ key: puts[0].Key, outcome: 'nothing-new', engine: 'athena', stages: { transform: { batches: [] } } });
  });

  it('creates dim_transaction as the view merging dim_transaction_versions, replacing the table of that name from before', async () => {
    const { tables, statements } = fakeLake({ dim_transaction: { Name: 'dim_transaction', DatabaseName: DB, TableType: 'EXTERNAL_TABLE' } });
    expect(DIMENSION_VIEWS.map((v) => [v.name, v.versions])).toEqual([['dim_transaction', 'dim_transaction_versions']]);
    expect(await ensureDimensionViews(ports())).toEqual({ dim_transaction: 'created' });
    expect(glue.commandCalls(DeleteTableCommand).map((c) => c.args[0].input.Name)).toEqual(['dim_transaction']);
    expect(statements).toEqual(athenaDimensionViewDdl(DB));
    expect(statements[0]).toMatch(/^CREATE OR REPLACE VIEW totes_processed\.dim_transaction AS\nSELECT transaction_id, transaction_type, sales_order_id, purchase_order_id, _batch_id, _sql_hash\n/);
    expect(statements[0]).toMatch(/row_number\(\) OVER \(PARTITION BY transaction_id ORDER BY _batch_id DESC\) AS version_rank\n  FROM totes_processed\.dim_transaction_versions\n/);
    const view = tables.get('dim_transaction')!;
    expect(view.TableType).toBe('VIRTUAL_VIEW');
    expect(view.Description).toBeUndefined();
    expect(view.Parameters?.['totes.sql_hash']).toBe(sha256(statements[0]));
    expect(await ensureDimensionViews(ports())).toEqual({ dim_transaction: 'unchanged' });
    expect(statements).toHaveLength(1);
  });
});
