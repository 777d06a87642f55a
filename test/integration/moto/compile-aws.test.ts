import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { S3ObjectStore } from '../../../functions/aws/s3-object-store';
import { STACK_OUTPUTS, STACK_VERSION } from '../../../functions/core/contract/stack-contract';
import { loadSqlFiles } from '../../../functions/core/transform/sql-files';
import { describeIfMoto, startMotoServer, type MotoServer } from '../../support/moto-server';
import { RawLake, REPO_ROOT } from '../transform/raw-lake';
import { batchOne } from '../transform/totesys-rows';

/**
 * `totes compile --aws`: the deployed lake's next batch (buckets on moto, found through the stack's
 * outputs) rendered as Athena gets it — the stack's Glue databases, S3 locations — reading S3 only.
 */
const CLI = path.resolve(__dirname, '../../../functions/cli/totes.cjs');

describeIfMoto('totes compile --aws', () => {
  let moto: MotoServer;
  let lake: RawLake;
  let work: string;
  let outputs: string;

  beforeAll(async () => {
    [moto, lake] = await Promise.all([startMotoServer(), RawLake.create()]);
    const client = new S3Client(moto.clientConfig);
    for (const bucket of ['ingest-bucket', 'processed-bucket']) {
      await client.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: 'eu-west-2' } }));
    }
    // The lake's first extract, copied into the ingestion bucket as the extract Lambda writes it.
    await lake.writeBatch(1, batchOne);
    const ingestion = new S3ObjectStore('ingest-bucket', client);
    for await (const { key } of lake.ingestion.list('')) await ingestion.put(key, await lake.ingestion.get(key));
    client.destroy();
    work = await mkdtemp(path.join(os.tmpdir(), 'totes-compile-aws-'));
    outputs = path.join(work, 'outputs.json');
    const value = (v: string | number) => ({ value: v });
    await writeFile(
      outputs,
      JSON.stringify({
        [STACK_OUTPUTS.stackVersion]: value(STACK_VERSION),
        [STACK_OUTPUTS.region]: value('eu-west-2'),
        [STACK_OUTPUTS.ingestionBucket]: value('ingest-bucket'),
        [STACK_OUTPUTS.processedBucket]: value('processed-bucket'),
        [STACK_OUTPUTS.rawDatabase]: value('lake_raw_db'),
        [STACK_OUTPUTS.processedDatabase]: value('lake_processed_db'),
        [STACK_OUTPUTS.athenaWorkgroup]: value('wg'),
        [STACK_OUTPUTS.sourceSecretArn]: value('arn:aws:secretsmanager:eu-west-2:123456789012:secret:source'),
        [STACK_OUTPUTS.warehouseSecretArn]: value('arn:aws:secretsmanager:eu-west-2:123456789012:secret:warehouse'),
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await lake?.close();
    await moto?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const totes = (...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TOTES_') && !k.startsWith('AWS_'))), AWS_ENDPOINT_URL: moto.endpoint, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
      const child = spawn(process.execPath, [CLI, 'compile', ...args], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });

  it('renders the next batch in Athena\'s SQL with the stack\'s databases and buckets', async () => {
    const hash = (await loadSqlFiles(REPO_ROOT)).find((f) => f.table.name === 'fact_sales_order')!.sqlHash;
    const r = await totes('fact_sales_order', '--aws', '--stack-outputs', outputs, '--json');
    expect(r.stderr).not.toMatch(/totes compile failed/);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { engine: string; batchId: string; pending: boolean; statements: { tables: string[]; role: string; sql: string }[] };
    expect(out).toMatchObject({ engine: 'athena', batchId: lake.batchId(1), pending: true });
    const ctas = out.statements.find((s) => s.tables[0] === 'fact_sales_order' && s.role.startsWith('CTAS'))!;
    expect(ctas.sql).toMatch(/^CREATE TABLE "lake_processed_db"\."totes_tmp_run_\d+_fact_sales_order"\nWITH \(format = 'PARQUET', write_compression = 'ZSTD', external_location = 's3:\/\/processed-bucket\/star\/fact_sales_order\/batch_id=/);
    expect(ctas.sql).toContain(`FROM "lake_raw_db"."raw_sales_order" WHERE (dt = '`);
    expect(ctas.sql).toContain(`CAST('${hash}' AS varchar) AS "_sql_hash"`);
  }, 120_000);

  it('refuses --engine beside --aws', async () => {
    const r = await totes('--aws', '--stack-outputs', outputs, '--engine', 'trino');
    expect(r.status).toBe(64);
    expect(r.stderr).toContain('--engine is for the local pipeline');
  }, 60_000);
});
