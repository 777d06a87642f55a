import { S3Client, GetObjectCommand } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { startMotoServer, type MotoServer } from '../support/moto-server';

/**
 * The offline cloud's deployment: the synthesized stack applied with Terraform against moto, as a
 * user deploys it (`npm run synth`, `npm run build:lambdas`, `terraform init`, `terraform apply`),
 * and a typed description of what was deployed, read back from `terraform show -json`, for the
 * tests that run the bundles, evaluate the rules and query the lake.
 *
 * The stack is never changed for the test: a Terraform override file beside the synthesized JSON
 * (`offline_override.tf.json`) replaces the backend with local state in the work dir, points every
 * service the stack uses at moto, sets dummy credentials and pins hashicorp/aws to the version the
 * local provider mirror holds (the registry is never contacted).
 */

const REPO = path.resolve(__dirname, '..', '..');
const STACK = 'totes-lake';
const STAGES = ['extract', 'transform', 'load'] as const;
export type Stage = (typeof STAGES)[number];

/** Connection JSON stored in a database secret (the shape secrets-locator.ts reads, plus any extra fields). */
export type DatabaseSecretValue = { host: string; port: number; dbname: string; username: string; password: string } & Record<string, unknown>;

export interface OfflineDeployOptions {
  /** The values of the two database secrets, created in moto's Secrets Manager before the deploy. */
  secrets: { source: DatabaseSecretValue; warehouse: DatabaseSecretValue };
  /** A running moto to deploy into (started with `{ patched: true }`); `destroy()` then leaves it running. Default: a patched moto of our own. */
  moto?: MotoServer;
  /**
   * Reuse dist/lambdas/*.zip when all three exist and are newer than functions/, sql/ and
   * package-lock.json (default false: `npm run build:lambdas` runs). The stack is always synthesized (≈2 s).
   */
  reuseBundles?: boolean;
  /** Extra Terraform variables (name → value, as TF_VAR_<name>), e.g. `{ commit_lag_seconds: '0' }`. */
  variables?: Record<string, string>;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Keep the work dir (Terraform state, logs) after `destroy()`, for debugging. */
  keepWorkDir?: boolean;
}

/** A resource Terraform manages, as `terraform show -json` names it. */
export interface DeployedResource {
  address: string;
  type: string;
  name: string;
}

export interface DeployedFunction {
  stage: Stage;
  name: string;
  arn: string;
  /** `index.handler`. */
  handler: string;
  runtime: string;
  timeoutSeconds: number;
  memoryMb: number;
  /** The function's environment exactly as Terraform set it. */
  environment: Record<string, string>;
  /** Where its zip was uploaded (the code bucket). */
  code: { bucket: string; key: string };
  /** The zip Terraform uploaded for it (the copy in the work dir). */
  bundlePath: string;
}

export interface DeployedRule {
  name: string;
  arn: string;
  /** The event pattern as Terraform set it (JSON text) and parsed. */
  eventPattern: string;
  pattern: unknown;
  targets: { targetId: string; arn: string; stage?: Stage }[];
}

export interface DeployedSchedule {
  name: string;
  arn: string;
  scheduleExpression: string;
  target: { arn: string; stage?: Stage; roleArn: string; input: string | undefined };
}

export interface OfflineTimings {
  synthMs: number;
  buildMs: number;
  secretsMs: number;
  initMs: number;
  planMs: number;
  /** `terraform apply` of the plan alone. */
  applyMs: number;
  showMs: number;
  /** From the call to the description being ready. */
  totalMs: number;
}

