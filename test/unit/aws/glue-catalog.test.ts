import {
  AlreadyExistsException,
  BatchCreatePartitionCommand,
  BatchDeletePartitionCommand,
  CreatePartitionCommand,
  DeleteTableCommand,
  GetTablesCommand,
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
import { batchesTableInput, factViewInput, type FactViewState } from '../../../functions/aws/fact-view';
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

/** The fact's view as Glue returns it, naming `state`'s tables. */
const view = (state: FactViewState, fact = 'fact_payment') => ({ ...factViewInput('proc', 'awsdatacatalog', fact, state), DatabaseName: 'proc', VersionId: '7' });

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

  it('adds a partition idempotently, to the batches table the fact\'s view names', async () => {
    glue.on(GetTableCommand, { Name: 'fact_payment' }).resolves({ Table: view({ batchesTable: 'fact_payment_batches' }) });
    glue.on(GetTableCommand, { Name: 'fact_payment_batches' }).resolves({ Table: { ...batchesTableInput('fact_payment_batches', 'fact_payment', 's3://processed/star/fact_payment/'), DatabaseName: 'proc' } });
    glue.on(CreatePartitionCommand).resolvesOnce({}).rejects(new AlreadyExistsException({ message: 'exists', $metadata: {} }));
    const loc = { prefix: `star/fact_payment/batch_id=${B1}/`, batchId: B1, sqlHash: 'h' };
    await catalog().addPartition('fact_payment', loc);
    await catalog().addPartition('fact_payment', loc);
    const input = glue.commandCalls(CreatePartitionCommand)[0].args[0].input.PartitionInput!;
    expect(glue.commandCalls(CreatePartitionCommand)[0].args[0].input.TableName).toBe('fact_payment_batches');
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
    glue.on(GetTableCommand, { Name: 'fact_payment' }).resolves({ Table: view({ batchesTable: 'fact_payment_batches' }) });
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

describe('GlueCatalog: a fact as a view switched in one UpdateTable (mocked Glue)', () => {
  const B3 = '0000000003-20261125T201000Z-cccc';
  const fact = 'fact_payment';
  const batch = (b: string) => ({ prefix: `star/${fact}/batch_id=${b}/`, batchId: b, sqlHash: 'h' });
  const month = (m: string, through: string) => ({ prefix: `star/${fact}/compacted=${through}-abcd1234/created_month=${m}/`, batchId: through, sqlHash: 'h', month: m });
  const batchPartition = (b: string) => ({ Values: [b], StorageDescriptor: { Location: `s3://processed/star/${fact}/batch_id=${b}/` }, Parameters: { 'totes.batch_id': b, 'totes.sql_hash': 'h' } });
  const monthPartition = (m: string, through: string) => ({ Values: [m], StorageDescriptor: { Location: `s3://processed/${month(m, through).prefix}` }, Parameters: { 'totes.batch_id': through, 'totes.sql_hash': 'h' } });
  /** Every Glue call, in order, as "Command table". */
  const calls = () => glue.calls().map((c) => {
    const input = c.args[0].input as { Name?: string; TableName?: string; TableInput?: { Name?: string }; Expression?: string };
    return `${c.args[0].constructor.name.replace(/Command$/, '')} ${input.TableName ?? input.Name ?? input.TableInput?.Name ?? input.Expression}`;
  });

  it('builds the months table and its partitions unseen, then switches the view once, then cleans up', async () => {
    const before = { batchesTable: 'fact_payment_batches', monthsTable: `fact_payment_months_${B1.toLowerCase().replace(/-/g, '_')}`, through: B1 };
    glue.on(GetTableCommand, { Name: fact }).resolves({ Table: view(before) });
    glue.on(GetPartitionsCommand, { TableName: before.monthsTable }).resolves({ Partitions: [monthPartition('2026-10', B1), monthPartition('2026-11', B1)] });
    // B1 is held by the months but its partition was not cleaned up yet (a crash after the last switch): not published.
    glue.on(GetPartitionsCommand, { TableName: 'fact_payment_batches' }).resolves({ Partitions: [batchPartition(B1), batchPartition(B2), batchPartition(B3)] });
    glue.on(DeleteTableCommand).resolves({});
    glue.on(CreateTableCommand).resolves({});
    glue.on(BatchCreatePartitionCommand).resolves({ Errors: [] });
    glue.on(UpdateTableCommand).resolves({});
    glue.on(GetTablesCommand).resolves({ TableList: [{ Name: before.monthsTable }, { Name: 'fact_payment_batches' }, { Name: 'fact_payment_current' }, { Name: 'fact_payment_months_leftover' }] });
    glue.on(BatchDeletePartitionCommand).resolves({ Errors: [] });

    expect(await catalog().partitions(fact)).toEqual([month('2026-10', B1), month('2026-11', B1), batch(B2), batch(B3)]);
    glue.resetHistory();
    await catalog().publishCompaction(fact, [batch(B2), month('2026-11', B1)], [month('2026-11', B2), month('2026-12', B2)]);

    const monthsTable = `fact_payment_months_${B2.toLowerCase().replace(/-/g, '_')}`;
    const order = calls();
    const switched = order.indexOf(`UpdateTable ${fact}`);
    expect(order.filter((c) => c.startsWith('UpdateTable'))).toHaveLength(1);
    // Unseen first: a leftover of that name dropped, the table created, its months registered; then the switch.
    expect(order.indexOf(`DeleteTable ${monthsTable}`)).toBeLessThan(order.indexOf(`CreateTable ${monthsTable}`));
    expect(order.indexOf(`CreateTable ${monthsTable}`)).toBeLessThan(order.indexOf(`BatchCreatePartition ${monthsTable}`));
    expect(order.indexOf(`BatchCreatePartition ${monthsTable}`)).toBeLessThan(switched);
    const created = glue.commandCalls(BatchCreatePartitionCommand)[0].args[0].input.PartitionInputList!;
    expect(created.map((p) => `${p.Values![0]} ${p.StorageDescriptor?.Location} ${p.Parameters?.['totes.batch_id']}`)).toEqual([
      `2026-10 s3://processed/${month('2026-10', B1).prefix} ${B1}`,
      `2026-11 s3://processed/${month('2026-11', B2).prefix} ${B2}`,
      `2026-12 s3://processed/${month('2026-12', B2).prefix} ${B2}`,
    ]);
    expect(created[0].StorageDescriptor?.SerdeInfo?.SerializationLibrary).toMatch(/ParquetHiveSerDe/);
    const update = glue.commandCalls(UpdateTableCommand)[0].args[0].input;
    expect(update.VersionId).toBe('7');
    expect(update.TableInput?.TableType).toBe('VIRTUAL_VIEW');
    expect(update.TableInput?.Parameters).toMatchObject({ 'totes.months_table': monthsTable, 'totes.compacted_through': B2, 'totes.batches_table': 'fact_payment_batches', presto_view: 'true', comment: 'Presto View' });
    const sql = JSON.parse(Buffer.from(update.TableInput!.ViewOriginalText!.slice('/* Presto View: '.length, -3), 'base64').toString('utf8')).originalSql as string;
    expect(sql).toContain(`FROM "proc"."${monthsTable}"`);
    expect(sql).toContain(`WHERE "batch_id" > '${B2}'`);
    // After the switch: the old months table and a leftover dropped, the compacted batches' partitions deleted; the rest kept.
    const after = order.slice(switched + 1);
    expect(after).toEqual(expect.arrayContaining([`DeleteTable ${before.monthsTable}`, 'DeleteTable fact_payment_months_leftover', 'BatchDeletePartition fact_payment_batches']));
    expect(after).not.toContain('DeleteTable fact_payment_current');
    expect(after).not.toContain('DeleteTable fact_payment_batches');
    expect(glue.commandCalls(BatchDeletePartitionCommand)[0].args[0].input.PartitionsToDelete).toEqual([{ Values: [B1] }, { Values: [B2] }]);
  });

  it('refuses a stale compaction without creating or switching anything', async () => {
    glue.on(GetTableCommand, { Name: fact }).resolves({ Table: view({ batchesTable: 'fact_payment_batches' }) });
    glue.on(GetPartitionsCommand, { TableName: 'fact_payment_batches' }).resolves({ Partitions: [batchPartition(B2)] });
    await expect(catalog().publishCompaction(fact, [batch(B1), batch(B2)], [month('2026-11', B2)])).rejects.toThrow(/no longer published.*Nothing was changed/);
    // A batch up to the new through that the compaction does not hold would vanish from the view: refused too.
    await expect(catalog().publishCompaction(fact, [], [month('2026-11', B2)])).rejects.toThrow(/published but not compacted/);
    expect(calls().every((c) => /^(GetTable|GetPartitions) /.test(c))).toBe(true);
  });

  it('leaves the view as it was when building the months table fails (a crash before the switch)', async () => {
    glue.on(GetTableCommand, { Name: fact }).resolves({ Table: view({ batchesTable: 'fact_payment_batches' }) });
    glue.on(GetPartitionsCommand, { TableName: 'fact_payment_batches' }).resolves({ Partitions: [batchPartition(B1)] });
    glue.on(DeleteTableCommand).rejects(notFound());
    glue.on(CreateTableCommand).resolves({});
    glue.on(BatchCreatePartitionCommand).resolves({ Errors: [{ PartitionValues: ['2026-11'], ErrorDetail: { ErrorCode: 'InternalServiceException', ErrorMessage: 'boom' } }] });
    await expect(catalog().publishCompaction(fact, [batch(B1)], [month('2026-11', B1)])).rejects.toThrow(/could not add 1 partition.*2026-11: InternalServiceException boom/);
    expect(glue.commandCalls(UpdateTableCommand)).toHaveLength(0);
  });

  it('publishes a backfill as a new batches table switched in one UpdateTable; later batches go to it', async () => {
    glue.on(GetTableCommand, { Name: fact }).resolves({ Table: view({ batchesTable: 'fact_payment_batches' }) });
    glue.on(DeleteTableCommand).rejects(notFound());
    glue.on(CreateTableCommand).resolves({});
    glue.on(BatchCreatePartitionCommand).resolves({});
    glue.on(UpdateTableCommand).resolves({});
    glue.on(GetTablesCommand).resolves({ TableList: [] });
    const rebuilt = (b: string) => ({ prefix: `star/${fact}/sql=h2h2h2h2h2h2/from=${B1}/batch_id=${b}/`, batchId: b, sqlHash: 'h2' });
    await catalog().replacePartitions(fact, [rebuilt(B1), rebuilt(B2)]);
    const table = glue.commandCalls(CreateTableCommand)[0].args[0].input.TableInput!;
    expect(table.Name).toMatch(/^fact_payment_batches_[0-9a-f]{12}$/);
    expect(glue.commandCalls(BatchCreatePartitionCommand)[0].args[0].input).toMatchObject({ TableName: table.Name });
    const update = glue.commandCalls(UpdateTableCommand);
    expect(update).toHaveLength(1);
    expect(update[0].args[0].input.TableInput?.Parameters?.['totes.batches_table']).toBe(table.Name);
    expect(calls().indexOf(`BatchCreatePartition ${table.Name}`)).toBeLessThan(calls().indexOf(`UpdateTable ${fact}`));
  });
});

