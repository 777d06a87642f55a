import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { openLakeFolder } from '../../functions/cli/local-context';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import { runCycle } from '../../functions/core/run-cycle';
import { openFolderPipeline } from '../../functions/local/folder-pipeline';
import { seedTotesys } from '../../functions/totesys/seed';
import { motoServerBinary } from '../support/moto-server';
import { trinoSkipReason } from '../support/trino-server';
import { startAthenaFacade, type AthenaFacade } from './athena-facade';
import { matchesEventPattern, s3ObjectCreatedEvent } from './event-patterns';
import { unpackBundle, type AwsTarget, type InvocationResult, type UnpackedBundle } from './lambda-runner';
import { deployOfflineCloud, type OfflineCloud, type Stage } from './offline-deploy';
import { postgresServerAvailable, startTlsPostgres, type TlsPostgres } from './tls-postgres';
import { startTrinoGlue, type TrinoGlueServer } from './trino-glue';

/**
 * The offline cloud with a seeded totesys, ready to run batches: the stack deployed with Terraform
 * against moto, Athena as Trino behind the facade, the bundles Terraform uploaded, a TLS PostgreSQL
 * holding totesys and two warehouses — the cloud's (behind the stack's secrets) and the local
 * pipeline's (DuckDB over a folder lake, a `totes` lake folder at `lakeDir`). `cloudBatch` is one
 * tick as the deployed rules chain it (the schedule's extract, then every rule its new objects
 * match); `localCycle` runs the local pipeline on the same source. The setup of every suite that
 * runs batches on the deployment (pipeline.cloud.ts, operate.cloud.ts).
 */

/** An object a stage created in one of the lake's buckets. */
export interface NewObject {
  bucket: string;
  key: string;
  size: number;
}

/** The three stages' invocations of one tick. */
export interface CloudBatch {
  extract: InvocationResult;
  transform: InvocationResult[];
  load: InvocationResult[];
}