export interface OfflineCloud {
  /** moto's endpoint and the SDK settings to reach it (region, dummy credentials, path-style S3). */
  endpoint: string;
  clientConfig: MotoServer['clientConfig'];
  region: string;
  accountId: string;
  /** Terraform's working directory: cdk.tf.json, the override, the bundles, local state. */
  workDir: string;
  /** The synthesized stack exactly as `npm run synth` wrote it (before the override applies). */
  synthesized: TerraformJson;
  /** Managed resources `terraform plan` planned to create, and those now in the state. */
  plannedAddresses: string[];
  resources: DeployedResource[];
  outputs: Record<string, string>;
  functions: Record<Stage, DeployedFunction>;
  rules: DeployedRule[];
  schedules: DeployedSchedule[];
  buckets: { ingestion: string; processed: string; athenaResults: string; lambdaCode: string; audit: string };
  /** The stack's customer-managed key and the lake access trail. */
  security: { keyArn: string; trailArn: string };
  glue: { rawDatabase: string; processedDatabase: string; tables: { database: string; name: string; location: string | undefined }[] };
  athena: { workgroup: string; outputLocation: string | undefined };
  secrets: { sourceArn: string; warehouseArn: string };
  /** Warnings Terraform printed while planning and applying (title and the resource it names). */
  warnings: string[];
  /** The Terraform variables passed as TF_VAR_*. */
  variables: Record<string, string>;
  timings: OfflineTimings;
  /** A managed resource's attributes as `terraform show -json` reports them. */
  attributes(address: string): Record<string, unknown>;
  /** The zip of a function as stored in moto S3 (the object its s3_bucket/s3_key name). */
  fetchBundle(stage: Stage): Promise<Buffer>;
  /**
   * The payload EventBridge Scheduler delivers to the schedule's target at `time`: the target's
   * input with Scheduler's context attributes (`<aws.scheduler.scheduled-time>`, …) filled in.
   */
  schedulerPayload(schedule: DeployedSchedule, time: Date): unknown;
  /** Runs terraform in the work dir with the deployment's environment (e.g. a second `plan`). */
  terraform(args: string[]): Promise<CommandResult>;
  /** Stops moto (when this deploy started it) and removes the work dir. Safe to call twice. */
  destroy(): Promise<void>;
}

/** The parts of the synthesized Terraform JSON this module reads. */
export const TerraformJson = z.looseObject({
  terraform: z.looseObject({ required_providers: z.record(z.string(), z.looseObject({ version: z.string().optional() })) }),
  resource: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.unknown()))),
  data: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.unknown()))).default({}),
});
export type TerraformJson = z.infer<typeof TerraformJson>;

/**
 * The moto endpoint key of the provider (`endpoints { <key> = … }`) for each resource or data
 * source type prefix; `null` for types the provider computes without calling AWS. A type of the
 * stack that matches none fails the deploy, naming it, so a new service cannot silently reach the
 * real AWS endpoint (or fail obscurely).
 */
const SERVICE_OF_TYPE: readonly (readonly [prefix: string, endpoint: string | null])[] = [
  ['aws_cloudwatch_event_', 'events'],
  ['aws_cloudwatch_log_', 'logs'],
  ['aws_cloudwatch_', 'cloudwatch'],
  ['aws_athena_', 'athena'],
  ['aws_glue_', 'glue'],
  ['aws_iam_policy_document', null],
  ['aws_iam_', 'iam'],
  ['aws_lambda_', 'lambda'],
  ['aws_s3_', 's3'],
  ['aws_scheduler_', 'scheduler'],
  ['aws_sns_', 'sns'],
  ['aws_sqs_', 'sqs'],
  ['aws_secretsmanager_', 'secretsmanager'],
  ['aws_kms_', 'kms'],
  ['aws_cloudtrail', 'cloudtrail'],
  ['aws_caller_identity', 'sts'],
  ['aws_partition', null],
  ['aws_region', null],
];

