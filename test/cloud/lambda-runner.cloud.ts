import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildLambda, LAMBDAS, type BuiltLambda } from '../../functions/build/build-lambdas';
import { writeZip } from '../../functions/build/zip-writer';
import { EXTRACT_MANIFEST_PREFIX, extractManifestKey, rawKey, TRANSFORM_MANIFEST_PREFIX, transformManifestKey } from '../../functions/core/lake/lake-layout';
import { synthesizeStack, type Block } from '../infra/synthesized-stack';
import { startMotoServer, type MotoServer } from '../support/moto-server';
import {
  explainEventPatternMatch, matchesEventPattern, matchOnMoto, s3ObjectCreatedEvent, schedulerPayload, validateEventPattern, type EventBridgeEvent,
} from './event-patterns';
import { invokeBundle, lambdaEnvironment, readZip, resultOf, unpackBundle, type AwsTarget, type InvocationResult, type LambdaFunctionConfig, type UnpackedBundle } from './lambda-runner';

/**
 * The Lambda runner and the event-pattern check, on real bundles (built as `npm run build:lambdas`
 * builds them) and the rules and schedules of the synthesized stack. No deploy: the offline
 * cloud's end-to-end suite uses these on what Terraform created.
 */

const REGION = 'eu-west-2';
const ACCOUNT = '123456789012';
const stack = synthesizeStack();
const out = mkdtempSync(path.join(tmpdir(), 'totes-runner-bundles-'));
const built: Partial<Record<'extract' | 'transform' | 'load', BuiltLambda>> = {};
let extractZip: BuiltLambda;
let moto: MotoServer;

/**
 * A synthesized value with its Terraform references made concrete, as `terraform apply` would:
 * `${var.x}` from the variable's default (or `variables`), `${type.id.attr}` from the resource's
 * attribute, a bucket's name from its `bucket_prefix`.
 */
function concrete(value: string, variables: Record<string, string>): string {
  return value.replace(/\$\{([^}]+)\}/g, (_all, ref: string) => {
    // The one function the stack's names use: replace(var.x, "a", "b").
    const call = /^replace\(([\w.]+), "([^"]*)", "([^"]*)"\)$/.exec(ref);
    if (call) return concrete(`\${${call[1]}}`, variables).split(call[2]).join(call[3]);
    const [kind, a, b] = ref.split('.');
    if (kind === 'var') {
      const v = variables[a] ?? (stack.tf.variable?.[a]?.default as string | number | undefined);
      if (v === undefined) throw new Error(`No value for variable ${a}`);
      return concrete(String(v), variables);
    }
    const block = stack.resources(kind)[a] as Block | undefined;
    if (!block) throw new Error(`No resource ${kind}.${a}`);
    if (b === 'bucket' && block.bucket === undefined) return concrete(`${block.bucket_prefix}test`, variables);
    if (typeof block[b] !== 'string') throw new Error(`Cannot make ${ref} concrete`);
    return concrete(block[b], variables);
  });
}

const VARIABLES = {
  name_prefix: 'totes-lake',
  source_secret_arn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:totes/source-AbCdEf`,
  warehouse_secret_arn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:totes/warehouse-GhIjKl`,
};

/** A function of the synthesized stack, with its environment as Terraform would set it. */
function stackFunction(stage: 'extract' | 'transform' | 'load'): LambdaFunctionConfig {
  const fn = Object.values(stack.resources('aws_lambda_function')).find((f) => f.function_name === `\${var.name_prefix}-${stage}`);
  if (!fn) throw new Error(`No ${stage} function in the stack`);
  const environment = Object.fromEntries(Object.entries(fn.environment.variables as Record<string, string>).map(([k, v]) => [k, concrete(v, VARIABLES)]));
  return { name: concrete(fn.function_name, VARIABLES), handler: fn.handler, runtime: fn.runtime, timeoutSeconds: fn.timeout, memoryMb: fn.memory_size, environment };
}

const aws = (): AwsTarget => ({ region: REGION, endpointUrl: moto.endpoint, accountId: ACCOUNT });

beforeAll(async () => {
  moto = await startMotoServer();
  for (const lambda of LAMBDAS) built[lambda.name] = await buildLambda(lambda, out);
  extractZip = built.extract!;
}, 300_000);

afterAll(async () => {
  await moto?.stop();
  rmSync(out, { recursive: true, force: true });
});