export interface OfflinePipeline {
  pg: TlsPostgres;
  cloud: OfflineCloud;
  trino: TrinoGlueServer;
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
  /** Runs SQL on one short connection; a write to totesys is noted for {@link pastCommitLag}. */
  sql(url: string, text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Notes a write to totesys made some other way (the simulator). */
  sourceWritten(): void;
  /**
   * Waits until the deployed extract's commit lag (TOTES_COMMIT_LAG_SECONDS, as Terraform set it)
   * has passed since the last write to totesys: the extract's bound stays that far behind the clock,
   * so a tick sooner would rightly leave the newest changes to the next one.
   */
  pastCommitLag(): Promise<void>;
  /** Objects created in the lake's buckets since the last call (listing is the test's view, not the product's). */
  newObjects(): Promise<NewObject[]>;
  /** Every key seen so far in a bucket. */
  seenKeys(bucket: string): string[];
  /** The invocations the deployed rules make for the objects created since the last look: a stage and its event per match. */
  eventsFromRules(): Promise<{ stage: Stage; event: unknown; key: string }[]>;
  /** Runs a stage's bundle on an event; `killWhen` is polled while it runs and kills it (SIGKILL) once true. */
  /** `timeoutMs`: the invocation's time limit, as getRemainingTimeInMillis counts it down (the function's timeout unless given). */
  invoke(stage: Stage, event: unknown, options?: { killWhen?: () => boolean; target?: AwsTarget; timeoutMs?: number }): Promise<InvocationResult>;
  /** A failed invocation in a few lines: its error and its last log lines. */
  failure(stage: string, r: InvocationResult): string;
  /**
   * One tick of the cloud: the scheduled extract (which must publish), then whatever the rules
   * start, until nothing more starts. A failed stage throws, unless a transform may fail.
   */
  cloudBatch(options?: { transformMayFail?: boolean }): Promise<CloudBatch>;
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
      const out: NewObject[] = [];
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
    const eventsFromRules: OfflinePipeline['eventsFromRules'] = async () => {
      const out: { stage: Stage; event: unknown; key: string }[] = [];
      for (const object of await newObjects()) {
        const event = s3ObjectCreatedEvent({ bucket: object.bucket, key: object.key, size: object.size, region: cloud.region, account: cloud.accountId });
        for (const rule of cloud.rules) {
          if (!matchesEventPattern(rule.pattern as object, event)) continue;
          for (const target of rule.targets) if (target.stage) out.push({ stage: target.stage, event, key: object.key });
        }
      }
      return out;
    };
    const invoke: OfflinePipeline['invoke'] = async (stage, event, { killWhen, target = aws, timeoutMs } = {}) => {
      const abort = new AbortController();
      const poll = killWhen ? setInterval(() => killWhen() && abort.abort(), 20) : undefined;
      try {
        return await bundles[stage]!.invoke({ function: cloud.functions[stage], aws: target, event, signal: abort.signal, ...(timeoutMs !== undefined ? { timeoutMs } : {}) }).result;
      } finally {
        if (poll) clearInterval(poll);
      }
    };
    const failure = (stage: string, r: InvocationResult) =>
      `${stage} ${r.outcome}: ${r.error?.errorType ?? ''} ${r.error?.errorMessage ?? ''}\n${r.logs.slice(-15).map((l) => l.text).join('\n')}`;
    const pastCommitLag = async () => {
      const lagMs = Number(cloud.functions.extract.environment.TOTES_COMMIT_LAG_SECONDS ?? 0) * 1000 + 50;
      const wait = lastSourceWrite + lagMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    };

    const cloudBatch: OfflinePipeline['cloudBatch'] = async (options = {}) => {
      const schedule = cloud.schedules.find((s) => s.target.stage === 'extract');
      if (!schedule) throw new Error(`The stack has no schedule targeting the extract: ${JSON.stringify(cloud.schedules.map((s) => s.name))}`);
      await pastCommitLag();
      const extract = await invoke('extract', cloud.schedulerPayload(schedule, new Date()));
      if (extract.outcome !== 'succeeded') throw new Error(failure('extract', extract));
      const runs: { transform: InvocationResult[]; load: InvocationResult[] } = { transform: [], load: [] };
      const started = await eventsFromRules();
      const published = (extract.result as { published?: boolean; reason?: string } | undefined) ?? {};
      if (published.published && !started.some((e) => e.stage === 'transform')) {
        throw new Error(`The extract published a batch but no rule started the transform: ${JSON.stringify(published).slice(0, 300)}; new objects: ${JSON.stringify([...(seen.get(cloud.buckets.ingestion) ?? [])].slice(-5))}`);
      }
      if (!published.published) {
        const activity = await sql(sourceUrl, `SELECT pid, state, backend_type, xact_start::text, query_start::text, left(query, 60) AS q FROM pg_stat_activity WHERE datname = current_database()`);
        const newest = await sql(sourceUrl, `SELECT max(last_updated)::text AS m, now()::text AS now FROM sales_order`);
        throw new Error(`The extract published nothing: ${JSON.stringify(extract.result).slice(0, 1500)}\nactivity: ${JSON.stringify(activity)}\nnewest: ${JSON.stringify(newest)}`);
      }
      for (let pending = started; pending.length; pending = await eventsFromRules()) {
        for (const { stage, event } of pending) {
          if (stage === 'extract') throw new Error('A rule starts the extract on an object event');
          const r = await invoke(stage, event);
          if (r.outcome !== 'succeeded' && !(stage === 'transform' && options.transformMayFail)) throw new Error(failure(stage, r));
          runs[stage].push(r);
        }
      }
      return { extract, ...runs };
    };

    const lakeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-cloud-local-'));
    closers.push(() => fs.rm(lakeDir, { recursive: true, force: true }));
    // A `totes --lake` folder, so the CLI can read the local side too.
    await openLakeFolder(lakeDir);
    const localPipeline = await openFolderPipeline({ lake: lakeDir, source: sourceUrl, warehouse: localWarehouseUrl });
    closers.push(() => localPipeline.close());
    const local = localPipeline.ctx;
    return {
      pg, cloud, trino, facade, s3, aws, sourceUrl, cloudWarehouseUrl, localWarehouseUrl, local, lakeDir, sql,
      sourceWritten: () => void (lastSourceWrite = Date.now()),
      pastCommitLag, newObjects, seenKeys: (bucket) => [...(seen.get(bucket) ?? [])], eventsFromRules, invoke, failure, cloudBatch,
      localCycle: async () => void (await runCycle(local)),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