/** Endpoint keys the provider needs for the stack's types (plus sts and iam, which it calls itself). */
export function endpointServices(tf: TerraformJson): string[] {
  const services = new Set<string>(['sts', 'iam']);
  const unknown: string[] = [];
  const blocks = [...Object.entries(tf.resource).map(([t, b]) => ['resource', t, b] as const), ...Object.entries(tf.data).map(([t, b]) => ['data', t, b] as const)];
  for (const [mode, type, byName] of blocks) {
    const hit = SERVICE_OF_TYPE.find(([prefix]) => type === prefix || type.startsWith(prefix));
    if (!hit) unknown.push(`${mode === 'data' ? 'data.' : ''}${type} (${Object.keys(byName).join(', ')})`);
    else if (hit[1]) services.add(hit[1]);
  }
  if (unknown.length) {
    throw new Error(`The stack uses resource types whose service has no moto endpoint in test/cloud/offline-deploy.ts (SERVICE_OF_TYPE): ${unknown.join('; ')}. Add the service's provider endpoint key there.`);
  }
  return [...services].sort();
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command; rejects naming the command, its exit code and the tail of its output. A missing binary is named. */
function run(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; allowFailure?: boolean; timeoutMs?: number }): Promise<CommandResult> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs ?? 15 * 60_000);
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === 'ENOENT'
        ? new Error(`\`${command}\` is not on PATH${command === 'terraform' ? ' (install Terraform >= 1.10; the offline cloud deploys with it)' : ''}`)
        : new Error(`Cannot run ${command}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code: code ?? -1, stdout, stderr, ms: Date.now() - t0 };
      if (result.code === 0 || options.allowFailure) return resolve(result);
      const tail = (stderr.trim() || stdout.trim()).slice(-3000);
      reject(new Error(`\`${command} ${args.join(' ')}\` failed (${signal ? `killed by ${signal}` : `exit ${code}`}) in ${options.cwd}:\n${tail}`));
    });
  });
}

/**
 * The local mirror holding registry.terraform.io/hashicorp/aws, found as `npm run validate:infra`
 * finds it: $TOTES_TF_PROVIDER_MIRROR, Terraform's implicit local mirror directories, /opt/tf-plugins.
 */
export function findProviderMirror(env: NodeJS.ProcessEnv = process.env): { dir: string; version: string } {
  const home = os.homedir();
  const candidates = [
    env.TOTES_TF_PROVIDER_MIRROR,
    path.join(home, '.terraform.d', 'plugins'),
    path.join(env.XDG_DATA_HOME || path.join(home, '.local', 'share'), 'terraform', 'plugins'),
    '/usr/local/share/terraform/plugins',
    '/usr/share/terraform/plugins',
    '/opt/tf-plugins',
  ];
  for (const dir of candidates) {
    if (!dir) continue;
    const aws = path.join(dir, 'registry.terraform.io', 'hashicorp', 'aws');
    if (!existsSync(aws)) continue;
    const versions = readdirSync(aws).filter((v) => /^\d+\.\d+\.\d+$/.test(v)).sort(compareVersions);
    if (versions.length) return { dir, version: versions[versions.length - 1] };
  }
  throw new Error(`No local Terraform provider mirror holds registry.terraform.io/hashicorp/aws (looked in ${candidates.filter(Boolean).join(', ')}). Set TOTES_TF_PROVIDER_MIRROR to one; the registry is not used.`);
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

function newestMtime(entry: string): number {
  const st = statSync(entry);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, name)));
  return newest;
}

/** True when dist/lambdas holds all three zips, each newer than every source they are built from. */
function bundlesAreFresh(): boolean {
  const zips = STAGES.map((s) => path.join(REPO, 'dist', 'lambdas', `${s}.zip`));
  if (!zips.every(existsSync)) return false;
  const sources = Math.max(...['functions', 'sql', 'package-lock.json'].map((p) => newestMtime(path.join(REPO, p))));
  return zips.every((z) => statSync(z).mtimeMs > sources);
}

/** A zip ends with its end-of-central-directory record; a half-written file does not. */
function assertCompleteZip(file: string, data: Buffer): void {
  const tail = data.subarray(Math.max(0, data.length - 65_557));
  if (tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06])) < 0) {
    throw new Error(`${file} is not a complete zip (no end-of-central-directory record); run \`npm run build:lambdas\` again`);
  }
}

/** `terraform show -json` of a state or a plan, as far as this module reads it. */
const ShowResource = z.looseObject({
  address: z.string(),
  mode: z.enum(['managed', 'data']),
  type: z.string(),
  name: z.string(),
  values: z.record(z.string(), z.unknown()).default({}),
});
const ShowModule = z.looseObject({ resources: z.array(ShowResource).default([]), child_modules: z.array(z.looseObject({ address: z.string() })).default([]) });
const StateJson = z.looseObject({
  values: z.looseObject({
    outputs: z.record(z.string(), z.looseObject({ value: z.unknown() })).default({}),
    root_module: ShowModule,
  }),
});
const PlanJson = z.looseObject({
  resource_changes: z.array(z.looseObject({ address: z.string(), mode: z.enum(['managed', 'data']), change: z.looseObject({ actions: z.array(z.string()) }) })).default([]),
});

