import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import { runCycle } from '../../functions/core/run-cycle';
import { DuckDbEngine } from '../../functions/engines/duckdb/engine';
import { urlLocator } from '../../functions/local/embedded-postgres';
import { FolderCatalog } from '../../functions/local/folder-catalog';
import { FolderObjectStore } from '../../functions/local/folder-object-store';
import { seedTotesys } from '../../functions/totesys/seed';
import { motoServerBinary } from '../support/moto-server';
import { trinoSkipReason } from '../support/trino-server';
import { startAthenaFacade, type AthenaFacade } from './athena-facade';
import { matchesEventPattern, s3ObjectCreatedEvent } from './event-patterns';
import { unpackBundle, type AwsTarget, type InvocationResult, type UnpackedBundle } from './lambda-runner';
import { deployOfflineCloud, type OfflineCloud, type Stage } from './offline-deploy';
import { postgresServerAvailable, startTlsPostgres, type TlsPostgres } from './tls-postgres';
import { startTrinoGlue } from './trino-glue';

/**
 * The offline cloud with a seeded totesys, ready to run batches: the stack deployed with Terraform
 * against moto, Athena as Trino behind the facade, the bundles Terraform uploaded, a TLS PostgreSQL
 * holding totesys and two warehouses — the cloud's (behind the stack's secrets) and the local
 * pipeline's (DuckDB over a folder lake, a `totes` lake folder at `lakeDir`). `cloudBatch` is one
 * tick as the deployed rules chain it (the schedule's extract, then every rule its new objects
 * match); `localCycle` runs the local pipeline on the same source. The same setup as
 * pipeline.cloud.ts, compact, for suites that need batches but test something else.
 */

