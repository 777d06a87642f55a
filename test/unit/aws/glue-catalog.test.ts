import {
  AlreadyExistsException,
  CreatePartitionCommand,
  CreateTableCommand,
  EntityNotFoundException,
  GetPartitionsCommand,
  GetTableCommand,
  GlueClient,
  InternalServiceException,
  UpdateTableCommand,
} from '@aws-sdk/client-glue';
import { mockClient } from 'aws-sdk-client-mock';
import { GlueCatalog } from '../../../functions/aws/glue-catalog';
import { processedTableInput, rawTableInput } from '../../../functions/aws/glue-table-input';
import { SOURCE_TABLE_NAMES } from '../../../functions/core/contract/source-tables';
import { STAR_TABLE_NAMES } from '../../../functions/core/contract/star-tables';

const glue = mockClient(GlueClient);
const B1 = '0000000001-20261125T200000Z-aaaa';
const B2 = '0000000002-20261125T200500Z-bbbb';
const notFound = () => new EntityNotFoundException({ message: 'Table not found', $metadata: {} });
const catalog = () => new GlueCatalog(new GlueClient({ region: 'eu-west-2', maxAttempts: 1 }), { database: 'proc', bucket: 'processed' });
const table = (name: string, location: string, built?: { batchId: string; sqlHash: string }) => ({
  ...processedTableInput(name, location, built),
  DatabaseName: 'proc',
  CreateTime: new Date(),
  VersionId: '3',
});

beforeEach(() => glue.reset());

describe('GlueCatalog (mocked Glue)', () => {
  it('repoints with one UpdateTable carrying location, batch, SQL hash and the descriptions', async () => {
    glue.on(GetTableCommand).resolves({ Table: table('dim_staff', 's3://processed/star/dim_staff/old/', { batchId: B1, sqlHash: 'h1' }) });
    glue.on(UpdateTableCommand).resolves({});
    await catalog().repoint('dim_staff', { prefix: `star/dim_staff/${B2}/`, batchId: B2, sqlHash: 'h2' });
    const [call] = glue.commandCalls(UpdateTableCommand);
    const input = call.args[0].input;
    expect(input.SkipArchive).toBe(true);
    expect(input.TableInput?.StorageDescriptor?.Location).toBe(`s3://processed/star/dim_staff/${B2}/`);
    expect(input.TableInput?.Parameters).toMatchObject({ 'totes.batch_id': B2, 'totes.sql_hash': 'h2', classification: 'parquet' });
    expect(input.TableInput?.Description).toMatch(/Staff/);
    expect(input.TableInput?.StorageDescriptor?.Columns?.[0]).toEqual({ Name: 'staff_id', Type: 'int', Comment: 'Staff key.' });
    // Read-only fields of GetTable are not sent back.
    expect(input.TableInput).not.toHaveProperty('CreateTime');
    expect(input.TableInput).not.toHaveProperty('DatabaseName');
  });

  it('creates a missing table from the contract instead', async () => {
    glue.on(GetTableCommand).rejects(notFound());
    glue.on(CreateTableCommand).resolves({});
    await catalog().repoint('dim_currency', { prefix: `star/dim_currency/${B1}/`, batchId: B1, sqlHash: 'h' });
    expect(glue.commandCalls(UpdateTableCommand)).toHaveLength(0);
    const input = glue.commandCalls(CreateTableCommand)[0].args[0].input.TableInput!;
    expect(input.Name).toBe('dim_currency');
    expect(input.Parameters?.['totes.batch_id']).toBe(B1);
  });

  it('updates when another run created the table first', async () => {
    glue.on(GetTableCommand).rejectsOnce(notFound()).resolves({ Table: table('dim_design', 's3://processed/star/dim_design/') });
    glue.on(CreateTableCommand).rejects(new AlreadyExistsException({ message: 'exists', $metadata: {} }));
    glue.on(UpdateTableCommand).resolves({});
    await catalog().repoint('dim_design', { prefix: `star/dim_design/${B1}/`, batchId: B1, sqlHash: 'h' });
    expect(glue.commandCalls(UpdateTableCommand)).toHaveLength(1);
  });

  it('reads a location, or none for a table no batch has published', async () => {
    glue.on(GetTableCommand, { Name: 'dim_staff' }).resolves({ Table: table('dim_staff', `s3://processed/star/dim_staff/${B1}`, { batchId: B1, sqlHash: 'h' }) });
    glue.on(GetTableCommand, { Name: 'dim_date' }).resolves({ Table: table('dim_date', 's3://processed/star/dim_date/') });
    glue.on(GetTableCommand, { Name: 'dim_location' }).rejects(notFound());
    expect(await catalog().location('dim_staff')).toEqual({ prefix: `star/dim_staff/${B1}/`, batchId: B1, sqlHash: 'h' });
    expect(await catalog().location('dim_date')).toBeUndefined();
    expect(await catalog().location('dim_location')).toBeUndefined();
  });

  it('adds a partition idempotently', async () => {
    glue.on(GetTableCommand).resolves({ Table: table('fact_payment', 's3://processed/star/fact_payment/') });
    glue.on(CreatePartitionCommand).resolvesOnce({}).rejects(new AlreadyExistsException({ message: 'exists', $metadata: {} }));
    const loc = { prefix: `star/fact_payment/batch_id=${B1}/`, batchId: B1, sqlHash: 'h' };
    await catalog().addPartition('fact_payment', loc);
    await catalog().addPartition('fact_payment', loc);
    const input = glue.commandCalls(CreatePartitionCommand)[0].args[0].input.PartitionInput!;
    expect(input.Values).toEqual([B1]);
    expect(input.StorageDescriptor?.Location).toBe(`s3://processed/star/fact_payment/batch_id=${B1}/`);
    expect(input.StorageDescriptor?.SerdeInfo?.SerializationLibrary).toMatch(/ParquetHiveSerDe/);
    // The partition names the batch and the SQL version that built it, and keeps the column comments.
    expect(input.Parameters).toEqual({ 'totes.batch_id': B1, 'totes.sql_hash': 'h' });
    expect(input.StorageDescriptor?.Columns?.every((c) => Boolean(c.Comment))).toBe(true);
  });

  it('refuses to add a partition to an unpartitioned table', async () => {
    glue.on(GetTableCommand).resolves({ Table: table('dim_staff', 's3://processed/star/dim_staff/') });
    await expect(catalog().addPartition('dim_staff', { prefix: 'star/dim_staff/x/', batchId: B1, sqlHash: 'h' })).rejects.toThrow(/not partitioned by batch/);
  });

  it('pages through partitions and returns them in batch order', async () => {
    const part = (b: string) => ({ Values: [b], StorageDescriptor: { Location: `s3://processed/star/fact_payment/batch_id=${b}/` }, Parameters: { 'totes.sql_hash': 'h' } });
    glue.on(GetPartitionsCommand).resolvesOnce({ Partitions: [part(B2)], NextToken: 'n' }).resolvesOnce({ Partitions: [part(B1)] });
    const parts = await catalog().partitions('fact_payment');
    expect(parts.map((p) => p.batchId)).toEqual([B1, B2]);
    expect(glue.commandCalls(GetPartitionsCommand)[1].args[0].input.NextToken).toBe('n');
  });

  it('says what failed when Glue fails', async () => {
    glue.on(GetTableCommand).rejects(new InternalServiceException({ message: 'boom', $metadata: {} }));
    await expect(catalog().location('dim_staff')).rejects.toThrow('Glue could not read table proc.dim_staff: InternalServiceException: boom');
  });
});