const LambdaValues = z.looseObject({
  function_name: z.string(),
  arn: z.string(),
  handler: z.string(),
  runtime: z.string(),
  timeout: z.number(),
  memory_size: z.number(),
  s3_bucket: z.string(),
  s3_key: z.string(),
  environment: z.array(z.looseObject({ variables: z.record(z.string(), z.string()).nullable().default({}) })).default([]),
});
const RuleValues = z.looseObject({ name: z.string(), arn: z.string(), event_pattern: z.string() });
const TargetValues = z.looseObject({ rule: z.string(), target_id: z.string(), arn: z.string() });
const ScheduleValues = z.looseObject({
  name: z.string(),
  arn: z.string(),
  schedule_expression: z.string(),
  target: z.array(z.looseObject({ arn: z.string(), role_arn: z.string(), input: z.string().nullable().optional() })).length(1),
});
const GlueTableValues = z.looseObject({
  name: z.string(),
  database_name: z.string(),
  storage_descriptor: z.array(z.looseObject({ location: z.string().nullable().optional() })).default([]),
});
const WorkgroupValues = z.looseObject({
  name: z.string(),
  configuration: z.array(z.looseObject({ result_configuration: z.array(z.looseObject({ output_location: z.string().nullable().optional() })).default([]) })).default([]),
});
const CallerValues = z.looseObject({ account_id: z.string() });

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`Unexpected ${what} in terraform show -json: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Deploys the stack to moto; see the module comment. The caller must call `destroy()`. */
export async function deployOfflineCloud(options: OfflineDeployOptions): Promise<OfflineCloud> {
  const t0 = Date.now();
  const log = options.log ?? (() => undefined);
  // The tools first, so a missing one fails at once, named, before anything starts.
  const mirror = findProviderMirror();
  const version = await run('terraform', ['version', '-json'], { cwd: REPO, env: { ...process.env, CHECKPOINT_DISABLE: '1', TF_CLI_CONFIG_FILE: '/dev/null' } });
  const terraformVersion = z.object({ terraform_version: z.string() }).parse(JSON.parse(version.stdout)).terraform_version;
  if (compareVersions(terraformVersion, '1.5.0') < 0) throw new Error(`terraform ${terraformVersion} is too old for the offline cloud; install Terraform >= 1.10`);
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-offline-cloud-'));
  const ownMoto = !options.moto;
  let moto: MotoServer | undefined = options.moto;
  let destroyed = false;
  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    if (ownMoto) await moto?.stop();
    if (!options.keepWorkDir) await fs.rm(workDir, { recursive: true, force: true });
  };

  try {
    // The npm scripts run without state-backend settings (local state; the override replaces the backend anyway).
    const npmEnv: NodeJS.ProcessEnv = { ...process.env, CDKTF_OUTDIR: path.join(workDir, 'cdktf.out') };
    for (const key of Object.keys(npmEnv)) if (key.startsWith('TOTES_TF_STATE_')) delete npmEnv[key];

    log('offline cloud: starting moto, synthesizing the stack, building the bundles…');
    const motoStarted = moto ? Promise.resolve(moto) : startMotoServer({ patched: true });
    // The synth goes to the work dir (CDKTF_OUTDIR), so a concurrent `npm run synth` elsewhere cannot tear it.
    const synth = run('npm', ['run', '--silent', 'synth'], { cwd: REPO, env: npmEnv });
    const reuse = options.reuseBundles === true && bundlesAreFresh();
    const build = reuse ? Promise.resolve({ ms: 0 }) : run('npm', ['run', '--silent', 'build:lambdas'], { cwd: REPO, env: npmEnv });
    // Settle all three before failing, so a moto that started is stopped when the build fails.
    const [startedMoto, synthSettled, buildSettled] = await Promise.allSettled([motoStarted, synth, build]);
    if (startedMoto.status === 'fulfilled') moto = startedMoto.value;
    for (const settled of [startedMoto, synthSettled, buildSettled]) if (settled.status === 'rejected') throw settled.reason;
    const synthResult = (synthSettled as PromiseFulfilledResult<CommandResult>).value;
    const buildResult = (buildSettled as PromiseFulfilledResult<{ ms: number }>).value;
    if (!moto) throw new Error('moto did not start');
    log(`offline cloud: moto at ${moto.endpoint}; synth ${synthResult.ms} ms; bundles ${reuse ? 'reused' : `built in ${buildResult.ms} ms`}`);

    const stackDir = path.join(workDir, 'stack');
    await fs.mkdir(path.join(stackDir, 'lambdas'), { recursive: true });
    await fs.mkdir(path.join(workDir, 'logs'));
    const synthesizedText = await fs.readFile(path.join(workDir, 'cdktf.out', 'stacks', STACK, 'cdk.tf.json'), 'utf8');
    const synthesized = TerraformJson.parse(JSON.parse(synthesizedText));
    await fs.writeFile(path.join(stackDir, 'cdk.tf.json'), synthesizedText);
    const bundlePaths = {} as Record<Stage, string>;
    for (const stage of STAGES) {
      const from = path.join(REPO, 'dist', 'lambdas', `${stage}.zip`);
      const data = await fs.readFile(from).catch(() => {
        throw new Error(`${from} is missing after \`npm run build:lambdas\``);
      });
      assertCompleteZip(from, data);
      bundlePaths[stage] = path.join(stackDir, 'lambdas', `${stage}.zip`);
      await fs.writeFile(bundlePaths[stage], data);
    }

    const services = endpointServices(synthesized);
    const override = {
      '//': 'Test-only override of the offline cloud (test/cloud/offline-deploy.ts): local state, every service at moto, dummy credentials, the mirrored provider.',
      terraform: {
        backend: { local: { path: 'terraform.tfstate' } },
        required_providers: { aws: { source: 'hashicorp/aws', version: mirror.version } },
      },
      provider: {
        aws: [{
          access_key: 'testing',
          secret_key: 'testing',
          s3_use_path_style: true,
          skip_credentials_validation: true,
          skip_metadata_api_check: true,
          skip_region_validation: true,
          // The Athena workgroup's ARN (and the Glue ARNs of the policies) need the account id, which moto's STS answers.
          skip_requesting_account_id: false,
          endpoints: [Object.fromEntries(services.map((s) => [s, moto!.endpoint]))],
        }],
      },
    };
    await fs.writeFile(path.join(stackDir, 'offline_override.tf.json'), JSON.stringify(override, null, 2));
    await fs.writeFile(path.join(workDir, 'terraformrc'), [
      'provider_installation {',
      '  filesystem_mirror {',
      `    path    = ${JSON.stringify(mirror.dir)}`,
      '    include = ["registry.terraform.io/hashicorp/aws"]',
      '  }',
      '  direct {',
      '    exclude = ["registry.terraform.io/hashicorp/aws"]',
      '  }',
      '}',
      '',
    ].join('\n'));

    // Secrets first: the stack takes their ARNs as variables.
    const tSecrets = Date.now();
    const secretsClient = new SecretsManagerClient(moto.clientConfig);
    const createSecret = async (name: string, value: DatabaseSecretValue) => {
      const res = await secretsClient.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(value), Description: `Offline cloud: ${name}` }));
      if (!res.ARN) throw new Error(`moto returned no ARN for secret ${name}`);
      return res.ARN;
    };
    const secrets = {
      sourceArn: await createSecret('totes-lake/offline/source-db', options.secrets.source),
      warehouseArn: await createSecret('totes-lake/offline/warehouse-db', options.secrets.warehouse),
    };
    secretsClient.destroy();
    const secretsMs = Date.now() - tSecrets;

    const variables: Record<string, string> = {
      aws_region: moto.clientConfig.region,
      alarm_email: 'offline-cloud@example.com',
      source_secret_arn: secrets.sourceArn,
      warehouse_secret_arn: secrets.warehouseArn,
      lambda_dist_dir: path.join(stackDir, 'lambdas'),
      ...options.variables,
    };
    const tfEnv: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      // Nothing of the caller's AWS or Terraform settings may leak in (a profile, real credentials, other TF_VAR_s).
      if (/^(AWS_|TF_)/.test(key)) continue;
      tfEnv[key] = value;
    }
    Object.assign(tfEnv, {
      TF_CLI_CONFIG_FILE: path.join(workDir, 'terraformrc'),
      TF_IN_AUTOMATION: '1',
      TF_INPUT: '0',
      CHECKPOINT_DISABLE: '1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: moto.clientConfig.region,
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    for (const [name, value] of Object.entries(variables)) tfEnv[`TF_VAR_${name}`] = value;
    // Each terraform command's output is kept in logs/ of the work dir (see keepWorkDir).
    let commands = 0;
    const terraform = async (args: string[], allowFailure = false) => {
      const logFile = path.join(workDir, 'logs', `${String(++commands).padStart(2, '0')}-${args[0]}.log`);
      const write = (r: Pick<CommandResult, 'stdout' | 'stderr'>) => fs.writeFile(logFile, `$ terraform ${args.join(' ')}\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
      try {
        const result = await run('terraform', args, { cwd: stackDir, env: tfEnv, allowFailure });
        if (!(args[0] === 'show')) await write(result);
        return result;
      } catch (err) {
        await write({ stdout: '', stderr: (err as Error).message });
        throw err;
      }
    };

    log(`offline cloud: terraform ${terraformVersion} init (hashicorp/aws ${mirror.version} from ${mirror.dir}; endpoints: ${services.join(', ')})`);
    const init = await terraform(['init', '-input=false', '-no-color']);
    log('offline cloud: terraform plan');
    const plan = await terraform(['plan', '-input=false', '-no-color', '-out=tfplan']);
    const planShow = await terraform(['show', '-json', 'tfplan']);
    const planned = parse(PlanJson, JSON.parse(planShow.stdout), 'plan');
    const plannedAddresses = planned.resource_changes
      .filter((c) => c.mode === 'managed' && c.change.actions.includes('create'))
      .map((c) => c.address)
      .sort();
    log(`offline cloud: terraform apply of ${plannedAddresses.length} resources…`);
    const apply = await terraform(['apply', '-input=false', '-no-color', '-auto-approve', 'tfplan']);
    log(`offline cloud: applied in ${(apply.ms / 1000).toFixed(1)} s`);
    const show = await terraform(['show', '-json']);
    const state = parse(StateJson, JSON.parse(show.stdout), 'state');
    if (state.values.root_module.child_modules.length) {
      throw new Error(`The state has child modules (${state.values.root_module.child_modules.map((m) => m.address).join(', ')}); offline-deploy.ts reads the root module only`);
    }

    const all = state.values.root_module.resources;
    const managed = all.filter((r) => r.mode === 'managed');
    const byAddress = new Map(all.map((r) => [r.address, r]));
    const ofType = (type: string) => managed.filter((r) => r.type === type);
    const outputs: Record<string, string> = {};
    for (const [name, o] of Object.entries(state.values.outputs)) outputs[name] = typeof o.value === 'string' ? o.value : JSON.stringify(o.value);
    const output = (name: string) => {
      const value = outputs[name];
      if (value === undefined) throw new Error(`The stack has no output ${name}; offline-deploy.ts reads it`);
      return value;
    };

    const functions = {} as Record<Stage, DeployedFunction>;
    for (const stage of STAGES) {
      const name = output(`${stage}_function`);
      const found = ofType('aws_lambda_function').find((r) => r.values.function_name === name);
      if (!found) throw new Error(`No aws_lambda_function named ${name} (output ${stage}_function) in the state`);
      const v = parse(LambdaValues, found.values, `${found.address}`);
      functions[stage] = {
        stage, name, arn: v.arn, handler: v.handler, runtime: v.runtime, timeoutSeconds: v.timeout, memoryMb: v.memory_size,
        environment: { ...(v.environment[0]?.variables ?? {}) },
        code: { bucket: v.s3_bucket, key: v.s3_key },
        bundlePath: bundlePaths[stage],
      };
    }
    const stageOf = (arn: string) => STAGES.find((s) => functions[s].arn === arn);

    const targets = ofType('aws_cloudwatch_event_target').map((r) => parse(TargetValues, r.values, r.address));
    const rules: DeployedRule[] = ofType('aws_cloudwatch_event_rule').map((r) => {
      const v = parse(RuleValues, r.values, r.address);
      return {
        name: v.name, arn: v.arn, eventPattern: v.event_pattern, pattern: JSON.parse(v.event_pattern),
        targets: targets.filter((t) => t.rule === v.name).map((t) => ({ targetId: t.target_id, arn: t.arn, stage: stageOf(t.arn) })),
      };
    });
    const schedules: DeployedSchedule[] = ofType('aws_scheduler_schedule').map((r) => {
      const v = parse(ScheduleValues, r.values, r.address);
      const t = v.target[0];
      return { name: v.name, arn: v.arn, scheduleExpression: v.schedule_expression, target: { arn: t.arn, stage: stageOf(t.arn), roleArn: t.role_arn, input: t.input ?? undefined } };
    });
    const workgroup = ofType('aws_athena_workgroup').map((r) => parse(WorkgroupValues, r.values, r.address)).find((w) => w.name === output('athena_workgroup'));
    if (!workgroup) throw new Error(`No aws_athena_workgroup named ${output('athena_workgroup')} in the state`);
    const caller = all.find((r) => r.mode === 'data' && r.type === 'aws_caller_identity');
    const accountId = caller ? parse(CallerValues, caller.values, caller.address).account_id : '';
    if (!/^\d{12}$/.test(accountId)) throw new Error(`No account id in the state (data.aws_caller_identity: ${accountId || 'missing'})`);

    const warnings = terraformWarnings(`${plan.stdout}\n${plan.stderr}\n${apply.stdout}\n${apply.stderr}`);
    const ready = Date.now();
    const timings: OfflineTimings = {
      synthMs: synthResult.ms, buildMs: buildResult.ms, secretsMs, initMs: init.ms, planMs: plan.ms + planShow.ms, applyMs: apply.ms, showMs: show.ms, totalMs: ready - t0,
    };
    log(`offline cloud: deployed ${managed.length} resources in ${(timings.totalMs / 1000).toFixed(1)} s (apply ${(apply.ms / 1000).toFixed(1)} s)`);
    const clientConfig = moto.clientConfig;

    return {
      endpoint: moto.endpoint,
      clientConfig,
      region: clientConfig.region,
      accountId,
      workDir: stackDir,
      synthesized,
      plannedAddresses,
      resources: managed.map((r) => ({ address: r.address, type: r.type, name: r.name })).sort((a, b) => (a.address < b.address ? -1 : 1)),
      outputs,
      functions,
      rules,
      schedules,
      buckets: {
        ingestion: output('ingestion_bucket'),
        processed: output('processed_bucket'),
        athenaResults: output('athena_results_bucket'),
        lambdaCode: output('lambda_code_bucket'),
        audit: output('audit_bucket'),
      },
      security: { keyArn: output('lake_key_arn'), trailArn: output('lake_access_trail_arn') },
      glue: {
        rawDatabase: output('glue_raw_database'),
        processedDatabase: output('glue_processed_database'),
        tables: ofType('aws_glue_catalog_table').map((r) => {
          const v = parse(GlueTableValues, r.values, r.address);
          return { database: v.database_name, name: v.name, location: v.storage_descriptor[0]?.location ?? undefined };
        }),
      },
      athena: { workgroup: workgroup.name, outputLocation: workgroup.configuration[0]?.result_configuration[0]?.output_location ?? undefined },
      secrets,
      variables,
      warnings,
      timings,
      attributes(address) {
        const r = byAddress.get(address);
        if (!r) throw new Error(`No resource ${address} in the offline cloud's state`);
        return r.values;
      },
      async fetchBundle(stage) {
        const { bucket, key } = functions[stage].code;
        const s3 = new S3Client(clientConfig);
        try {
          const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
          if (!res.Body) throw new Error(`s3://${bucket}/${key} has no body`);
          return Buffer.from(await res.Body.transformToByteArray());
        } finally {
          s3.destroy();
        }
      },
      schedulerPayload(schedule, time) {
        if (schedule.target.input === undefined) return {};
        const context: Record<string, string> = {
          'aws.scheduler.schedule-arn': schedule.arn,
          'aws.scheduler.scheduled-time': time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
          'aws.scheduler.execution-id': createHash('sha256').update(`${schedule.arn}@${time.toISOString()}`).digest('hex').slice(0, 32),
          'aws.scheduler.attempt-number': '1',
        };
        const filled = schedule.target.input.replace(/<(aws\.scheduler\.[a-z-]+)>/g, (whole, name: string) => {
          const value = context[name];
          if (value === undefined) throw new Error(`Schedule ${schedule.name}: unknown context attribute ${whole} in its target input`);
          return value;
        });
        return JSON.parse(filled) as unknown;
      },
      terraform: (args) => terraform(args, true),
      destroy,
    };
  } catch (err) {
    await destroy().catch(() => undefined);
    throw err;
  }
}

