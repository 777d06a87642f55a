import { CreateDatabaseCommand, CreatePartitionCommand, CreateTableCommand, GetTableCommand, GlueClient } from '@aws-sdk/client-glue';
import { GlueCatalog } from '../../../functions/aws/glue-catalog';
import { PARAM_BATCH_ID, PARAM_SQL_HASH, processedTableInput } from '../../../functions/aws/glue-table-input';
import { dimensionPrefix, factBatchPrefix, factTablePrefix } from '../../../functions/core/lake/lake-layout';
import { describeIfMoto, startMotoServer, type MotoServer } from '../../support/moto-server';

const B1 = '0000000001-20261125T200000Z-aaaa';
const B2 = '0000000002-20261125T200500Z-bbbb';
const B3 = '0000000003-20261125T201000Z-cccc';

// moto ignores UpdateTable's SkipArchive (it keeps every version); the unit test checks we send it.
describeIfMoto('GlueCatalog against moto', () => {
  let moto: MotoServer;
  let glue: GlueClient;
  let catalog: GlueCatalog;

  beforeAll(async () => {
    moto = await startMotoServer();
    glue = new GlueClient(moto.clientConfig);
    await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: 'totes_processed', Description: 'Star schema and current state' } }));
    catalog = new GlueCatalog(glue, { database: 'totes_processed', bucket: 'processed', pageSize: 2 });
  });

  afterAll(async () => {
    glue?.destroy();
    await moto?.stop();
  });

  it('repoints a dimension deployed by cdktf, seen through GetTable, keeping descriptions', async () => {
    // As cdktf deploys it: described, at the table root, no batch yet.
    await glue.send(new CreateTableCommand({ DatabaseName: 'totes_processed', TableInput: processedTableInput('dim_staff', 's3://processed/star/dim_staff/') }));
    expect(await catalog.location('dim_staff')).toBeUndefined();

    await catalog.repoint('dim_staff', { prefix: dimensionPrefix('dim_staff', B1), batchId: B1, sqlHash: 'h1' });
    expect(await catalog.location('dim_staff')).toEqual({ prefix: dimensionPrefix('dim_staff', B1), batchId: B1, sqlHash: 'h1' });

    await catalog.repoint('dim_staff', { prefix: dimensionPrefix('dim_staff', B2), batchId: B2, sqlHash: 'h2' });
    const { Table } = await glue.send(new GetTableCommand({ DatabaseName: 'totes_processed', Name: 'dim_staff' }));
    expect(Table?.StorageDescriptor?.Location).toBe(`s3://processed/star/dim_staff/${B2}/`);
    expect(Table?.Parameters?.[PARAM_BATCH_ID]).toBe(B2);
    expect(Table?.Parameters?.[PARAM_SQL_HASH]).toBe('h2');
    expect(Table?.Parameters?.classification).toBe('parquet');
    expect(Table?.Description).toMatch(/Staff with their department/);
    const columns = Table?.StorageDescriptor?.Columns ?? [];
    expect(columns.map((c) => c.Name)).toEqual(['staff_id', 'first_name', 'last_name', 'department_name', 'location', 'email_address', '_batch_id', '_sql_hash']);
    expect(columns.every((c) => (c.Comment ?? '').length > 0)).toBe(true);
  });

  it('creates a missing current-state table from the contract on first repoint', async () => {
    await catalog.repoint('current_currency', { prefix: `current/currency/${B1}/`, batchId: B1, sqlHash: 'g' });
    const { Table } = await glue.send(new GetTableCommand({ DatabaseName: 'totes_processed', Name: 'current_currency' }));
    expect(Table?.StorageDescriptor?.Columns?.map((c) => `${c.Name}:${c.Type}`)).toEqual([
      'currency_id:int', 'currency_code:string', 'created_at:timestamp', 'last_updated:timestamp', '_batch_id:string', '_sql_hash:string',
    ]);
    expect(await catalog.location('current_currency')).toEqual({ prefix: `current/currency/${B1}/`, batchId: B1, sqlHash: 'g' });
  });

  it('adds fact partitions idempotently and pages through them in batch order', async () => {
    expect(await catalog.partitions('fact_payment')).toEqual([]);
    for (const b of [B2, B1, B3, B2]) await catalog.addPartition('fact_payment', { prefix: factBatchPrefix('fact_payment', b), batchId: b, sqlHash: `h-${b.slice(9, 10)}` });
    const parts = await catalog.partitions('fact_payment');
    expect(parts).toEqual([B1, B2, B3].map((b) => ({ prefix: factBatchPrefix('fact_payment', b), batchId: b, sqlHash: `h-${b.slice(9, 10)}` })));
    // The fact is a view over its batches table, created with the first batch (aws/fact-view.ts).
    const { Table } = await glue.send(new GetTableCommand({ DatabaseName: 'totes_processed', Name: 'fact_payment_batches' }));
    expect(Table?.StorageDescriptor?.Location).toBe(`s3://processed/${factTablePrefix('fact_payment')}`);
    expect(Table?.PartitionKeys?.map((k) => k.Name)).toEqual(['batch_id']);
    const { Table: view } = await glue.send(new GetTableCommand({ DatabaseName: 'totes_processed', Name: 'fact_payment' }));
    expect(view?.TableType).toBe('VIRTUAL_VIEW');
    expect(view?.Parameters).toMatchObject({ presto_view: 'true', comment: 'Presto View', 'totes.batches_table': 'fact_payment_batches' });
  });

  it('says what to fix when a table points outside the processed bucket', async () => {
    await glue.send(new CreateTableCommand({ DatabaseName: 'totes_processed', TableInput: processedTableInput('dim_design', 's3://elsewhere/x/', { batchId: B1, sqlHash: 'h' }) }));
    await expect(catalog.location('dim_design')).rejects.toThrow(/outside the processed bucket s3:\/\/processed\//);
  });

  it('moves a fact that is still a table partitioned by batch (a stack from before the views) under its view on the next batch', async () => {
    const loc = (b: string) => ({ prefix: factBatchPrefix('fact_purchase_order', b), batchId: b, sqlHash: 'h' });
    const legacy = processedTableInput('fact_purchase_order', `s3://processed/${factTablePrefix('fact_purchase_order')}`);
    await glue.send(new CreateTableCommand({ DatabaseName: 'totes_processed', TableInput: legacy }));
    for (const b of [B1, B2]) {
      await glue.send(new CreatePartitionCommand({
        DatabaseName: 'totes_processed', TableName: 'fact_purchase_order',
        PartitionInput: { Values: [b], StorageDescriptor: { ...legacy.StorageDescriptor, Location: `s3://processed/${loc(b).prefix}` }, Parameters: { [PARAM_BATCH_ID]: b, [PARAM_SQL_HASH]: 'h' } },
      }));
    }
    expect(await catalog.partitions('fact_purchase_order')).toEqual([loc(B1), loc(B2)]);
    await catalog.addPartition('fact_purchase_order', loc(B3));
    const { Table } = await glue.send(new GetTableCommand({ DatabaseName: 'totes_processed', Name: 'fact_purchase_order' }));
    expect(Table?.TableType).toBe('VIRTUAL_VIEW');
    expect(await catalog.partitions('fact_purchase_order')).toEqual([loc(B1), loc(B2), loc(B3)]);
  });
});
