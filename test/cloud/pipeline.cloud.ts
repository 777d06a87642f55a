import { AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, StartQueryExecutionCommand } from '@aws-sdk/client-athena';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { STAR_TABLES, type StarColumn, type StarTableName } from '../../functions/core/contract/star-tables';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import { runCycle } from '../../functions/core/run-cycle';
import { DuckDbEngine } from '../../functions/engines/duckdb/engine';
import { urlLocator } from '../../functions/local/embedded-postgres';
import { FolderCatalog } from '../../functions/local/folder-catalog';
import { FolderObjectStore } from '../../functions/local/folder-object-store';
import { seedTotesys } from '../../functions/totesys/seed';
import { simulateActivity } from '../../functions/totesys/simulate';
import type { StarRows } from '../support/expected-star';
import { describeDifferences, diffStar, readWarehouse } from '../support/warehouse-snapshot';
import { motoServerBinary } from '../support/moto-server';
import { trinoSkipReason } from '../support/trino-server';
import { startAthenaFacade, type AthenaFacade, type FacadeQuery } from './athena-facade';
import { explainEventPatternMatch, matchesEventPattern, s3ObjectCreatedEvent } from './event-patterns';
import { unpackBundle, type AwsTarget, type InvocationResult, type UnpackedBundle } from './lambda-runner';
import { deployOfflineCloud, type OfflineCloud, type Stage } from './offline-deploy';
import { postgresServerAvailable, startTlsPostgres, type TlsPostgres } from './tls-postgres';
import { startTrinoGlue, type TrinoGlueServer } from './trino-glue';

/**
 * The cloud path end to end, offline. The stack is deployed with Terraform against moto
 * (offline-deploy.ts); Athena is a real Trino over moto's Glue and S3 behind an Athena API facade
 * (athena-facade.ts); the three bundles Terraform uploaded run as Lambda runs them (lambda-runner.ts)
 * with exactly the environment Terraform gave each function, reaching a TLS PostgreSQL (totesys and
 * the warehouse) through the secrets in moto. Stages chain as the deployed rules would: every object
 * a stage creates becomes an EventBridge "Object Created" event, evaluated against every rule's
 * pattern, and the rules' targets are invoked with it.
 *
 * Proven on a seeded totesys: a full batch; an incremental one after amendments, a department
 * move, an address edit, payments turning paid and a deletion; a transform killed mid-batch and
 * re-run (the batch is published once); a quarantined batch, reported, then released by a fix at
 * the source. After each, the warehouse equals the one the local pipeline (DuckDB, folder lake)
 * builds from the same source, and Athena's view of the star tables equals the warehouse. The
 * Athena queries per batch, those on the critical path and the bytes scanned go to
 * bench/cloud-results.json.
 */

const REPO = path.resolve(__dirname, '..', '..');
const RESULTS_FILE = path.join(REPO, 'bench', 'cloud-results.json');
const STAGES: Stage[] = ['extract', 'transform', 'load'];

// test:cloud never skips: a missing tool fails the suite, naming it.
const missing =
  trinoSkipReason() ??
  (motoServerBinary() ? undefined : 'moto_server is not installed (bash test/support/install-moto.sh)') ??
  (postgresServerAvailable() ? undefined : 'PostgreSQL server binaries are not installed (pg_config --bindir has no initdb)');

jest.setTimeout(15 * 60_000);

let pg: TlsPostgres;
let cloud: OfflineCloud;
let trino: TrinoGlueServer;
let facade: AthenaFacade;
let s3: S3Client;
let aws: AwsTarget;
const bundles: Partial<Record<Stage, UnpackedBundle>> = {};
let sourceUrl: string;
let cloudWarehouseUrl: string;
let localWarehouseUrl: string;
let local: PipelineContext;
let localEngine: DuckDbEngine;
let lakeDir: string;
/** Every object already seen in each bucket: a stage's new objects become its events. */
const seen = new Map<string, Set<string>>();
/** Per batch: the facade's queries of its transform. */
const batches: { label: string; invocations: number; queries: FacadeQuery[] }[] = [];

/** When the test last wrote to totesys (see pastCommitLag). */
let lastSourceWrite = 0;

