import { GetTablesCommand, GlueClient } from '@aws-sdk/client-glue';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SOURCE_TABLE_NAMES } from '../../functions/core/contract/source-tables';
import { STACK_OUTPUTS, STACK_VERSION } from '../../functions/core/contract/stack-contract';
import { STAR_TABLES } from '../../functions/core/contract/star-tables';
import { startOfflinePipeline, type OfflinePipeline } from './offline-pipeline';
import { faultProxy } from './fault-proxy';

/**
 * Operating the deployed pipeline from the `totes` CLI (functions/cli/commands/aws-operate.ts), on
 * the offline cloud: the stack deployed with Terraform against moto, batches run by the bundles
 * Terraform uploaded, Athena served by Trino. The CLI runs as the operator runs it — `node
 * functions/cli/totes.cjs <command> --aws --stack-outputs FILE`, FILE written by `terraform output
 * -json` of the deployment, its SDK pointed at moto and the Athena facade by AWS_ENDPOINT_URL* —
 * and each answer is compared with what the same CLI says of the local pipeline (DuckDB, folder
 * lake, its own warehouse) built from the same totesys. Bad input (missing or foreign outputs, a
 * stack of another version, expired credentials, a denied permission) must fail in one line,
 * non-zero, writing nothing; AWS's answers to the last two come from a proxy in front of moto
 * (moto checks neither credentials nor policies), replying as AWS does.
 */

const REPO = path.resolve(__dirname, '..', '..');
const CLI = path.join(REPO, 'functions', 'cli', 'totes.cjs');

jest.setTimeout(15 * 60_000);

let p: OfflinePipeline;
let work: string;
let outputsFile: string;
let home: string;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `totes <args>` as a child process with only the environment an operator's shell would give it. */
function totes(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const credentials = p.cloud.clientConfig.credentials;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: work,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        TMPDIR: os.tmpdir(),
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_ENDPOINT_URL: p.cloud.endpoint,
        AWS_ENDPOINT_URL_ATHENA: p.facade.endpoint,
        // The SDK warns on every run under Node 20 that its 2027 releases need Node 22: this machine's, not the command's output.
        NODE_NO_WARNINGS: '1',
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const aws = (...args: string[]) => totes([...args, '--aws', '--stack-outputs', outputsFile]);
const local = (...args: string[]) => totes([...args, '--lake', p.lakeDir, '--source-url', p.sourceUrl, '--warehouse-url', p.localWarehouseUrl]);

function json<T>(r: CliResult, what: string): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`${what} printed no JSON (exit ${r.code}):\n${r.stdout.slice(0, 2000)}\n${r.stderr.slice(-3000)}`);
  }
}

/** Values as text the same way on both sides (DuckDB and Athena type numbers differently). */
function canonical(rows: Record<string, unknown>[]): string[] {
  const value = (v: unknown) => (v === null || v === undefined ? '∅' : typeof v === 'number' || (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) ? String(Number(v)) : String(v));
  return rows.map((r) => Object.entries(r).map(([k, v]) => `${k}=${value(v)}`).join('|'));
}

/** Every object key of the lake's two buckets and the processed database's tables: what "nothing written" is checked against. */
async function deployedState(): Promise<string[]> {
  const out: string[] = [];
  for (const bucket of [p.cloud.buckets.ingestion, p.cloud.buckets.processed]) {
    let token: string | undefined;
    do {
      const page = await p.s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of page.Contents ?? []) out.push(`${bucket}/${o.Key}@${o.ETag}`);
      token = page.NextContinuationToken;
    } while (token);
  }
  const glue = new GlueClient(p.cloud.clientConfig);
  const tables = await glue.send(new GetTablesCommand({ DatabaseName: p.cloud.glue.processedDatabase }));
  out.push(...(tables.TableList ?? []).map((t) => `glue:${t.Name}`));
  glue.destroy();
  return out.sort();
}

