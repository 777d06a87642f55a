import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readAwsConfig, requireSetting } from '../../../functions/aws/aws-config';
import { buildAwsContext, createAwsClients } from '../../../functions/aws/aws-pipeline-context';
import { AthenaEngine } from '../../../functions/engines/athena/engine';
import { PowertoolsLog } from '../../../functions/aws/powertools-log';
import { backoffDelay, retryWithBackoff } from '../../../functions/aws/retry-with-backoff';
import { SecretsManagerLocator } from '../../../functions/aws/secrets-locator';
import { emitFreshness } from '../../../functions/aws/freshness-metric';
import type { QueryEngine } from '../../../functions/core/ports/query-engine';
import type { Catalog } from '../../../functions/core/ports/catalog';
import { openFolderPipeline, unusedPort, type FolderPipelineOptions } from '../../../functions/local/folder-pipeline';
import { putExtractManifest, recordingLog } from './lake-fixtures';
import { silentLog } from '../../../functions/core/ports/log';

const secrets = mockClient(SecretsManagerClient);
const ARN = 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:totes/source-AbCdEf';
const caFile = path.join(mkdtempSync(path.join(tmpdir(), 'totes-ca-')), 'ca.pem');
beforeEach(() => secrets.reset());

describe('SecretsManagerLocator (mocked)', () => {
  const locator = () => new SecretsManagerLocator(new SecretsManagerClient({ region: 'eu-west-2', maxAttempts: 1 }), ARN, { caFile });

  it('reads the secret once and builds an encoded URL with verify-full TLS', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ host: 'db.example', port: '6543', dbname: 'totesys', username: 'u@x', password: 'p/w#' }) });
    const l = locator();
    const url = await l.url();
    expect(url).toBe(`postgres://u%40x:p%2Fw%23@db.example:6543/totesys?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}`);
    await l.url();
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    await l.close();
    await l.url();
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('names missing fields without printing values', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ host: 'db', password: 'hunter2' }) });
    const err = (await locator().url().catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/missing or has invalid fields: dbname, username/);
    expect(err.message).not.toContain('hunter2');
  });

  it('explains unreadable and non-JSON secrets, then retries on the next call', async () => {
    secrets.on(GetSecretValueCommand).rejectsOnce(new ResourceNotFoundException({ message: 'not found', $metadata: {} })).resolves({ SecretString: 'not json' });
    const l = locator();
    await expect(l.url()).rejects.toThrow(/Cannot read secret .*ResourceNotFoundException/);
    await expect(l.url()).rejects.toThrow(/is not JSON/);
  });
});

describe('aws-config', () => {
  it('parses the environment by the runtime-contract names, with defaults', () => {
    const c = readAwsConfig({ TOTES_INGESTION_BUCKET: 'totes-ingest', TOTES_SOURCE_SECRET_ARN: ARN, TOTES_COMMIT_LAG_SECONDS: '30' });
    expect(c).toMatchObject({ ingestionBucket: 'totes-ingest', sourceSecretArn: ARN, commitLagSeconds: 30, warehouseSchema: 'public' });
    expect(() => requireSetting(c, 'processedBucket', 'the load')).toThrow('TOTES_PROCESSED_BUCKET is not set, but the load needs it');
  });

  it('names every bad variable', () => {
    expect(() => readAwsConfig({ TOTES_INGESTION_BUCKET: 'Bad_Bucket', TOTES_SOURCE_SECRET_ARN: 'nope' })).toThrow(
      /TOTES_INGESTION_BUCKET: expected an S3 bucket name; TOTES_SOURCE_SECRET_ARN: expected a Secrets Manager secret ARN/,
    );
  });

  it('builds a context whose unconfigured ports fail on use, naming the variable', async () => {
    const ctx = buildAwsContext(readAwsConfig({ TOTES_INGESTION_BUCKET: 'totes-ingest' }), createAwsClients(), silentLog);
    expect(ctx.ingestion.uri('a')).toBe('s3://totes-ingest/a');
    expect(() => ctx.processed.uri('a')).toThrow(/TOTES_PROCESSED_BUCKET is not set, but the processed store needs it/);
    expect(() => ctx.warehouse.url()).toThrow(/TOTES_WAREHOUSE_SECRET_ARN/);
    await ctx.engine.close();
    const full = buildAwsContext(
      readAwsConfig({ TOTES_PROCESSED_BUCKET: 'p-bucket', TOTES_GLUE_RAW_DATABASE: 'raw', TOTES_GLUE_PROCESSED_DATABASE: 'proc', TOTES_ATHENA_WORKGROUP: 'wg' }),
      createAwsClients(),
      silentLog,
    );
    expect(full.engine).toBeInstanceOf(AthenaEngine);
  });
});