async function sql(url: string, text: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  if (url === sourceUrl && !/^\s*SELECT/i.test(text)) lastSourceWrite = Date.now();
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows;
  } finally {
    await client.end();
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Objects created in the lake's buckets since the last call (listing is the test's view, not the product's). */
async function newObjects(): Promise<{ bucket: string; key: string; size: number }[]> {
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
}

/** The invocations the deployed rules make for the objects a stage created: [stage, event] per match. */
async function eventsFromRules(): Promise<{ stage: Stage; event: unknown; key: string }[]> {
  const out: { stage: Stage; event: unknown; key: string }[] = [];
  for (const object of await newObjects()) {
    const event = s3ObjectCreatedEvent({ bucket: object.bucket, key: object.key, size: object.size, region: cloud.region, account: cloud.accountId });
    for (const rule of cloud.rules) {
      if (!matchesEventPattern(rule.pattern as object, event)) continue;
      for (const target of rule.targets) if (target.stage) out.push({ stage: target.stage, event, key: object.key });
    }
  }
  return out;
}

/** Runs a stage's bundle on an event; `killWhen` is polled while it runs and kills it (SIGKILL) once true. */
async function invoke(stage: Stage, event: unknown, killWhen?: () => boolean, target: AwsTarget = aws): Promise<InvocationResult> {
  const abort = new AbortController();
  const poll = killWhen ? setInterval(() => killWhen() && abort.abort(), 20) : undefined;
  try {
    return await bundles[stage]!.invoke({ function: cloud.functions[stage], aws: target, event, signal: abort.signal }).result;
  } finally {
    if (poll) clearInterval(poll);
  }
}

function failure(stage: string, r: InvocationResult): string {
  return `${stage} ${r.outcome}: ${r.error?.errorType ?? ''} ${r.error?.errorMessage ?? ''}\n${r.logs.slice(-15).map((l) => l.text).join('\n')}`;
}

/**
 * Waits until the deployed extract's commit lag (TOTES_COMMIT_LAG_SECONDS, as Terraform set it) has
 * passed since the test's last write to totesys: the extract's bound stays that far behind the
 * clock, so a tick sooner would rightly leave the newest changes to the next one.
 */
async function pastCommitLag(): Promise<void> {
  const lagMs = Number(cloud.functions.extract.environment.TOTES_COMMIT_LAG_SECONDS ?? 0) * 1000 + 50;
  const wait = lastSourceWrite + lagMs - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/** One tick of the cloud: the scheduled extract, then whatever the rules start, until nothing more starts. */
async function cloudBatch(label: string, options: { transformMayFail?: boolean } = {}): Promise<{ extract: InvocationResult; transform: InvocationResult[]; load: InvocationResult[] }> {
  const schedule = cloud.schedules.find((s) => s.target.stage === 'extract');
  if (!schedule) throw new Error(`The stack has no schedule targeting the extract: ${JSON.stringify(cloud.schedules.map((s) => s.name))}`);
  await pastCommitLag();
  const extract = await invoke('extract', cloud.schedulerPayload(schedule, new Date()));
  if (extract.outcome !== 'succeeded') throw new Error(failure('extract', extract));
  const runs: { transform: InvocationResult[]; load: InvocationResult[] } = { transform: [], load: [] };
  const first = facade.queries.length;
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
  batches.push({ label, invocations: runs.transform.length, queries: facade.queries.slice(first) });
  return { extract, ...runs };
}

async function localCycle(): Promise<void> {
  await runCycle(local);
}

/** The warehouse the bundles loaded equals the one the local pipeline built from the same source. */
async function expectWarehousesEqual(): Promise<StarRows> {
  const [cloudRows, localRows] = await Promise.all([readWarehouse(cloudWarehouseUrl), readWarehouse(localWarehouseUrl)]);
  const diffs = diffStar(localRows, cloudRows);
  if (diffs.length) throw new Error(`The cloud warehouse differs from the local one:\n${describeDifferences(diffs)}`);
  return cloudRows;
}

/** A star table's column as text through Athena (the lake keeps times as text; normalise() evens out the rest). */
function athenaText(c: StarColumn): string {
  return `CAST("${c.name}" AS varchar)`;
}

/** Every star table as analysts see it through Athena (the Glue tables the stack created), as text rows. */
async function readThroughAthena(): Promise<Partial<StarRows>> {
  const athena = new AthenaClient({ region: cloud.region, endpoint: facade.endpoint, credentials: cloud.clientConfig.credentials });
  const out: Partial<StarRows> = {};
  for (const table of STAR_TABLES) {
    const select = table.columns.map((c) => `${athenaText(c)} AS "${c.name}"`).join(', ');
    const started = await athena.send(new StartQueryExecutionCommand({
      QueryString: `SELECT ${select} FROM "${cloud.glue.processedDatabase}"."${table.name}"`,
      WorkGroup: cloud.athena.workgroup,
      QueryExecutionContext: { Database: cloud.glue.processedDatabase },
    }));
    const id = started.QueryExecutionId!;
    for (;;) {
      const state = (await athena.send(new GetQueryExecutionCommand({ QueryExecutionId: id }))).QueryExecution?.Status;
      if (state?.State === 'SUCCEEDED') break;
      if (state?.State === 'FAILED' || state?.State === 'CANCELLED') throw new Error(`Athena read of ${table.name} ${state.State}: ${state.StateChangeReason}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const rows: Record<string, string | null>[] = [];
    let token: string | undefined;
    let header = true;
    do {
      const page = await athena.send(new GetQueryResultsCommand({ QueryExecutionId: id, NextToken: token }));
      for (const row of page.ResultSet?.Rows ?? []) {
        if (header) {
          header = false;
          continue;
        }
        rows.push(Object.fromEntries(table.columns.map((c, i) => [c.name, row.Data?.[i]?.VarCharValue ?? null])));
      }
      token = page.NextToken;
    } while (token);
    out[table.name as StarTableName] = rows;
  }
  return out;
}

/** Athena's view equals the warehouse, table by table (values compared as text). */
async function expectAthenaEqualsWarehouse(warehouse: StarRows): Promise<void> {
  const viaAthena = await readThroughAthena();
  const problems: string[] = [];
  for (const table of STAR_TABLES) {
    const canonical = (r: Record<string, string | null>) => table.columns.map((c) => normalise(c, r[c.name])).join('|');
    const want = (warehouse[table.name as StarTableName] as Record<string, string | null>[]).map(canonical).sort();
    const got = (viaAthena[table.name as StarTableName] as Record<string, string | null>[]).map(canonical).sort();
    const missingRows = want.filter((w) => !got.includes(w));
    const extraRows = got.filter((g) => !want.includes(g));
    if (missingRows.length || extraRows.length) {
      problems.push(`${table.name}: ${missingRows.length} warehouse row(s) not in Athena (${missingRows.slice(0, 2).join(' ; ')}), ${extraRows.length} Athena row(s) not in the warehouse (${extraRows.slice(0, 2).join(' ; ')})`);
    }
  }
  expect(problems).toEqual([]);
}

/** Values as text the same way on both sides (times to the millisecond, decimals without trailing zeros). */
function normalise(c: StarColumn, value: string | null): string {
  if (value === null) return '∅';
  if (c.type === 'time') return value.slice(0, 12);
  if (c.type === 'numeric(10,2)') return Number(value).toFixed(2);
  if (c.type === 'boolean') return value === 't' ? 'true' : value === 'f' ? 'false' : value;
  return value;
}

/** Queries of one batch that ran one after another (a query that overlapped none other is on the critical path). */
function criticalPath(queries: readonly FacadeQuery[]): number {
  const done = queries.filter((q) => q.completedAt !== undefined).sort((a, b) => a.submittedAt - b.submittedAt);
  let count = 0;
  let end = 0;
  for (const q of done) {
    if (q.submittedAt >= end) count++;
    end = Math.max(end, q.completedAt!);
  }
  return count;
}

describe('the cloud path, offline: the deployed stack, the bundles, Athena on Trino', () => {
  beforeAll(async () => {
    if (missing) throw new Error(`The offline cloud cannot run: ${missing}`);
    pg = await startTlsPostgres();
    for (const db of ['totesys', 'warehouse', 'warehouse_local']) await sql(pg.url, `CREATE DATABASE ${db}`);
    sourceUrl = withDatabase(pg.url, 'totesys');
    cloudWarehouseUrl = withDatabase(pg.url, 'warehouse');
    localWarehouseUrl = withDatabase(pg.url, 'warehouse_local');
    await seedTotesys(sourceUrl, { scale: 0.02, seed: 3, asOf: new Date('2024-06-01T00:00:00Z') });
    const secret = (dbname: string) => ({ host: '127.0.0.1', port: pg.port, dbname, username: 'postgres', password: 'offline', sslmode: 'verify-full', sslrootcert: pg.caPem });
    cloud = await deployOfflineCloud({ secrets: { source: secret('totesys'), warehouse: secret('warehouse') }, log: (line) => console.log(line) });
    s3 = new S3Client(cloud.clientConfig);
    const moto = { endpoint: cloud.endpoint, clientConfig: cloud.clientConfig };
    trino = await startTrinoGlue({ moto });
    facade = await startAthenaFacade({ trino, moto });
    aws = { region: cloud.region, endpointUrl: cloud.endpoint, serviceEndpoints: { athena: facade.endpoint }, accountId: cloud.accountId };
    for (const stage of STAGES) bundles[stage] = await unpackBundle(await cloud.fetchBundle(stage));
    await newObjects(); // what the deploy left in the buckets is not a stage's doing

    lakeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-cloud-local-'));
    const ingestion = new FolderObjectStore(path.join(lakeDir, 'ingestion'));
    const processed = new FolderObjectStore(path.join(lakeDir, 'processed'));
    localEngine = await DuckDbEngine.create(ingestion, processed);
    const quiet = { info() {}, warn() {}, error() {}, progress() {}, metric() {} };
    local = {
      ingestion, processed, engine: localEngine, catalog: new FolderCatalog(processed),
      source: urlLocator(sourceUrl), warehouse: urlLocator(localWarehouseUrl), warehouseSchema: 'public',
      log: quiet, now: () => new Date(), sqlRoot: REPO,
    };
  }, 15 * 60_000);

  afterAll(async () => {
    const report = {
      finished_at: new Date().toISOString(),
      deploy: cloud?.timings,
      trino_start_ms: trino?.startMs,
      batches: batches.map((b) => ({
        label: b.label,
        transform_invocations: b.invocations,
        athena_queries: b.queries.length,
        athena_queries_critical_path: criticalPath(b.queries),
        athena_bytes_scanned: b.queries.reduce((sum, q) => sum + q.bytesScanned, 0),
        athena_query_ms: b.queries.reduce((sum, q) => sum + (q.totalMs ?? 0), 0),
        failed_queries: b.queries.filter((q) => q.state !== 'SUCCEEDED').length,
      })),
    };
    if (batches.length) {
      await fs.writeFile(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
      console.log(
        `Athena per batch (queries / on the critical path / bytes scanned):\n${report.batches
          .map((b) => `  ${b.label}: ${b.athena_queries} / ${b.athena_queries_critical_path} / ${b.athena_bytes_scanned} B in ${b.transform_invocations} transform run(s)`)
          .join('\n')}\nWritten to ${path.relative(REPO, RESULTS_FILE)}`,
      );
    }
    for (const b of Object.values(bundles)) await b?.dispose();
    await localEngine?.close().catch(() => undefined);
    await facade?.stop();
    await trino?.stop();
    await cloud?.destroy();
    await pg?.stop();
    if (lakeDir) await fs.rm(lakeDir, { recursive: true, force: true });
  });

  test('a full batch: schedule → extract → rule → transform → rule → load, equal to the local pipeline', async () => {
    const run = await cloudBatch('full');
    expect(run.transform).toHaveLength(1);
    expect(run.load).toHaveLength(1);
    await localCycle();
    const warehouse = await expectWarehousesEqual();
    expect(warehouse.fact_sales_order.length).toBeGreaterThan(0);
    await expectAthenaEqualsWarehouse(warehouse);
  });

  test('the rules start nothing for objects that are not manifests', async () => {
    // Every object the stages wrote so far was evaluated by cloudBatch; check the negative side explicitly.
    const raw = s3ObjectCreatedEvent({ bucket: cloud.buckets.ingestion, key: 'raw/sales_order/dt=2024-06-01/x.ndjson.gz', size: 10, region: cloud.region, account: cloud.accountId });
    expect(cloud.rules.filter((r) => matchesEventPattern(r.pattern as object, raw))).toEqual([]);
    const manifest = s3ObjectCreatedEvent({ bucket: cloud.buckets.ingestion, key: 'manifests/extract/0000000001.json', size: 10, region: cloud.region, account: cloud.accountId });
    const matched = cloud.rules.filter((r) => matchesEventPattern(r.pattern as object, manifest));
    expect(matched.flatMap((r) => r.targets.map((t) => t.stage))).toEqual(['transform']);
    expect(cloud.rules.map((r) => explainEventPatternMatch(r.pattern as object, raw).length > 0)).not.toContain(false);
  });

  test('an incremental batch after amendments, a department move, an address edit, payments paid and a deletion', async () => {
    // A payment the lake knows (nothing references payments, so it can be deleted).
    const [victim] = await sql(sourceUrl, 'SELECT max(payment_id) AS id FROM payment');
    await simulateActivity(sourceUrl, { minutes: 5, seed: 11 });
    lastSourceWrite = Date.now();
    const now = `(now() AT TIME ZONE 'UTC')::timestamp(3)`;
    await sql(sourceUrl, `UPDATE sales_order SET units_sold = units_sold + 7, last_updated = ${now} WHERE sales_order_id IN (1, 2, 3)`);
    await sql(sourceUrl, `UPDATE staff SET department_id = CASE WHEN department_id = 1 THEN 2 ELSE 1 END, last_updated = ${now} WHERE staff_id = 1`);
    await sql(sourceUrl, `UPDATE address SET city = 'Offline City', last_updated = ${now} WHERE address_id = 1`);
    await sql(sourceUrl, `UPDATE payment SET paid = true, last_updated = ${now} WHERE payment_id IN (SELECT payment_id FROM payment WHERE NOT paid ORDER BY payment_id LIMIT 3)`);
    await sql(sourceUrl, 'DELETE FROM payment WHERE payment_id = $1', [victim.id]);
    const run = await cloudBatch('incremental');
    expect(run.transform).toHaveLength(1);
    await localCycle();
    const warehouse = await expectWarehousesEqual();
    const deleted = await sql(cloudWarehouseUrl, 'SELECT source_table, source_id FROM deleted_rows');
    expect(deleted).toEqual([{ source_table: 'payment', source_id: victim.id }]);
    const [moved] = await sql(cloudWarehouseUrl, `SELECT count(*)::int AS n FROM dim_location WHERE city = 'Offline City'`);
    expect(Number(moved.n)).toBeGreaterThan(0);
    await expectAthenaEqualsWarehouse(warehouse);
  });

  test('a transform killed mid-batch and run again publishes the batch once', async () => {
    await sql(sourceUrl, `UPDATE sales_order SET unit_price = unit_price + 1, last_updated = (now() AT TIME ZONE 'UTC')::timestamp(3) WHERE sales_order_id IN (4, 5)`);
    const schedule = cloud.schedules.find((s) => s.target.stage === 'extract')!;
    await pastCommitLag();
    const extracted = await invoke('extract', cloud.schedulerPayload(schedule, new Date()));
    expect(extracted.outcome).toBe('succeeded');
    const [trigger] = (await eventsFromRules()).filter((e) => e.stage === 'transform');
    expect(trigger).toBeDefined();
    const first = facade.queries.length;
    // Killed once the batch has written something: after its third Athena query started.
    let killedAt = -1;
    const killed = await invoke('transform', trigger.event, () => {
      if (killedAt < 0 && facade.queries.length - first >= 3) killedAt = facade.queries.length - first;
      return killedAt >= 0;
    });
    expect(killed.outcome).toBe('killed');
    expect(killedAt).toBeGreaterThanOrEqual(3);
    const before = (await newObjects()).filter((o) => o.key.startsWith('manifests/transform/'));
    expect(before).toEqual([]);
    // Lambda retries the async invocation with the same event.
    const retried = await invoke('transform', trigger.event);
    if (retried.outcome !== 'succeeded') throw new Error(failure('transform (retry)', retried));
    const published = (await newObjects()).filter((o) => o.key.startsWith('manifests/transform/'));
    expect(published).toHaveLength(1);
    batches.push({ label: 'killed and re-run', invocations: 2, queries: facade.queries.slice(first) });
    const event = s3ObjectCreatedEvent({ bucket: published[0].bucket, key: published[0].key, size: published[0].size, region: cloud.region, account: cloud.accountId });
    const loadRule = cloud.rules.find((r) => matchesEventPattern(r.pattern as object, event));
    expect(loadRule?.targets.map((t) => t.stage)).toEqual(['load']);
    const loaded = await invoke('load', event);
    if (loaded.outcome !== 'succeeded') throw new Error(failure('load', loaded));
    await newObjects();
    await localCycle();
    await expectWarehousesEqual();
  });

  test('a quarantined batch is reported, and released by a fix at the source', async () => {
    const [bad] = await sql(sourceUrl, `UPDATE sales_order SET agreed_delivery_date = 'soon', last_updated = (now() AT TIME ZONE 'UTC')::timestamp(3) WHERE sales_order_id = 6 RETURNING sales_order_id`);
    expect(bad).toBeDefined();
    const run = await cloudBatch('quarantined', { transformMayFail: true });
    expect(run.transform.map((r) => r.outcome)).toEqual(['failed']);
    expect(run.transform[0].error?.errorMessage).toMatch(/quarantined/);
    const quarantine = [...(seen.get(cloud.buckets.processed) ?? [])].filter((k) => k.startsWith('quarantine/'));
    expect(quarantine).toHaveLength(1);
    const report = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: cloud.buckets.processed, Key: quarantine[0] }))).Body!.transformToString()) as Record<string, unknown>;
    expect(JSON.stringify(report)).toContain('soon');
    const logs = run.transform.flatMap((r) => r.logs.map((l) => l.text)).join('\n');
    expect(logs).toMatch(/quarantin/i);
    expect(run.load).toHaveLength(0);
    await localCycle().catch(() => undefined);

    await sql(sourceUrl, `UPDATE sales_order SET agreed_delivery_date = '2024-07-01', last_updated = (now() AT TIME ZONE 'UTC')::timestamp(3) WHERE sales_order_id = 6`);
    const fixed = await cloudBatch('after the fix');
    expect(fixed.load.length).toBeGreaterThan(0);
    await localCycle();
    const warehouse = await expectWarehousesEqual();
    await expectAthenaEqualsWarehouse(warehouse);
  });

  test('a transform that fails through its retries while the source is quiet heals on the next tick', async () => {
    await sql(sourceUrl, `UPDATE sales_order SET units_sold = units_sold + 1, last_updated = (now() AT TIME ZONE 'UTC')::timestamp(3) WHERE sales_order_id = 7`);
    const tick = (stage: Stage) => {
      const schedule = cloud.schedules.find((sch) => sch.target.stage === stage);
      if (!schedule) throw new Error(`The stack has no schedule targeting the ${stage}: ${JSON.stringify(cloud.schedules.map((sch) => sch.name))}`);
      return cloud.schedulerPayload(schedule, new Date());
    };
    await pastCommitLag();
    const extracted = await invoke('extract', tick('extract'));
    expect(extracted.outcome).toBe('succeeded');
    const [trigger] = (await eventsFromRules()).filter((e) => e.stage === 'transform');
    expect(trigger).toBeDefined();
    // An Athena outage: the invocation and Lambda's two retries all fail.
    const outage: AwsTarget = { ...aws, serviceEndpoints: { athena: 'http://127.0.0.1:9' } };
    for (let attempt = 0; attempt < 3; attempt++) {
      const failed = await invoke('transform', trigger.event, undefined, outage);
      expect(failed.outcome).toBe('failed');
    }
    expect((await newObjects()).filter((o) => o.key.startsWith('manifests/transform/'))).toEqual([]);
    // The source stays quiet: the extract's tick finds nothing new and starts nothing.
    const quiet = await invoke('extract', tick('extract'));
    expect(quiet.outcome).toBe('succeeded');
    expect((await eventsFromRules()).filter((e) => e.stage === 'transform')).toEqual([]);
    // Athena is back: the transform's next tick finds the pending batch, and the load follows.
    const first = facade.queries.length;
    const healed = await invoke('transform', tick('transform'));
    if (healed.outcome !== 'succeeded') throw new Error(failure('transform tick', healed));
    expect((healed.result as { batches: string[] }).batches).toHaveLength(1);
    batches.push({ label: 'healed by a tick', invocations: 1, queries: facade.queries.slice(first) });
    const loads = (await eventsFromRules()).filter((e) => e.stage === 'load');
    expect(loads).toHaveLength(1);
    const loaded = await invoke('load', loads[0].event);
    if (loaded.outcome !== 'succeeded') throw new Error(failure('load', loaded));
    // The failed event redriven from the dead-letter queue is harmless: nothing left to do.
    const redriven = await invoke('transform', trigger.event);
    expect(redriven.outcome).toBe('succeeded');
    expect((redriven.result as { batches: string[] }).batches).toEqual([]);
    await newObjects();
    await localCycle();
    await expectWarehousesEqual();
  });
});