export interface OfflinePipeline {
  pg: TlsPostgres;
  cloud: OfflineCloud;
  facade: AthenaFacade;
  s3: S3Client;
  /** Where the bundles' (and the CLI's) SDK calls go. */
  aws: AwsTarget;
  sourceUrl: string;
  cloudWarehouseUrl: string;
  localWarehouseUrl: string;
  local: PipelineContext;
  /** The local pipeline's lake folder (a `totes --lake` folder). */
  lakeDir: string;
  sql(url: string, text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  cloudBatch(): Promise<{ extract: InvocationResult; transform: InvocationResult[]; load: InvocationResult[] }>;
  localCycle(): Promise<void>;
  close(): Promise<void>;
}

/** Why the offline cloud cannot run here, or undefined (test:cloud never skips: a missing tool fails the suite). */
export function offlineCloudMissing(): string | undefined {
  return (
    trinoSkipReason() ??
    (motoServerBinary() ? undefined : 'moto_server is not installed (bash test/support/install-moto.sh)') ??
    (postgresServerAvailable() ? undefined : 'PostgreSQL server binaries are not installed (pg_config --bindir has no initdb)')
  );
}

export async function startOfflinePipeline(options: { log?: (line: string) => void; seedScale?: number } = {}): Promise<OfflinePipeline> {
  const missing = offlineCloudMissing();
  if (missing) throw new Error(`The offline cloud cannot run: ${missing}`);
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const pg = await startTlsPostgres();
    closers.push(() => pg.stop());
    let lastSourceWrite = 0;
    const withDatabase = (url: string, database: string) => {
      const u = new URL(url);
      u.pathname = `/${database}`;
      return u.toString();
    };
    const sourceUrl = withDatabase(pg.url, 'totesys');
    const sql = async (url: string, text: string, params: unknown[] = []) => {
      if (url === sourceUrl && !/^\s*SELECT/i.test(text)) lastSourceWrite = Date.now();
      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query(text, params)).rows as Record<string, unknown>[];
      } finally {
        await client.end();
      }
    };
    for (const db of ['totesys', 'warehouse', 'warehouse_local']) await sql(pg.url, `CREATE DATABASE ${db}`);
    const cloudWarehouseUrl = withDatabase(pg.url, 'warehouse');
    const localWarehouseUrl = withDatabase(pg.url, 'warehouse_local');
    await seedTotesys(sourceUrl, { scale: options.seedScale ?? 0.02, seed: 3, asOf: new Date('2024-06-01T00:00:00Z') });
    lastSourceWrite = Date.now();
    const secret = (dbname: string) => ({ host: '127.0.0.1', port: pg.port, dbname, username: 'postgres', password: 'offline', sslmode: 'verify-full', sslrootcert: pg.caPem });
    const cloud = await deployOfflineCloud({ secrets: { source: secret('totesys'), warehouse: secret('warehouse') }, log: options.log });
    closers.push(() => cloud.destroy());
    const s3 = new S3Client(cloud.clientConfig);
    const moto = { endpoint: cloud.endpoint, clientConfig: cloud.clientConfig };
    const trino = await startTrinoGlue({ moto });
    closers.push(() => trino.stop());
    const facade = await startAthenaFacade({ trino, moto });
    closers.push(() => facade.stop());
    const aws: AwsTarget = { region: cloud.region, endpointUrl: cloud.endpoint, serviceEndpoints: { athena: facade.endpoint }, accountId: cloud.accountId };
    const bundles: Partial<Record<Stage, UnpackedBundle>> = {};
    for (const stage of ['extract', 'transform', 'load'] as const) {
      bundles[stage] = await unpackBundle(await cloud.fetchBundle(stage));
      closers.push(() => bundles[stage]!.dispose());
    }

    const seen = new Map<string, Set<string>>();
    const newObjects = async () => {
      const out: { bucket: string; key: string; size: number }[] = [];
      for (const bucket of [cloud.buckets.ingestion, cloud.buckets.processed]) {
        const known = seen.get(bucket) ?? new Set<string>();
        seen.set(bucket, known);
        let token: string | undefined;
        do {
          const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
          for (const o of page.Contents ?? []) {
            if (!o.Key || known.has(o.Key)) continue;
            known.add(o.Key);
            out.push({ bucket, key: o.Key, size: o.Size ?? 0 });
          }
          token = page.NextContinuationToken;
        } while (token);
      }
      return out;
    };
    await newObjects(); // what the deploy left in the buckets is not a stage's doing
    const invoke = async (stage: Stage, event: unknown) => bundles[stage]!.invoke({ function: cloud.functions[stage], aws, event }).result;
    const failure = (stage: string, r: InvocationResult) =>
      `${stage} ${r.outcome}: ${r.error?.errorType ?? ''} ${r.error?.errorMessage ?? ''}\n${r.logs.slice(-15).map((l) => l.text).join('\n')}`;

    const cloudBatch: OfflinePipeline['cloudBatch'] = async () => {
      const schedule = cloud.schedules.find((s) => s.target.stage === 'extract');
      if (!schedule) throw new Error('The stack has no schedule targeting the extract');
      // The extract's bound stays the commit lag behind the clock: wait it out since the last write.
      const lagMs = Number(cloud.functions.extract.environment.TOTES_COMMIT_LAG_SECONDS ?? 0) * 1000 + 50;
      const wait = lastSourceWrite + lagMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const extract = await invoke('extract', cloud.schedulerPayload(schedule, new Date()));
      if (extract.outcome !== 'succeeded') throw new Error(failure('extract', extract));
      const runs: { transform: InvocationResult[]; load: InvocationResult[] } = { transform: [], load: [] };
      for (;;) {
        const pending: { stage: Stage; event: unknown }[] = [];
        for (const object of await newObjects()) {
          const event = s3ObjectCreatedEvent({ bucket: object.bucket, key: object.key, size: object.size, region: cloud.region, account: cloud.accountId });
          for (const rule of cloud.rules) {
            if (!matchesEventPattern(rule.pattern as object, event)) continue;
            for (const target of rule.targets) if (target.stage) pending.push({ stage: target.stage, event });
          }
        }
        if (!pending.length) break;
        for (const { stage, event } of pending) {
          if (stage === 'extract') throw new Error('A rule starts the extract on an object event');
          const r = await invoke(stage, event);
          if (r.outcome !== 'succeeded') throw new Error(failure(stage, r));
          runs[stage].push(r);
        }
      }
      return { extract, ...runs };
    };

    const lakeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-operate-local-'));
    closers.push(() => fs.rm(lakeDir, { recursive: true, force: true }));
    // A `totes --lake` folder (local-context.ts openLakeFolder), so the CLI can read the local side too.
    await fs.writeFile(path.join(lakeDir, '.totes-lake'), 'This folder is a Totes Lake: ingestion/ and processed/ are its two buckets.\n');
    const ingestion = new FolderObjectStore(path.join(lakeDir, 'ingestion'));
    const processed = new FolderObjectStore(path.join(lakeDir, 'processed'));
    const engine = await DuckDbEngine.create(ingestion, processed);
    closers.push(() => engine.close());
    const quiet = { info() {}, warn() {}, error() {}, progress() {}, metric() {} };
    const local: PipelineContext = {
      ingestion, processed, engine, catalog: new FolderCatalog(processed),
      source: urlLocator(sourceUrl), warehouse: urlLocator(localWarehouseUrl), warehouseSchema: 'public',
      log: quiet, now: () => new Date(), sqlRoot: path.resolve(__dirname, '..', '..'),
    };
    return {
      pg, cloud, facade, s3, aws, sourceUrl, cloudWarehouseUrl, localWarehouseUrl, local, lakeDir, sql, cloudBatch,
      localCycle: async () => void (await runCycle(local)),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