describe('readZip', () => {
  it('reads what the bundle build writes, as unzip does', () => {
    const files = readZip(readFileSync(extractZip.zip));
    expect(files.map((f) => f.name)).toEqual(extractZip.files);
    expect(files.find((f) => f.name === 'index.js')!.data.length).toBe(extractZip.bundleBytes);
    const unzip = spawnSync('unzip', ['-Z1', extractZip.zip], { encoding: 'utf8' });
    if (unzip.status === 0) expect(unzip.stdout.trim().split('\n')).toEqual(extractZip.files);
  });

  it('round-trips stored and deflated entries in folders, and refuses names that leave the root', () => {
    const entries = [
      { name: 'index.js', data: Buffer.from('exports.handler = async () => 1;\n'.repeat(50)) },
      { name: 'sql/transform/a.sql', data: Buffer.from('SELECT 1') },
      { name: 'bin/tiny', data: Buffer.from([0, 1, 2]) },
    ];
    expect(readZip(writeZip(entries)).map(({ name, data }) => ({ name, data }))).toEqual(entries);
    expect(() => readZip(writeZip([{ name: '../evil.js', data: Buffer.from('x') }]))).toThrow(/outside the task root/);
    expect(() => readZip(Buffer.from('not a zip'))).toThrow(/Not a zip/);
  });
});

describe('each bundle, loaded as Lambda loads it', () => {
  it.each(['extract', 'transform', 'load'] as const)('%s: initialises, and refuses an event it does not take with its handler\'s message', async (stage) => {
    const r = await (await invokeBundle(built[stage]!.zip, { function: stackFunction(stage), aws: aws(), event: { hello: 'world' }, timeoutMs: 30_000 })).result;
    expect(r).toMatchObject({ outcome: 'failed', phase: 'invoke', error: { errorType: 'Error' } });
    expect(r.error!.errorMessage).toMatch(/Not an EventBridge schedule event|"Object Created" event/);
    expect(r.taskRootWrites).toEqual([]);
    console.log(`${stage} bundle (${(built[stage]!.bytes / 1024).toFixed(0)} KiB zipped): cold start ${r.initMs} ms, peak RSS ${r.maxRssMb} MB of ${r.memoryMb} MB, node ${r.nodeVersion}`);
  });
});

describe('the extract bundle, run as Lambda runs it', () => {
  let bundle: UnpackedBundle;
  const extract = () => stackFunction('extract');
  const schedule = Object.values(stack.resources('aws_scheduler_schedule')).find((s) => String(s.target.arn).includes('extract_function'))!;
  const tick = (time = new Date('2026-12-04T15:05:00Z')) =>
    schedulerPayload(schedule.target.input, { scheduleArn: `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/default/totes-lake-extract-schedule`, time });

  beforeAll(async () => {
    bundle = await unpackBundle(extractZip.zip);
    // The lake's buckets, so that the extract gets past them to the database.
    const s3 = new S3Client(moto.clientConfig);
    for (const name of ['TOTES_INGESTION_BUCKET', 'TOTES_PROCESSED_BUCKET']) await s3.send(new CreateBucketCommand({ Bucket: extract().environment[name], CreateBucketConfiguration: { LocationConstraint: REGION } }));
    s3.destroy();
  });
  afterAll(() => bundle?.dispose());

  const run = (fn: LambdaFunctionConfig, event: unknown) => bundle.invoke({ function: fn, aws: aws(), event, timeoutMs: 60_000 }).result;

  it('refuses an event that is not a schedule with the handler\'s own message', async () => {
    const s3 = s3ObjectCreatedEvent({ bucket: 'b', key: extractManifestKey(1), region: REGION, account: ACCOUNT, body: '{}' });
    const r = await run(extract(), s3);
    expect(r).toMatchObject({ outcome: 'failed', phase: 'invoke', error: { errorType: 'Error' } });
    expect(r.error!.errorMessage).toMatch(/^Not an EventBridge schedule event: .*detail-type: .*"Scheduled Event"/);
    expect(r.taskRootWrites).toEqual([]);
  });

  it('accepts the payload the stack\'s schedule delivers, then names a variable the stack did not set', async () => {
    const fn = extract();
    delete fn.environment.TOTES_SOURCE_SECRET_ARN;
    const r = await run(fn, tick());
    expect(r.outcome).toBe('failed');
    expect(r.error!.errorMessage).toMatch(/TOTES_SOURCE_SECRET_ARN is not set, but the totesys source needs it/);
    // Powertools logged the failure as one JSON line, with the stage.
    const logged = r.logs.map((l) => l.text).filter((t) => t.startsWith('{')).map((t) => JSON.parse(t) as Record<string, unknown>);
    expect(logged).toContainEqual(expect.objectContaining({ level: 'ERROR', message: expect.stringMatching(/^The extract stage failed: TOTES_SOURCE_SECRET_ARN is not set/), stage: 'extract' }));
  }, 60_000);

  it('with the whole environment, gets as far as reading the secret from the endpoint it was given', async () => {
    const r = await run(extract(), tick());
    expect(r.outcome).toBe('failed');
    expect(r.error!.errorMessage).toMatch(/Cannot read secret arn:aws:secretsmanager:eu-west-2:123456789012:secret:totes\/source-AbCdEf: ResourceNotFoundException/);
    expect(r.initMs).toBeGreaterThan(0);
    expect(r.maxRssMb).toBeLessThan(r.memoryMb);
    console.log(`extract bundle: cold start ${r.initMs} ms, handler ${r.durationMs} ms, process ${r.totalMs} ms, peak RSS ${r.maxRssMb} MB of ${r.memoryMb} MB, node ${r.nodeVersion} (Lambda: ${extract().runtime})`);
  }, 60_000);
});