/** `│ Warning: <title>` boxes of Terraform's output (-no-color), each with its `with <address>` line when it has one. */
export function terraformWarnings(output: string): string[] {
  const warnings: string[] = [];
  for (const box of output.split(/^╷$/m).slice(1)) {
    const lines = box.split('\n').map((l) => l.replace(/^│ ?/, '').trim());
    const title = lines.find((l) => l.startsWith('Warning: '));
    if (!title) continue;
    const where = lines.find((l) => /^with \S+,?$/.test(l));
    const text = where ? `${title} (${where.replace(/,$/, '')})` : title;
    if (!warnings.includes(text)) warnings.push(text);
  }
  return warnings;
}

export interface MotoCall {
  /** Signing name of the service (moto routes by the credential scope), e.g. `lambda`, `events`, `scheduler`. */
  service: string;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path?: string;
  /** JSON-protocol target header, e.g. `AWSEvents.TestEventPattern`. */
  target?: string;
  body?: unknown;
}

/**
 * One call of a moto API the project has no SDK client for (Lambda, EventBridge, Scheduler…),
 * returning the parsed JSON response; a non-2xx answer throws with moto's message. moto does not
 * check signatures: the Authorization header only carries the service and region it routes by.
 */
export async function callMoto(cloud: Pick<OfflineCloud, 'endpoint' | 'region'>, call: MotoCall): Promise<unknown> {
  const headers: Record<string, string> = {
    Authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${cloud.region}/${call.service}/aws4_request, SignedHeaders=host, Signature=0`,
  };
  if (call.target) {
    headers['X-Amz-Target'] = call.target;
    headers['Content-Type'] = 'application/x-amz-json-1.1';
  } else if (call.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${cloud.endpoint}${call.path ?? '/'}`, {
    method: call.method ?? (call.body === undefined && !call.target ? 'GET' : 'POST'),
    headers,
    body: call.body === undefined ? (call.target ? '{}' : undefined) : JSON.stringify(call.body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`moto ${call.service} ${call.target ?? `${call.method ?? 'GET'} ${call.path}`} answered ${res.status}: ${text.slice(0, 500)}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

/** `npx tsx test/cloud/offline-deploy.ts`: deploys with placeholder secrets, prints what was deployed and the timings, and tears down. */
if (require.main === module) {
  const placeholder = (dbname: string): DatabaseSecretValue => ({ host: '127.0.0.1', port: 5432, dbname, username: 'totes', password: 'offline' });
  deployOfflineCloud({ secrets: { source: placeholder('totesys'), warehouse: placeholder('warehouse') }, reuseBundles: true, log: (l) => console.error(l), keepWorkDir: process.argv.includes('--keep') })
    .then(async (cloud) => {
      console.log(JSON.stringify({ resources: cloud.resources.length, functions: cloud.functions, rules: cloud.rules, schedules: cloud.schedules, buckets: cloud.buckets, athena: cloud.athena, timings: cloud.timings, workDir: cloud.workDir }, null, 2));
      await cloud.destroy();
    })
    .catch((err: unknown) => {
      console.error((err as Error).message);
      process.exit(1);
    });
}