/** One line on stderr, exit 1: a failure the operator can act on. */
function expectOneLineFailure(r: CliResult, pattern: RegExp): void {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

const s3Error = (status: number, code: string, message: string) => ({ status, type: 'application/xml', body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault</RequestId></Error>` });

describe('operating the deployed pipeline with totes --aws, offline', () => {
  beforeAll(async () => {
    p = await startOfflinePipeline({ log: (line) => console.log(line) });
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-operate-'));
    home = path.join(work, 'home');
    await fs.mkdir(home);
    // The outputs exactly as the operator gets them from the deployment.
    const outputs = await p.cloud.terraform(['output', '-json']);
    if (outputs.code !== 0) throw new Error(`terraform output failed: ${outputs.stderr}`);
    outputsFile = path.join(work, 'stack-outputs.json');
    await fs.writeFile(outputsFile, outputs.stdout);

    // A full batch, then an incremental one with updates and a deletion, on both pipelines.
    await p.cloudBatch();
    await p.localCycle();
    const [victim] = await p.sql(p.sourceUrl, 'SELECT max(payment_id) AS id FROM payment');
    const now = `(now() AT TIME ZONE 'UTC')::timestamp(3)`;
    await p.sql(p.sourceUrl, `UPDATE sales_order SET units_sold = units_sold + 7, last_updated = ${now} WHERE sales_order_id IN (1, 2, 3)`);
    await p.sql(p.sourceUrl, `UPDATE address SET city = 'Operator City', last_updated = ${now} WHERE address_id = 1`);
    await p.sql(p.sourceUrl, 'DELETE FROM payment WHERE payment_id = $1', [victim.id]);
    await p.cloudBatch();
    await p.localCycle();
  }, 15 * 60_000);

  afterAll(async () => {
    await p?.close();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  test('the outputs name the stack version and the operator policies (read-only, run, backfill)', async () => {
    const outputs = JSON.parse(await fs.readFile(outputsFile, 'utf8')) as Record<string, { value: string }>;
    expect(outputs[STACK_OUTPUTS.stackVersion].value).toBe(String(STACK_VERSION));
    expect(outputs[STACK_OUTPUTS.operatorPolicyArn].value).toMatch(/^arn:aws:iam::\d{12}:policy\/.+-operator$/);
    expect(outputs[STACK_OUTPUTS.operatorRunPolicyArn].value).toMatch(/-operator-run$/);
    expect(outputs[STACK_OUTPUTS.operatorBackfillPolicyArn].value).toMatch(/^arn:aws:iam::\d{12}:policy\/.+-operator-backfill$/);
  });

  test('status --aws --json names every table with its freshness, and agrees with the local status', async () => {
    const [cloud, here] = await Promise.all([aws('status', '--json'), local('status', '--json')]);
    type Status = {
      freshness: { seconds: number } | null;
      sla: { breached: boolean };
      sourceTables: { table: string; lastBatch: string | null; sourceRows: number; lakeVersions: number; lakeCurrentRows: number; loadedNewest: string | null }[];
      starTables: { table: string; lakeRows: number; warehouseRows: number; lastBatch: string | null; sql: { published: string; file: string; changed: boolean } | null }[];
      backlog: { batches: number };
      alarms: { name: string; state: string }[] | null;
      target: { kind: string; stackVersion: number };
      problems: string[];
    };
    const c = json<Status>(cloud, 'status --aws');
    const l = json<Status>(here, 'status');
    expect(cloud.code).toBe(0);
    expect(c.target).toMatchObject({ kind: 'aws', stackVersion: STACK_VERSION });
    expect(c.freshness?.seconds).toBeGreaterThanOrEqual(0);
    expect(c.sla.breached).toBe(false);
    expect(c.backlog.batches).toBe(0);
    expect(c.sourceTables.map((t) => t.table)).toEqual([...SOURCE_TABLE_NAMES]);
    expect(c.starTables.map((t) => t.table)).toEqual(STAR_TABLES.map((t) => t.name));
    for (const t of c.sourceTables) expect(t.lastBatch).not.toBeNull();
    // The same numbers as the local pipeline's on the same source (batch ids and instants differ by nature).
    const counts = (s: Status) => ({
      source: s.sourceTables.map((t) => [t.table, t.sourceRows, t.lakeVersions, t.lakeCurrentRows]),
      star: s.starTables.map((t) => [t.table, t.lakeRows, t.warehouseRows, t.sql?.published, t.sql?.changed]),
    });
    expect(counts(c)).toEqual(counts(l));
    // The stack's alarms, read from CloudWatch, none firing.
    expect(c.alarms?.length).toBeGreaterThan(0);
    expect(c.alarms?.filter((a) => a.state === 'ALARM')).toEqual([]);
    expect(c.problems).toEqual([]);

    const text = await aws('status');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Freshness: .* — OK/);
    expect(text.stdout).toContain('== Alarms ==');
  });

  test('verify --aws reconciles source, lake and warehouse as the local verify does', async () => {
    const [cloud, here] = await Promise.all([aws('verify', '--json'), local('verify', '--json')]);
    type Report = { ok: boolean; tables: { table: string; sourceKeys: number; lakeKeys: number; warehouseKeys: number | null; lakeVersions: number; warehouseVersions: number | null; deleted: number; moneySums?: unknown; differences: string[] }[] };
    const c = json<Report>(cloud, 'verify --aws');
    const l = json<Report>(here, 'verify');
    expect(c.tables.flatMap((t) => t.differences)).toEqual([]);
    expect({ code: cloud.code, ok: c.ok }).toEqual({ code: 0, ok: true });
    expect(l.ok).toBe(true);
    const numbers = (r: Report) => r.tables.map(({ differences: _d, ...t }) => t);
    expect(numbers(c)).toEqual(numbers(l));
    expect(c.tables.find((t) => t.table === 'payment')?.deleted).toBe(1);
  });

  test.each([
    ['a fact count', 'SELECT count(*) AS n FROM fact_sales_order'],
    ['a dimension, ordered', 'SELECT staff_id, first_name, last_name, department_name, location, email_address FROM dim_staff ORDER BY staff_id'],
    ['the current view', 'SELECT count(*) AS n, sum(units_sold) AS units FROM fact_sales_order_current'],
    ['raw versions', 'SELECT count(*) AS versions, count(DISTINCT sales_order_id) AS orders FROM raw_sales_order'],
    ['a current state', 'SELECT count(*) AS n, max(payment_id) AS top FROM current_payment'],
    ['a join', "SELECT l.city, count(*) AS n FROM fact_sales_order f JOIN dim_location l ON l.location_id = f.agreed_delivery_location_id GROUP BY l.city ORDER BY n DESC, l.city LIMIT 5"],
  ])('query --aws returns the rows totes query returns: %s', async (_what, sql) => {
    const [cloud, here] = await Promise.all([aws('query', '--json', sql), local('query', '--json', sql)]);
    const c = json<Record<string, unknown>[]>(cloud, `query --aws ${sql}`);
    const l = json<Record<string, unknown>[]>(here, `query ${sql}`);
    expect(cloud.code).toBe(0);
    expect(c.length).toBeGreaterThan(0);
    expect(canonical(c)).toEqual(canonical(l));
  });

  test('query --aws prints the bytes Athena scanned, in the stack\'s workgroup', async () => {
    const r = await aws('query', 'SELECT count(*) AS n FROM fact_payment');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`\\(1 row; Athena scanned .*B.* in workgroup ${p.cloud.athena.workgroup}\\)`));
  });

  test('docs --aws writes the docs site of the deployed lake: the pages the local docs have', async () => {
    const cloudOut = path.join(work, 'docs-aws');
    const localOut = path.join(work, 'docs-local');
    const [cloud, here] = await Promise.all([aws('docs', '--out', cloudOut), local('docs', '--out', localOut)]);
    expect(cloud.code).toBe(0);
    expect(here.code).toBe(0);
    expect(cloud.stdout.trim()).toBe(path.join(cloudOut, 'index.html'));
    expect((await fs.readdir(cloudOut)).sort()).toEqual((await fs.readdir(localOut)).sort());
    const index = await fs.readFile(path.join(cloudOut, 'index.html'), 'utf8');
    for (const t of STAR_TABLES) expect(index).toContain(t.name);
  });

  test('compile --aws renders, for the deployed lake, the statements Athena would be sent for its newest batch, and changes nothing', async () => {
    const before = await deployedState();
    const r = await aws('compile', '--json');
    expect(r.code).toBe(0);
    const out = json<{ engine: string; batchId: string; pending: boolean; statements: { tables: string[]; role: string; sql: string }[] }>(r, 'compile --aws');
    // Nothing is pending (the pipeline has caught up): the newest batch, as it ran.
    expect(out).toMatchObject({ engine: 'athena', pending: false });
    const ctas = out.statements.filter((st) => st.role.startsWith('CTAS'));
    expect(ctas.length).toBeGreaterThan(0);
    for (const st of ctas) {
      expect(st.sql).toContain(`CREATE TABLE "${p.cloud.glue.processedDatabase}".`);
      expect(st.sql).toContain(`external_location = 's3://${p.cloud.buckets.processed}/`);
    }
    expect(ctas.some((st) => st.sql.includes(`"${p.cloud.glue.rawDatabase}"."raw_`))).toBe(true);
    expect(await deployedState()).toEqual(before);
  });

  test('run --aws is refused: the schedule owns runs', async () => {
    const before = await deployedState();
    const r = await aws('run');
    expectOneLineFailure(r, /totes run failed: totes run --aws is refused: the deployed stack runs the pipeline on its schedule/);
    expect(await deployedState()).toEqual(before);
  });

  test('backfill --aws of a model that did not change says so and changes nothing', async () => {
    // The whole publish (a new batches table, the view switched in one UpdateTable) runs in fact-view.cloud.ts.
    const before = await deployedState();
    const r = await aws('backfill', 'fact_sales_order');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^fact_sales_order: fact_sales_order is built by the current sql\/transform\/fact_sales_order\.sql \(version [0-9a-f]{12}\) in every published batch.*: nothing to backfill\n$/);
    expect(await deployedState()).toEqual(before);
  });

  describe('bad input: one line, non-zero, nothing written', () => {
    let before: string[];
    beforeAll(async () => {
      before = await deployedState();
    });
    afterEach(async () => {
      expect(await deployedState()).toEqual(before);
    });

    test('missing stack outputs', async () => {
      expectOneLineFailure(await totes(['status', '--aws', '--stack-outputs', path.join(work, 'nope.json')]), /Cannot read the stack outputs in .*nope\.json \(no such file\); write them with `terraform output -json/);
      // Neither a file nor TOTES_* variables: terraform in a directory that holds no deployment.
      expectOneLineFailure(await totes(['verify', '--aws', '--stack-dir', path.join(work, 'no-stack')]), /No stack outputs: pass --stack-outputs FILE/);
      const outputs = JSON.parse(await fs.readFile(outputsFile, 'utf8')) as Record<string, unknown>;
      delete outputs[STACK_OUTPUTS.warehouseSecretArn];
      const partial = path.join(work, 'partial.json');
      await fs.writeFile(partial, JSON.stringify(outputs));
      expectOneLineFailure(await totes(['verify', '--aws', '--stack-outputs', partial]), /lack warehouse_secret_arn/);
    });

    test('a stack of another version', async () => {
      const outputs = JSON.parse(await fs.readFile(outputsFile, 'utf8')) as Record<string, { value: unknown }>;
      const older = path.join(work, 'older.json');
      await fs.writeFile(older, JSON.stringify({ ...outputs, [STACK_OUTPUTS.stackVersion]: { value: String(STACK_VERSION + 1) } }));
      expectOneLineFailure(await totes(['status', '--aws', '--stack-outputs', older]), new RegExp(`is version ${STACK_VERSION + 1}, this totes reads version ${STACK_VERSION}: update this checkout`));
      const { [STACK_OUTPUTS.stackVersion]: _v, ...unversioned } = outputs;
      await fs.writeFile(older, JSON.stringify(unversioned));
      expectOneLineFailure(await totes(['query', '--aws', '--stack-outputs', older, 'SELECT 1']), /have no stack_version: the stack was deployed by an older checkout; redeploy it/);
    });

    test('expired credentials', async () => {
      const proxy = await faultProxy(p.cloud.endpoint, () => s3Error(400, 'ExpiredToken', 'The provided token has expired.'));
      try {
        const r = await totes(['status', '--aws', '--stack-outputs', outputsFile], { AWS_ENDPOINT_URL: proxy.endpoint, AWS_SESSION_TOKEN: 'expired' });
        expectOneLineFailure(r, /Your AWS credentials have expired \(ExpiredToken at s3:ListBucket on s3:\/\/.+\): renew them/);
        expect(proxy.hits()).toBeGreaterThan(0);
      } finally {
        await proxy.stop();
      }
    });

    test('a denied permission is named: the IAM action and the resource', async () => {
      // An operator without s3:ListBucket on the ingestion bucket.
      const ingestion = p.cloud.buckets.ingestion;
      const proxy = await faultProxy(p.cloud.endpoint, (req) => (req.method === 'GET' && new RegExp(`^/${ingestion}/?\\?`).test(req.url ?? '') && (req.url ?? '').includes('list-type=2') ? s3Error(403, 'AccessDenied', 'Access Denied') : undefined));
      try {
        const docsOut = path.join(work, 'docs-denied');
        const r = await totes(['docs', '--aws', '--stack-outputs', outputsFile, '--out', docsOut], { AWS_ENDPOINT_URL: proxy.endpoint });
        expectOneLineFailure(r, new RegExp(`AWS denied s3:ListBucket on s3://${ingestion}/manifests/extract/: attach the stack's operator policy \\(arn:aws:iam::\\d+:policy/.+-operator\\)`));
        expect(existsSync(docsOut)).toBe(false);
      } finally {
        await proxy.stop();
      }
      // An operator who may not read the warehouse's secret.
      const secrets = await faultProxy(p.cloud.endpoint, (req) =>
        req.headers['x-amz-target'] === 'secretsmanager.GetSecretValue'
          ? { status: 400, type: 'application/x-amz-json-1.1', body: JSON.stringify({ __type: 'AccessDeniedException', Message: `User: arn:aws:iam::${p.cloud.accountId}:user/operator is not authorized to perform: secretsmanager:GetSecretValue because no identity-based policy allows the secretsmanager:GetSecretValue action` }) }
          : undefined,
      );
      try {
        const r = await totes(['verify', '--aws', '--stack-outputs', outputsFile], { AWS_ENDPOINT_URL: secrets.endpoint });
        expectOneLineFailure(r, /AWS denied secretsmanager:GetSecretValue on arn:aws:secretsmanager:.+: attach the stack's operator policy/);
      } finally {
        await secrets.stop();
      }
    });
  });

  test('verify --aws exits 1 once a row is removed from the warehouse behind the pipeline\'s back', async () => {
    const [gone] = await p.sql(p.cloudWarehouseUrl, 'DELETE FROM fact_payment WHERE payment_id = (SELECT min(payment_id) FROM fact_payment) RETURNING payment_id');
    const r = await aws('verify');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('verify: DIFFERENCES FOUND');
    expect(r.stdout).toMatch(new RegExp(`lake row\\(s\\) missing from fact_payment: payment_id ${gone.payment_id}\\b`));
    // The local pipeline's warehouse was not touched: its verify still passes.
    expect((await local('verify')).code).toBe(0);
  });
});