describe('the runtime the runner emulates', () => {
  /** A bundle of our own, to look at what the handler sees. */
  const probe = (code: string) => writeZip([{ name: 'index.js', data: Buffer.from(code) }]);
  const fn = (environment: Record<string, string> = {}): LambdaFunctionConfig => ({ name: 'probe', timeoutSeconds: 30, memoryMb: 512, environment });
  const target = (): AwsTarget => ({ region: REGION, endpointUrl: 'http://127.0.0.1:1', serviceEndpoints: { athena: 'http://127.0.0.1:2', 'secrets manager': 'http://127.0.0.1:3' } });
  const invoke = async (code: string, options: { event?: unknown; environment?: Record<string, string>; timeoutMs?: number } = {}) =>
    (await invokeBundle(probe(code), { function: fn(options.environment), aws: target(), event: options.event ?? {}, timeoutMs: options.timeoutMs ?? 10_000 })).result;

  it('gives exactly the function\'s environment and the runtime\'s, a counting-down context, the task root as cwd', async () => {
    process.env.TOTES_RUNNER_CANARY = 'leaked';
    try {
      const r = await invoke(
        `exports.handler = async (event, context) => {
           const first = context.getRemainingTimeInMillis();
           await new Promise((r) => setTimeout(r, 300));
           console.log('multi\\nline');
           return { event, env: process.env, cwd: process.cwd(), first, second: context.getRemainingTimeInMillis(),
                    requestId: context.awsRequestId, name: context.functionName, arn: context.invokedFunctionArn, memory: context.memoryLimitInMB };
         };`,
        { event: { hello: 'world' }, environment: { TOTES_X: '1', NODE_OPTIONS: '--enable-source-maps' }, timeoutMs: 5_000 },
      );
      const v = resultOf<{ event: unknown; env: Record<string, string>; cwd: string; first: number; second: number; requestId: string; name: string; arn: string; memory: string }>(r);
      expect(v.event).toEqual({ hello: 'world' });
      const expected = lambdaEnvironment(fn({ TOTES_X: '1', NODE_OPTIONS: '--enable-source-maps' }), target(), v.cwd, v.env.HOME, r.requestId);
      expect(v.env).toEqual(expected);
      expect(v.env.TOTES_RUNNER_CANARY).toBeUndefined();
      expect(v.env).toMatchObject({
        AWS_ENDPOINT_URL: 'http://127.0.0.1:1', AWS_ENDPOINT_URL_ATHENA: 'http://127.0.0.1:2', AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:3',
        AWS_REGION: REGION, AWS_LAMBDA_FUNCTION_NAME: 'probe', _HANDLER: 'index.handler', LAMBDA_TASK_ROOT: v.cwd, TZ: ':UTC', TOTES_X: '1',
      });
      expect(v.first).toBeLessThanOrEqual(5_000);
      expect(v.first).toBeGreaterThan(4_000);
      expect(v.first - v.second).toBeGreaterThanOrEqual(280);
      expect(v).toMatchObject({ requestId: r.requestId, name: 'probe', arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:probe`, memory: '512' });
      // Lambda's Text log format: one record per console call.
      expect(r.logs.map((l) => l.text)).toContainEqual(expect.stringMatching(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\t${r.requestId}\\tINFO\\tmulti\\rline$`)));
    } finally {
      delete process.env.TOTES_RUNNER_CANARY;
    }
  });

  it('times out as Lambda does, and reports init failures and a missing handler', async () => {
    const slow = await invoke('exports.handler = () => new Promise((r) => setTimeout(r, 60_000));', { timeoutMs: 500 });
    expect(slow).toMatchObject({ outcome: 'timed-out', error: { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 0.50 seconds' } });
    expect(slow.totalMs).toBeLessThan(10_000);
    const broken = await invoke('throw new Error("no config at load time");');
    expect(broken).toMatchObject({ outcome: 'failed', phase: 'init', error: { errorType: 'Error', errorMessage: 'no config at load time' } });
    const missing = await invoke('exports.other = async () => 1;');
    expect(missing).toMatchObject({ outcome: 'failed', phase: 'init', error: { errorType: 'Runtime.HandlerNotFound' } });
    const callback = await invoke('exports.handler = (event, context, callback) => setTimeout(() => callback(null, { via: "callback" }), 10);');
    expect(resultOf(callback)).toEqual({ via: 'callback' });
  });

  it('kills a run mid-way, on a log line or through an AbortSignal', async () => {
    const code = `exports.handler = async () => { console.log('step 1 done'); await new Promise((r) => setTimeout(r, 30_000)); return 'finished'; };`;
    const bundle = await unpackBundle(probe(code));
    try {
      let invocation: ReturnType<UnpackedBundle['invoke']> | undefined = undefined;
      invocation = bundle.invoke({ function: fn(), aws: target(), event: {}, onLog: (line) => line.text.endsWith('step 1 done') && invocation!.kill() });
      const killed: InvocationResult = await invocation.result;
      expect(killed).toMatchObject({ outcome: 'killed', signal: 'SIGKILL', error: { errorType: 'Runtime.Killed' } });
      expect(killed.logs.map((l) => l.text)).toContainEqual(expect.stringMatching(/step 1 done$/));
      expect(killed.totalMs).toBeLessThan(10_000);

      const controller = new AbortController();
      const aborted = bundle.invoke({ function: fn(), aws: target(), event: {}, signal: controller.signal });
      setTimeout(() => controller.abort(), 300);
      expect((await aborted.result).outcome).toBe('killed');
    } finally {
      await bundle.dispose();
    }
  });

  it('reports writes to the task root, which is read-only on Lambda', async () => {
    const r = await invoke(`exports.handler = async () => { require('fs').writeFileSync(process.env.LAMBDA_TASK_ROOT + '/cache.json', '{}'); return 1; };`);
    expect(r.outcome).toBe('succeeded');
    expect(r.taskRootWrites).toEqual(['cache.json']);
  });
});

describe('event patterns: the manifest rules of the stack', () => {
  const rules = Object.entries(stack.resources('aws_cloudwatch_event_rule')).map(([id, r]) => ({ id, pattern: concrete(r.event_pattern as string, VARIABLES) }));
  const ruleFor = (prefix: string) => {
    const found = rules.filter((r) => r.pattern.includes(`"prefix":"${prefix}"`));
    expect(found).toHaveLength(1);
    return found[0].pattern;
  };
  const ingestion = concrete('${aws_s3_bucket.' + Object.keys(stack.resources('aws_s3_bucket')).find((id) => id.includes('ingestion'))! + '.bucket}', VARIABLES);
  const processed = concrete('${aws_s3_bucket.' + Object.keys(stack.resources('aws_s3_bucket')).find((id) => id.includes('processed'))! + '.bucket}', VARIABLES);
  const created = (bucket: string, key: string, extra: Partial<Parameters<typeof s3ObjectCreatedEvent>[0]> = {}) =>
    s3ObjectCreatedEvent({ bucket, key, region: REGION, account: ACCOUNT, body: '{"batch":1}', ...extra });

  const cases: [string, EventBridgeEvent, transform: boolean, load: boolean][] = [
    ['an extract manifest in the ingestion bucket', created(ingestion, extractManifestKey(1)), true, false],
    ['an extract manifest, versioned, written by multipart upload', created(ingestion, extractManifestKey(42), { versionId: 'v1', reason: 'CompleteMultipartUpload' }), true, false],
    ['a transform manifest in the processed bucket', created(processed, transformManifestKey(1)), false, true],
    ['a raw file in the ingestion bucket', created(ingestion, rawKey('sales_order', '0000000001-20261204T150500Z-ab12')), false, false],
    ['a transform manifest key in the ingestion bucket', created(ingestion, transformManifestKey(1)), false, false],
    ['an extract manifest key in the processed bucket', created(processed, extractManifestKey(1)), false, false],
    ['a manifest under a look-alike prefix', created(ingestion, `x/${extractManifestKey(1)}`), false, false],
    ['the extract prefix without its slash', created(ingestion, 'manifests/extract-old/0000000001.json'), false, false],
    ['an object deleted, not created', { ...created(ingestion, extractManifestKey(1)), 'detail-type': 'Object Deleted' }, false, false],
    ['the same keys from another source', { ...created(ingestion, extractManifestKey(1)), source: 'custom.s3' }, false, false],
  ];

  it('are valid patterns on the buckets and manifest prefixes of the lake layout', () => {
    expect(rules.length).toBeGreaterThanOrEqual(2);
    for (const r of rules) validateEventPattern(r.pattern);
    expect(JSON.parse(ruleFor(EXTRACT_MANIFEST_PREFIX)).detail.bucket.name).toEqual([ingestion]);
    expect(JSON.parse(ruleFor(TRANSFORM_MANIFEST_PREFIX)).detail.bucket.name).toEqual([processed]);
  });

  it.each(cases.map(([what, event, transform, load]) => ({ what, event, transform, load })))('$what: transform rule $transform, load rule $load', ({ event, transform, load }) => {
    expect(matchesEventPattern(ruleFor(EXTRACT_MANIFEST_PREFIX), event)).toBe(transform);
    expect(matchesEventPattern(ruleFor(TRANSFORM_MANIFEST_PREFIX), event)).toBe(load);
  });

  it('says which field failed', () => {
    expect(explainEventPatternMatch(ruleFor(EXTRACT_MANIFEST_PREFIX), created(ingestion, 'raw/x.ndjson.gz'))).toEqual([
      'detail.object.key: "raw/x.ndjson.gz" matches none of [{"prefix":"manifests/extract/"}]',
    ]);
  });

  it('moto\'s rule engine agrees on every case', async () => {
    const patterns = [ruleFor(EXTRACT_MANIFEST_PREFIX), ruleFor(TRANSFORM_MANIFEST_PREFIX)];
    const onMoto = await matchOnMoto({ endpoint: moto.endpoint, region: REGION }, patterns, cases.map((c) => c[1]));
    expect(onMoto).toEqual([cases.map((c) => c[2]), cases.map((c) => c[3])]);
  });
});

describe('event patterns: EventBridge semantics', () => {
  const event = (detail: Record<string, unknown>, extra: Partial<EventBridgeEvent> = {}): EventBridgeEvent => ({
    version: '0', id: 'e', 'detail-type': 'Thing Happened', source: 'test.app', account: ACCOUNT, time: '2026-12-04T15:05:00Z', region: REGION, resources: ['arn:aws:s3:::b'], detail, ...extra,
  });
  const d = { key: 'manifests/extract/0001.json', size: 512, flag: true, nothing: null, tags: ['red', 'blue'], ip: '10.1.2.3', name: 'Report.CSV', nested: { deep: 'x' } };
  /** [pattern, expected on EventBridge, does moto 5.2.5 agree] */
  const cases: [string, object, boolean, boolean][] = [
    ['exact string', { detail: { key: ['manifests/extract/0001.json'] } }, true, true],
    ['exact, one of several', { detail: { key: ['a', 'manifests/extract/0001.json'] } }, true, true],
    ['number equality', { detail: { size: [512] } }, true, true],
    ['a number is not its string', { detail: { size: ['512'] } }, false, true],
    ['boolean', { detail: { flag: [true] } }, true, true],
    ['a boolean is not a number (moto: Python True == 1)', { detail: { flag: [1] } }, false, false],
    ['numeric never matches a boolean (moto: bool is an int)', { detail: { flag: [{ numeric: ['>', 0] }] } }, false, false],
    ['null matches null', { detail: { nothing: [null] } }, true, true],
    ['null does not match absent', { detail: { absent: [null] } }, false, true],
    ['prefix', { detail: { key: [{ prefix: 'manifests/' }] } }, true, true],
    ['prefix, miss', { detail: { key: [{ prefix: 'raw/' }] } }, false, true],
    ['prefix ignoring case', { detail: { name: [{ prefix: { 'equals-ignore-case': 'report' } }] } }, true, true],
    ['suffix', { detail: { key: [{ suffix: '.json' }] } }, true, true],
    ['suffix ignoring case', { detail: { name: [{ suffix: { 'equals-ignore-case': '.csv' } }] } }, true, true],
    ['equals-ignore-case', { detail: { name: [{ 'equals-ignore-case': 'report.csv' }] } }, true, true],
    ['wildcard', { detail: { key: [{ wildcard: 'manifests/*/0001.json' }] } }, true, true],
    ['wildcard, miss', { detail: { key: [{ wildcard: 'manifests/*/0002.json' }] } }, false, true],
    ['wildcard matches across slashes', { detail: { key: [{ wildcard: 'm*.json' }] } }, true, true],
    ['anything-but a value', { detail: { key: [{ 'anything-but': 'other' }] } }, true, true],
    ['anything-but the value', { detail: { key: [{ 'anything-but': ['manifests/extract/0001.json'] }] } }, false, true],
    ['anything-but a prefix', { detail: { key: [{ 'anything-but': { prefix: 'manifests/' } }] } }, false, true],
    ['anything-but on an absent field', { detail: { absent: [{ 'anything-but': 'x' }] } }, false, true],
    ['exists', { detail: { key: [{ exists: true }] } }, true, true],
    ['exists: false on an absent field', { detail: { absent: [{ exists: false }] } }, true, true],
    ['exists on an object (not a leaf)', { detail: { nested: [{ exists: true }] } }, false, true],
    ['numeric range', { detail: { size: [{ numeric: ['>', 0, '<=', 512] }] } }, true, true],
    ['numeric, miss', { detail: { size: [{ numeric: ['<', 512] }] } }, false, true],
    ['cidr', { detail: { ip: [{ cidr: '10.0.0.0/8' }] } }, true, true],
    ['cidr, miss', { detail: { ip: [{ cidr: '10.2.0.0/16' }] } }, false, true],
    ['array field: any element', { detail: { tags: ['blue'] } }, true, true],
    ['top-level array: resources', { resources: ['arn:aws:s3:::b'] }, true, true],
    ['nested objects', { detail: { nested: { deep: ['x'] } } }, true, true],
    ['every field must match', { source: ['test.app'], detail: { key: [{ prefix: 'raw/' }] } }, false, true],
    ['$or', { detail: { $or: [{ key: [{ prefix: 'raw/' }] }, { size: [{ numeric: ['>', 100] }] }] } }, true, true],
    ['$or, none', { detail: { $or: [{ key: [{ prefix: 'raw/' }] }, { size: [{ numeric: ['>', 1000] }] }] } }, false, true],
  ];

  it.each(cases)('%s', (_what, pattern, expected) => {
    expect(matchesEventPattern(pattern, event(d))).toBe(expected);
  });

  it('moto agrees where it is faithful; where it is not, the difference is the known one', async () => {
    const onMoto = await matchOnMoto({ endpoint: moto.endpoint, region: REGION }, cases.map((c) => c[1]), [event(d)]);
    const disagreements = cases.filter((c, i) => onMoto[i][0] !== c[2]).map((c) => c[0]);
    expect(disagreements).toEqual(cases.filter((c) => !c[3]).map((c) => c[0]));
  });

  it.each([
    ['a leaf that is not an array', { source: 'aws.s3' }, /must be an object or an array/],
    ['an empty array', { source: [] }, /empty arrays/],
    ['an unknown operator', { source: [{ startsWith: 'a' }] }, /unknown content filter startsWith/],
    ['two operators in one filter', { source: [{ prefix: 'a', suffix: 'b' }] }, /exactly one operator/],
    ['a bad numeric filter', { size: [{ numeric: ['>>', 1] }] }, /invalid numeric/],
    ['not JSON', '{"source":', /not valid JSON/],
  ])('refuses %s, as PutRule does', (_what, pattern, message) => {
    expect(() => validateEventPattern(pattern)).toThrow(message);
  });
});