describe('Glue table definitions a person can browse', () => {
  const processedNames = [...STAR_TABLE_NAMES, ...SOURCE_TABLE_NAMES.map((t) => `current_${t}`)];

  it.each(processedNames)('%s: the table is described, every column and partition key commented', (name) => {
    const input = processedTableInput(name, `s3://processed/x/${name}/`, { batchId: B1, sqlHash: 'h' });
    expect(input.Description?.trim()).toBeTruthy();
    for (const c of [...(input.StorageDescriptor?.Columns ?? []), ...(input.PartitionKeys ?? [])]) expect([c.Name, c.Comment?.trim()]).toEqual([c.Name, expect.any(String)]);
    expect(input.Parameters).toMatchObject({ 'totes.batch_id': B1, 'totes.sql_hash': 'h' });
  });

  it.each(SOURCE_TABLE_NAMES)('raw_%s: described from the table contract', (name) => {
    const input = rawTableInput(name, `s3://ingestion/raw/${name}/`, '2026-01-01');
    expect(input.Description?.trim()).toBeTruthy();
    expect(input.StorageDescriptor?.Columns?.every((c) => Boolean(c.Comment?.trim()))).toBe(true);
  });

  it('a repoint keeps the description cdktf gave the table, and fills one in where it has none', async () => {
    const described = { ...table('dim_staff', 's3://processed/star/dim_staff/'), Description: 'From cdktf, with the SQL header.' };
    glue.on(GetTableCommand).resolvesOnce({ Table: described }).resolves({ Table: { ...described, Description: undefined } });
    glue.on(UpdateTableCommand).resolves({});
    await catalog().repoint('dim_staff', { prefix: `star/dim_staff/${B1}/`, batchId: B1, sqlHash: 'h1' });
    await catalog().repoint('dim_staff', { prefix: `star/dim_staff/${B2}/`, batchId: B2, sqlHash: 'h2' });
    const [first, second] = glue.commandCalls(UpdateTableCommand).map((c) => c.args[0].input.TableInput!);
    expect(first.Description).toBe('From cdktf, with the SQL header.');
    expect(second.Description).toMatch(/Built by sql\/transform\/dim_staff\.sql/);
    expect(second.Parameters).toMatchObject({ 'totes.batch_id': B2, 'totes.sql_hash': 'h2' });
  });
});
