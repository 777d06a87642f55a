import { GetTableCommand, GetTablesCommand, GlueClient } from '@aws-sdk/client-glue';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { buildAwsContext, createAwsClients } from '../../functions/aws/aws-pipeline-context';
import type { AwsConfig } from '../../functions/aws/aws-config';
import { ENV } from '../../functions/core/contract/runtime-contract';
import { STACK_OUTPUTS, STACK_VERSION } from '../../functions/core/contract/stack-contract';
import { extract } from '../../functions/core/extract/extract';
import { backfillKey, modelVersionKey } from '../../functions/core/lake/lake-layout';
import { listTransformSeqs, readTransformManifest } from '../../functions/core/lake/manifest-log';
import { loadPending } from '../../functions/core/load/load';
import { getText } from '../../functions/core/ports/object-store';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import { loadSqlFiles, sha256 } from '../../functions/core/transform/sql-files';
import { transformPending } from '../../functions/core/transform/transform';
import { seedTotesys } from '../../functions/totesys/seed';
import { startMotoServer, type MotoServer } from '../support/moto-server';
import { testDatabase, type TestDatabase } from '../support/test-postgres';
import { stopwatch } from '../support/timed';
import { startAthenaFacade, type AthenaFacade } from './athena-facade';
import { faultProxy, glueAccessDenied } from './fault-proxy';
import { collectingLog, offlineAthenaMissing, provisionOfflineLake, useOfflineEndpoints } from './offline-lake';
import { startTrinoGlue, type TrinoGlueServer } from './trino-glue';

/**
 * `totes backfill fact_sales_order --aws` end to end on the offline cloud (issue 16): moto's S3,
 * Glue and Secrets Manager, and the offline Athena (./athena-facade.ts) running every statement on a
 * real Trino over them. The product's own AWS code throughout — S3ObjectStore, GlueCatalog,
 * AthenaEngine, the secrets' database locators —, configured by endpoints only.
 *
 * The deployed code (this checkout) extracts, transforms on Athena and loads a full load. Then an
 * analyst adds a derived column, `gross_value`, to fact_sales_order in a copy of the repository
 * (model, SQL, `npm run generate`: the contract and a warehouse migration), as
 * test/scenarios/new-column.test.ts does locally. The copy's code is then the deployed code: its
 * transform keeps a batch with new versions waiting; its CLI, `totes backfill fact_sales_order --aws
 * --stack-outputs <file>` in a child process (functions/cli/commands/aws-operate.ts → backfill.ts),
 * rebuilds every version on Athena, publishes by switching the Glue view (a first run without the
 * backfill policy is denied that switch, names the policy and changes nothing readers see; the next
 * run resumes), and replaces the warehouse table; the waiting batch and a later one then go through, each once, with the new SQL.
 * Trino reads the Glue view `fact_sales_order` before and after.
 */

const REPO = path.resolve(__dirname, '..', '..');
const INGESTION = 'totes-bf-ingestion';
const PROCESSED = 'totes-bf-processed';
const RESULTS = 'totes-bf-athena-results';
const RAW_DB = 'totes_bf_raw';
const PROCESSED_DB = 'totes_bf_processed';
const WORKGROUP = 'totes-bf-transform';
const FACT = 'fact_sales_order';
const BACKFILL_POLICY = 'arn:aws:iam::123456789012:policy/totes-bf-operator-backfill';

// test:cloud never skips: a missing tool fails the suite, naming it.
const missing = offlineAthenaMissing();

const { timings, timed } = stopwatch();
const run = promisify(execFile);
const warnings: string[] = [];
const log = collectingLog(warnings);