describe('PowertoolsLog', () => {
  it('writes JSON log lines and one EMF line per metric in the TotesLake namespace', () => {
    const lines: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const log = new PowertoolsLog('totes-test');
      log.info('Extract published a batch', { batchId: 'b1', rows: 3 });
      log.metric('Rows', 3, 'Count', { table: 'staff', stage: 'extract' });
    } finally {
      spy.mockRestore();
    }
    const json = lines.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(json.find((j) => j.message === 'Extract published a batch')).toMatchObject({ level: 'INFO', service: 'totes-test', batchId: 'b1', rows: 3 });
    const emf = json.find((j) => j._aws);
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'TotesLake', Metrics: [{ Name: 'Rows', Unit: 'Count' }] });
    expect(emf).toMatchObject({ Rows: 3, table: 'staff', stage: 'extract' });
  });
});

/** A folder lake whose only ports are its two stores, the log and the clock. */
const storesOnly = (options: Pick<FolderPipelineOptions, 'log' | 'now'>) =>
  openFolderPipeline({ lake: mkdtempSync(path.join(tmpdir(), 'totes-fresh-')), engine: unusedPort<QueryEngine>('engine'), catalog: unusedPort<Catalog>('catalog'), ...options });

describe('retry and freshness', () => {
  it('backs off exponentially with jitter, capped', () => {
    expect(backoffDelay(1, { baseDelayMs: 100, maxDelayMs: 1000 }, () => 1)).toBe(100);
    expect(backoffDelay(3, { baseDelayMs: 100, maxDelayMs: 1000 }, () => 0)).toBe(200);
    expect(backoffDelay(10, { baseDelayMs: 100, maxDelayMs: 1000 }, () => 1)).toBe(1000);
  });

  it('retries only retryable errors, up to the attempt limit', async () => {
    let n = 0;
    const waits: number[] = [];
    const fail = () => Promise.reject(Object.assign(new Error('slow down'), { name: 'Throttled' }));
    await expect(retryWithBackoff(() => (++n, fail()), () => true, { attempts: 3, baseDelayMs: 1, maxDelayMs: 2, sleep: async (ms) => void waits.push(ms) })).rejects.toThrow('slow down');
    expect([n, waits.length]).toEqual([3, 2]);
    n = 0;
    await expect(retryWithBackoff(() => (++n, fail()), () => false, { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 })).rejects.toThrow();
    expect(n).toBe(1);
  });

  it('emits FreshnessSeconds: now − the source instant the warehouse reflects (the core measure)', async () => {
    const { log, metrics } = recordingLog();
    const { ctx } = await storesOnly({ log, now: () => new Date('2026-11-25T20:41:00.000Z') });
    // Batch 1 read up to 20:40:00.000; its newest change (20:30) is not what freshness measures.
    await putExtractManifest(ctx.ingestion, 1, { staff: '2026-11-25 20:30:00.000' });
    const batch1 = { seq: 1, batchId: '0000000001-20261125T204001Z-abcd' };
    expect(await emitFreshness(ctx, async () => batch1)).toEqual({ sourceAt: '2026-11-25 20:40:00.000', seconds: 60, ...batch1, via: 'batch' });
    expect(metrics).toEqual([{ name: 'FreshnessSeconds', value: 60, unit: 'Seconds', dimensions: undefined }]);
  });

  it('warns instead of failing the load when freshness cannot be measured, and emits nothing before the first load', async () => {
    const { log, lines, metrics } = recordingLog();
    const { ctx } = await storesOnly({ log });
    expect(await emitFreshness(ctx, async () => ({ seq: 3, batchId: '0000000003-20261125T204003Z-abcd' }))).toBeUndefined();
    expect(await emitFreshness(ctx, async () => null)).toBeUndefined();
    expect(metrics).toEqual([]);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'warn', message: expect.stringMatching(/Could not measure the warehouse's freshness: Object manifests\/extract\/0000000003.json not found/) }),
      expect.objectContaining({ level: 'warn', message: 'Freshness unknown: no batch has been loaded into the warehouse yet' }),
    ]);
  });
});