/** One pass of the deployed transform and load, as the copy's Lambdas would run it (their environment, their code). */
const CYCLE_SCRIPT = `import { buildAwsContext, createAwsClients } from './functions/aws/aws-pipeline-context';
import { readAwsConfig } from './functions/aws/aws-config';
import { loadPending } from './functions/core/load/load';
import { silentLog } from './functions/core/ports/log';
import { transformPending } from './functions/core/transform/transform';

async function main(): Promise<void> {
  const ctx = buildAwsContext(readAwsConfig(), createAwsClients(), silentLog);
  try {
    const transformed = await transformPending(ctx);
    const loaded = await loadPending(ctx);
    process.stdout.write(JSON.stringify({ transformed: transformed.map((r) => ({ seq: r.seq, facts: r.manifest.star.fact_sales_order?.rows ?? 0 })), loaded: loaded.length }));
  } finally {
    await ctx.engine.close();
    await ctx.source.close();
    await ctx.warehouse.close();
  }
}
main().catch((err: Error) => {
  process.stderr.write(err.message);
  process.exit(1);
});
`;

describe('totes backfill --aws on the offline cloud: a new column rebuilt on Athena, published by the Glue view, replaced in the warehouse', () => {
  const savedEnv = { ...process.env };
  let moto: MotoServer;
  let trino: TrinoGlueServer;
  let facade: AthenaFacade;
  let source: TestDatabase;
  let warehouseDb: TestDatabase;
  let glue: GlueClient;
  let ctx: PipelineContext;
  let work: string;
  let repo: string;
  let outputsFile: string;
  let childEnv: NodeJS.ProcessEnv;

  /** Runs a command in the copy with the deployment's environment; a failure is an outcome, not an exception. */
  async function inCopy(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, args, { cwd: repo, env: { ...childEnv, ...env }, maxBuffer: 16 << 20, timeout: 5 * 60_000 });
      return { code: 0, out: stdout, err: stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, out: e.stdout ?? '', err: e.stderr ?? '' };
    }
  }
  const cycleInCopy = () => inCopy(['node_modules/tsx/dist/cli.mjs', 'cycle.ts']);

  const sourceSql = async (sql: string): Promise<void> => {
    const client = new Client({ connectionString: source.url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  const warehouse = async <T,>(sql: string): Promise<T[]> => {
    const client = new Client({ connectionString: warehouseDb.url });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  };
  /** What Athena readers see through the Glue view `fact_sales_order` (Trino, through the offline Athena). */
  const lake = async (extra = '') =>
    (
      await ctx.engine.query(
        `SELECT count(*) AS n, count(DISTINCT concat(CAST(sales_order_id AS varchar), '|', CAST(last_updated_date AS varchar), '|', CAST(last_updated_time AS varchar))) AS versions, ` +
          `sum(CAST(sales_order_id AS bigint)) AS ids, sum(CAST(units_sold AS bigint)) AS units, count(DISTINCT _sql_hash) AS hashes, count(DISTINCT _batch_id) AS batches${extra} ` +
          `FROM "${PROCESSED_DB}"."${FACT}"`,
      )
    )[0];
  const warehouseTotals = () =>
    warehouse<{ n: number; ids: string; units: string }>(`SELECT count(*)::int AS n, sum(sales_order_id)::text AS ids, sum(units_sold)::text AS units FROM ${FACT}`);

  beforeAll(async () => {
    if (missing) throw new Error(`The offline cloud cannot run: ${missing}`);
    moto = await timed('moto start', () => startMotoServer({ patched: true }));
    [trino, source, warehouseDb] = await Promise.all([timed('trino start', () => startTrinoGlue({ moto })), testDatabase('backfill_source'), testDatabase('backfill_warehouse')]);
    facade = await startAthenaFacade({ trino, moto });

    const endpoints = useOfflineEndpoints(moto, facade);
    const region = endpoints.AWS_REGION;
    glue = new GlueClient(moto.clientConfig);
    await provisionOfflineLake(moto, { ingestionBucket: INGESTION, processedBucket: PROCESSED, resultsBucket: RESULTS, rawDatabase: RAW_DB, processedDatabase: PROCESSED_DB, workgroup: WORKGROUP });
    // The two databases behind their secrets, as the stack's variables name them (plain TCP here).
    const secrets = new SecretsManagerClient(moto.clientConfig);
    const secretOf = async (name: string, url: string): Promise<string> => {
      const u = new URL(url);
      const value = { host: u.hostname, port: Number(u.port || 5432), dbname: decodeURIComponent(u.pathname.slice(1)), username: decodeURIComponent(u.username) || 'postgres', password: decodeURIComponent(u.password) || 'unused', sslmode: 'disable' };
      return (await secrets.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(value) }))).ARN!;
    };
    const config: AwsConfig = {
      ingestionBucket: INGESTION,
      processedBucket: PROCESSED,
      rawDatabase: RAW_DB,
      processedDatabase: PROCESSED_DB,
      athenaWorkgroup: WORKGROUP,
      sourceSecretArn: await secretOf('totes-bf-source', source.url),
      warehouseSecretArn: await secretOf('totes-bf-warehouse', warehouseDb.url),
      warehouseSchema: 'public',
      commitLagSeconds: 0,
    };
    ctx = { ...buildAwsContext(config, createAwsClients(), log), sqlRoot: REPO };

    // What `terraform output -json` gives the operator, and the functions' environment.
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-backfill-cloud-'));
    outputsFile = path.join(work, 'outputs.json');
    const outputs: Record<string, string> = {
      [STACK_OUTPUTS.stackVersion]: String(STACK_VERSION),
      [STACK_OUTPUTS.region]: region,
      [STACK_OUTPUTS.namePrefix]: 'totes-bf',
      [STACK_OUTPUTS.ingestionBucket]: INGESTION,
      [STACK_OUTPUTS.processedBucket]: PROCESSED,
      [STACK_OUTPUTS.athenaResultsBucket]: RESULTS,
      [STACK_OUTPUTS.rawDatabase]: RAW_DB,
      [STACK_OUTPUTS.processedDatabase]: PROCESSED_DB,
      [STACK_OUTPUTS.athenaWorkgroup]: WORKGROUP,
      [STACK_OUTPUTS.sourceSecretArn]: config.sourceSecretArn!,
      [STACK_OUTPUTS.warehouseSecretArn]: config.warehouseSecretArn!,
      [STACK_OUTPUTS.warehouseSchema]: 'public',
      [STACK_OUTPUTS.operatorPolicyArn]: 'arn:aws:iam::123456789012:policy/totes-bf-operator',
      [STACK_OUTPUTS.operatorBackfillPolicyArn]: BACKFILL_POLICY,
    };
    await fs.writeFile(outputsFile, JSON.stringify(Object.fromEntries(Object.entries(outputs).map(([k, value]) => [k, { value, type: 'string', sensitive: false }]))));
    const functionEnv = Object.fromEntries((Object.keys(ENV) as (keyof typeof ENV)[]).flatMap((k) => (config[k] === undefined ? [] : [[ENV[k], String(config[k])]])));
    childEnv = { ...savedEnv, ...endpoints, ...functionEnv, NO_COLOR: '1', FORCE_COLOR: '0' };
    delete childEnv.AWS_PROFILE;
    delete childEnv.TOTES_TARGET;

    // The analyst's checkout: the repository's code and SQL, with its dependencies.
    repo = path.join(work, 'repo');
    await fs.mkdir(repo);
    for (const entry of ['functions', 'sql', 'package.json', 'tsconfig.json']) await fs.cp(path.join(REPO, entry), path.join(repo, entry), { recursive: true });
    await fs.symlink(path.join(REPO, 'node_modules'), path.join(repo, 'node_modules'));
    await fs.writeFile(path.join(repo, 'cycle.ts'), CYCLE_SCRIPT);

    await timed('seed', () => seedTotesys(source.url, { scale: 0.02, seed: 16, asOf: new Date('2025-01-15T12:00:00.000Z') }));
  }, 10 * 60_000);

  afterAll(async () => {
    await ctx?.engine.close();
    await ctx?.source.close().catch(() => undefined);
    await ctx?.warehouse.close().catch(() => undefined);
    await facade?.stop();
    await Promise.all([trino?.stop(), source?.close(), warehouseDb?.close()]);
    await moto?.stop();
    process.env = savedEnv;
    if (work) await fs.rm(work, { recursive: true, force: true });
    console.log(`Offline backfill timings (ms): ${JSON.stringify(timings)}${warnings.length ? `\nProduct warnings: ${warnings.slice(0, 20).join(' | ')}` : ''}`);
  });

  let before: { n: number; versions: number; ids: number; units: number };
  let warehouseBefore: { n: number; ids: string; units: string };
  let oldHash: string;
  let newHash: string;
  let waiting: { seq: number; batchId: string };

  test('the deployed code loads the history: extract, transform on Athena, load', async () => {
    for (const label of ['full', 'amended']) {
      if (label === 'amended') await sourceSql('UPDATE sales_order SET units_sold = units_sold + 1, last_updated = now() WHERE sales_order_id IN (1, 2)');
      const extracted = await timed(`${label}: extract`, () => extract(ctx));
      expect(extracted.published).toBe(true);
      const [transformed] = await timed(`${label}: athena transform`, () => transformPending(ctx));
      expect(transformed.manifest.star[FACT]?.rows).toBeGreaterThan(0);
      await timed(`${label}: load`, () => loadPending(ctx));
    }
    const seen = await lake();
    before = { n: Number(seen.n), versions: Number(seen.versions), ids: Number(seen.ids), units: Number(seen.units) };
    expect(before.n).toBeGreaterThan(30);
    expect(before.versions).toBe(before.n);
    expect(Number(seen.hashes)).toBe(1);
    expect(Number(seen.batches)).toBe(2);
    [warehouseBefore] = await warehouseTotals();
    expect(warehouseBefore).toEqual({ n: before.n, ids: String(before.ids), units: String(before.units) });
    oldHash = (await loadSqlFiles(REPO)).find((f) => f.table.name === FACT)!.sqlHash;
  });

  test('the analyst adds gross_value to the model and the SQL, and generates the contract and the warehouse migration', async () => {
    const model = path.join(repo, 'sql/transform/fact_sales_order.yml');
    await fs.appendFile(model, "  - name: gross_value\n    type: numeric(10,2)\n    description: The order's gross value, units_sold × unit_price.\n    tests: [not_null]\n");
    const sql = path.join(repo, 'sql/transform/fact_sales_order.sql');
    const text = await fs.readFile(sql, 'utf8');
    const changed = text.replace('  agreed_delivery_location_id\nFROM', '  agreed_delivery_location_id,\n  CAST(units_sold * unit_price AS decimal(10, 2)) AS gross_value\nFROM');
    expect(changed).not.toBe(text);
    await fs.writeFile(sql, changed);
    const generated = await inCopy(['node_modules/tsx/dist/cli.mjs', 'functions/build/generate-models.ts']); // npm run generate
    expect(generated).toMatchObject({ code: 0 });
    expect(generated.out + generated.err).toContain('fact_sales_order gains gross_value (numeric(10,2))');
    // The version is the hash of the file's bytes (sql-files.ts; this process's contract is the old one, so it cannot load the copy's models).
    expect(sha256(await fs.readFile(path.join(REPO, 'sql/transform/fact_sales_order.sql')))).toBe(oldHash);
    newHash = sha256(await fs.readFile(sql));
    expect(newHash).not.toBe(oldHash);
  });

  test('deployed, the new code keeps a batch with versions of the fact waiting, naming the backfill', async () => {
    await sourceSql('UPDATE sales_order SET units_sold = units_sold + 5, last_updated = now() WHERE sales_order_id = 3');
    const extracted = await extract(ctx);
    expect(extracted.published).toBe(true);
    waiting = { seq: extracted.seq, batchId: extracted.batchId };
    const refused = await timed('waiting: transform (refused)', cycleInCopy);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/sql\/transform\/fact_sales_order\.sql changed since it built the published fact_sales_order/);
    expect(refused.err).toContain('totes backfill fact_sales_order');
    expect(await listTransformSeqs(ctx.processed)).toEqual([1, 2]);
    expect(await lake()).toMatchObject({ n: before.n });
  });

  test('without the backfill policy, AWS denies the switch of the view: the policy named, nothing readers see changed', async () => {
    // A proxy in front of moto answers the view's UpdateTable as AWS answers a caller without the policy.
    const proxy = await faultProxy(moto.endpoint, (req) => (req.headers['x-amz-target'] === 'AWSGlue.UpdateTable' ? glueAccessDenied(req) : undefined));
    try {
      const denied = await inCopy(['functions/cli/totes.cjs', 'backfill', FACT, '--aws', '--stack-outputs', outputsFile], { AWS_ENDPOINT_URL: proxy.endpoint });
      expect({ code: denied.code, out: denied.out }).toEqual({ code: 1, out: '' });
      expect(denied.err.trim().split('\n').filter((line) => /AWS denied/.test(line))).toEqual([
        expect.stringMatching(new RegExp(`^totes backfill failed: AWS denied glue:UpdateTable on Glue ${PROCESSED_DB}: attach the stack's operator policy \\(${BACKFILL_POLICY}\\) .*${STACK_OUTPUTS.operatorBackfillPolicyArn} output beside the read-only`)),
      ]);
      expect(proxy.hits()).toBe(1);
    } finally {
      await proxy.stop();
    }
    // Readers still see the old version; the rebuilt batches are tested, waiting for the publish.
    expect(await lake()).toMatchObject({ n: before.n, hashes: 1 });
    expect((await ctx.catalog.partitions(FACT)).every((p) => p.sqlHash === oldHash)).toBe(true);
    expect(JSON.parse(await getText(ctx.processed, backfillKey(FACT, newHash)))).toMatchObject({ step: 'tested' });
  });

  test('totes backfill fact_sales_order --aws rebuilds every version with gross_value, switches the Glue view and replaces the warehouse table', async () => {
    const result = await timed('backfill --aws', () => inCopy(['functions/cli/totes.cjs', 'backfill', FACT, '--aws', '--stack-outputs', outputsFile, '--json']));
    expect({ code: result.code, err: result.code ? result.err : '' }).toEqual({ code: 0, err: '' });
    const [outcome] = JSON.parse(result.out) as { table: string; outcome: string; step: string }[];
    expect(outcome).toMatchObject({ table: FACT, outcome: 'rebuilt', step: 'loaded' });

    // The lake, read by name through the Glue view: the same versions, once each, all of the new SQL, with the column.
    const seen = await lake(', count(gross_value) AS valued, count_if(gross_value <> CAST(units_sold * unit_price AS decimal(10, 2))) AS wrong, min(_sql_hash) AS hash');
    expect(seen).toMatchObject({ hashes: 1, batches: 2, valued: before.n, wrong: 0, hash: newHash });
    expect({ n: Number(seen.n), versions: Number(seen.versions), ids: Number(seen.ids), units: Number(seen.units) }).toEqual(before);

    // The view reads the backfill's batches table; the stack's (now empty) batches table and no other remains.
    const view = (await glue.send(new GetTableCommand({ DatabaseName: PROCESSED_DB, Name: FACT }))).Table!;
    expect(view.TableType).toBe('VIRTUAL_VIEW');
    expect(view.Parameters?.['totes.batches_table']).toMatch(new RegExp(`^${FACT}_batches_[0-9a-f]{12}$`));
    const tables = (await glue.send(new GetTablesCommand({ DatabaseName: PROCESSED_DB, Expression: `${FACT}_.*` }))).TableList!.map((t) => t.Name).sort();
    expect(tables).toEqual([`${FACT}_batches`, view.Parameters!['totes.batches_table']].sort());
    const batches = await ctx.catalog.partitions(FACT);
    expect(batches.map((b) => [b.batchId, b.sqlHash])).toEqual((await Promise.all([1, 2].map((seq) => readTransformManifest(ctx.processed, seq)))).map((m) => [m.batchId, newHash]));
    expect(batches.every((b) => b.prefix.startsWith(`star/${FACT}/sql=${newHash.slice(0, 12)}/`))).toBe(true);

    // Its progress and the published version, in the processed bucket.
    expect(JSON.parse(await getText(ctx.processed, backfillKey(FACT, newHash)))).toMatchObject({ step: 'loaded', throughSeq: 2, engine: 'athena' });
    expect(JSON.parse(await getText(ctx.processed, modelVersionKey(FACT)))).toMatchObject({ sqlHash: newHash, throughSeq: 2 });

    // The warehouse: the table replaced with the column, every row valued, counts and key sums unchanged.
    const columns = await warehouse<{ column_name: string }>(`SELECT column_name FROM information_schema.columns WHERE table_name = '${FACT}' ORDER BY ordinal_position`);
    expect(columns.map((c) => c.column_name)).toContain('gross_value');
    expect(await warehouseTotals()).toEqual([warehouseBefore]);
    const [values] = await warehouse<{ missing: number; wrong: number }>(
      `SELECT count(*) FILTER (WHERE gross_value IS NULL)::int AS missing, count(*) FILTER (WHERE gross_value <> units_sold * unit_price)::int AS wrong FROM ${FACT}`,
    );
    expect(values).toEqual({ missing: 0, wrong: 0 });

    // Run again, it has nothing to do.
    const again = await inCopy(['functions/cli/totes.cjs', 'backfill', FACT, '--aws', '--stack-outputs', outputsFile, '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out)).toEqual([expect.objectContaining({ table: FACT, outcome: 'up-to-date' })]);
  });

  test('the batch that waited and a later one go through with the new SQL, each once, in the lake and the warehouse', async () => {
    await sourceSql('UPDATE sales_order SET units_sold = units_sold + 7, last_updated = now() WHERE sales_order_id = 4');
    const later = await extract(ctx);
    expect(later.published).toBe(true);
    const cycle = await timed('after: transform and load (new code)', cycleInCopy);
    expect({ code: cycle.code, err: cycle.code ? cycle.err : '' }).toEqual({ code: 0, err: '' });
    expect(JSON.parse(cycle.out)).toMatchObject({ transformed: [{ seq: waiting.seq, facts: 1 }, { seq: later.seq, facts: 1 }] });
    expect((await readTransformManifest(ctx.processed, waiting.seq)).star[FACT]).toMatchObject({ sqlHash: newHash, rows: 1 });

    // Lake: two more versions (orders 3 and 4), every one of the new SQL and valued; the view reads them from the backfill's table.
    const seen = await lake(', count(gross_value) AS valued, min(_sql_hash) AS hash');
    expect(seen).toMatchObject({ hashes: 1, batches: 4, valued: before.n + 2, hash: newHash });
    expect(Number(seen.n)).toBe(before.n + 2);
    expect(Number(seen.versions)).toBe(before.n + 2);
    expect(Number(seen.ids)).toBe(before.ids + 3 + 4);
    const perOrder = await ctx.engine.query(
      `SELECT sales_order_id AS id, count(*) AS versions, count(gross_value) AS valued FROM "${PROCESSED_DB}"."${FACT}" WHERE sales_order_id IN (3, 4) GROUP BY sales_order_id ORDER BY sales_order_id`,
    );
    expect(perOrder.map((r) => [Number(r.id), Number(r.versions), Number(r.valued)])).toEqual([
      [3, 2, 2],
      [4, 2, 2],
    ]);

    // Warehouse: the same two versions, once each, with the column.
    const rows = await warehouse<{ id: number; versions: number; valued: number }>(
      `SELECT sales_order_id AS id, count(*)::int AS versions, count(gross_value)::int AS valued FROM ${FACT} WHERE sales_order_id IN (3, 4) GROUP BY 1 ORDER BY 1`,
    );
    expect(rows).toEqual([3, 4].map((id) => ({ id, versions: 2, valued: 2 })));
    const [after] = await warehouseTotals();
    expect(after).toMatchObject({ n: before.n + 2, ids: String(before.ids + 3 + 4) });
  });
});
