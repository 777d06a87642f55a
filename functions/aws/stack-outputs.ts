import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { ENV } from '../core/contract/runtime-contract';
import { STACK_OUTPUTS, STACK_VERSION } from '../core/contract/stack-contract';
import { AwsConfig, readAwsConfig } from './aws-config';

/**
 * The deployed stack as the operator's tools see it: its Terraform outputs (names in
 * core/contract/stack-contract.ts) turned into the same {@link AwsConfig} the Lambdas read from
 * their environment, so `buildAwsContext` (aws-pipeline-context.ts) wires the CLI exactly as it
 * wires a function. Three sources, first found wins:
 *  1. a file: `terraform output -json > FILE` (or `{ "name": "value" }` pairs) — `--stack-outputs FILE`;
 *  2. the environment the Lambdas read (TOTES_INGESTION_BUCKET, …, AWS_REGION): no version check then;
 *  3. `terraform output -json` run in the stack's directory (default cdktf.out/stacks/totes-lake).
 * Every failure is one {@link StackOutputsError} line saying what to do.
 */

export interface StackTarget {
  config: AwsConfig;
  region: string;
  /** Where the settings came from, for messages ("stack outputs file x.json", …). */
  origin: string;
  /** The stack's `stack_version`; null when read from the environment (which has none). */
  version: number | null;
  namePrefix: string | null;
  extractFunction: string | null;
  operatorPolicyArn: string | null;
  /** The policy `totes backfill --aws` needs beside the read-only one (named in its denials). */
  operatorBackfillPolicyArn: string | null;
}

/** A stack-outputs problem: the message is the whole story (one line), the command exits 1. */
export class StackOutputsError extends Error {
  override name = 'StackOutputsError';
}

/** Outputs every command needs (the database secrets too: status and verify reach both databases). */
const REQUIRED = ['region', 'ingestionBucket', 'processedBucket', 'rawDatabase', 'processedDatabase', 'athenaWorkgroup', 'sourceSecretArn', 'warehouseSecretArn'] as const;

export const DEFAULT_STACK_DIR = path.join('cdktf.out', 'stacks', 'totes-lake');

const HOW_TO_GET = `write them with \`terraform output -json > stack-outputs.json\` in the deployed stack's directory (${DEFAULT_STACK_DIR}) and pass --stack-outputs stack-outputs.json`;

/** Parses `terraform output -json` (`{ name: { value } }`) or plain `{ name: value }` outputs of a Totes Lake stack. */
export function parseStackOutputs(json: unknown, origin: string): StackTarget {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new StackOutputsError(`The ${origin} are not a JSON object of outputs; ${HOW_TO_GET}`);
  const values: Record<string, string> = {};
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    const value = entry && typeof entry === 'object' && 'value' in entry ? (entry as { value: unknown }).value : entry;
    if (typeof value === 'string' || typeof value === 'number') values[name] = String(value);
  }
  if (Object.keys(values).length === 0) {
    throw new StackOutputsError(`The ${origin} are empty: the stack is not deployed (README \`Deploy\`: \`terraform apply\` of the synthesized stack), or Terraform there has no state; ${HOW_TO_GET}`);
  }
  const version = values[STACK_OUTPUTS.stackVersion];
  if (version === undefined) {
    const known = values[STACK_OUTPUTS.ingestionBucket] !== undefined;
    throw new StackOutputsError(
      known
        ? `The ${origin} have no ${STACK_OUTPUTS.stackVersion}: the stack was deployed by an older checkout; redeploy it from this one (README \`Deploy\`) or use the totes of the checkout that deployed it`
        : `The ${origin} are not a Totes Lake stack's (no ${STACK_OUTPUTS.stackVersion}, no ${STACK_OUTPUTS.ingestionBucket}); ${HOW_TO_GET}`,
    );
  }
  if (Number(version) !== STACK_VERSION) {
    throw new StackOutputsError(
      `The stack of the ${origin} is version ${version}, this totes reads version ${STACK_VERSION}: ${Number(version) > STACK_VERSION ? 'update this checkout to the one that deployed the stack' : 'redeploy the stack from this checkout (README `Deploy`)'}, or use the totes of the checkout that deployed it`,
    );
  }
  const missing = REQUIRED.filter((key) => values[STACK_OUTPUTS[key]] === undefined).map((key) => STACK_OUTPUTS[key]);
  if (missing.length) throw new StackOutputsError(`The ${origin} lack ${missing.join(', ')}: they are not the whole outputs of the deployed stack; ${HOW_TO_GET}`);
  const parsed = AwsConfig.safeParse({
    ingestionBucket: values[STACK_OUTPUTS.ingestionBucket],
    processedBucket: values[STACK_OUTPUTS.processedBucket],
    rawDatabase: values[STACK_OUTPUTS.rawDatabase],
    processedDatabase: values[STACK_OUTPUTS.processedDatabase],
    athenaWorkgroup: values[STACK_OUTPUTS.athenaWorkgroup],
    sourceSecretArn: values[STACK_OUTPUTS.sourceSecretArn],
    warehouseSecretArn: values[STACK_OUTPUTS.warehouseSecretArn],
    warehouseSchema: values[STACK_OUTPUTS.warehouseSchema],
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${STACK_OUTPUTS[String(i.path[0]) as keyof typeof STACK_OUTPUTS] ?? String(i.path[0])}: expected ${i.message}`);
    throw new StackOutputsError(`The ${origin} have invalid values (${problems.join('; ')}); ${HOW_TO_GET}`);
  }
  return {
    config: parsed.data,
    region: values[STACK_OUTPUTS.region],
    origin,
    version: Number(version),
    namePrefix: values[STACK_OUTPUTS.namePrefix] ?? null,
    extractFunction: values[STACK_OUTPUTS.extractFunction] ?? null,
    operatorPolicyArn: values[STACK_OUTPUTS.operatorPolicyArn] ?? null,
    operatorBackfillPolicyArn: values[STACK_OUTPUTS.operatorBackfillPolicyArn] ?? null,
  };
}

/** The stack as the Lambdas' environment describes it, when any TOTES_* setting of theirs is set; undefined otherwise. */
export function stackTargetFromEnv(env: Record<string, string | undefined>): StackTarget | undefined {
  if (!Object.values(ENV).some((name) => env[name]?.trim())) return undefined;
  const origin = 'TOTES_* environment variables';
  let config: AwsConfig;
  try {
    config = readAwsConfig(env);
  } catch (err) {
    throw new StackOutputsError(`The ${origin} are invalid: ${(err as Error).message}`);
  }
  const missing: string[] = REQUIRED.flatMap((key) => (key !== 'region' && config[key] === undefined ? [ENV[key]] : []));
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) missing.unshift('AWS_REGION');
  if (missing.length) throw new StackOutputsError(`The ${origin} lack ${missing.join(', ')}: set every variable the functions read, or pass --stack-outputs FILE instead`);
  return { config, region: region!, origin, version: null, namePrefix: null, extractFunction: null, operatorPolicyArn: null, operatorBackfillPolicyArn: null };
}

export interface StackSource {
  /** `--stack-outputs FILE`. */
  file?: string;
  /** Where `terraform output -json` runs when neither a file nor the environment names the stack. */
  stackDir?: string;
  env?: Record<string, string | undefined>;
}

/** Finds the deployed stack's settings (see the module comment for the order). */
export async function loadStackTarget(source: StackSource): Promise<StackTarget> {
  const env = source.env ?? process.env;
  if (source.file) {
    const origin = `stack outputs in ${source.file}`;
    let text: string;
    try {
      text = await fs.readFile(source.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new StackOutputsError(`Cannot read the ${origin} (${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}); ${HOW_TO_GET}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new StackOutputsError(`The ${origin} are not JSON; ${HOW_TO_GET}`);
    }
    return parseStackOutputs(json, origin);
  }
  const fromEnv = stackTargetFromEnv(env);
  if (fromEnv) return fromEnv;
  const dir = path.resolve(source.stackDir ?? env.TOTES_STACK_DIR ?? DEFAULT_STACK_DIR);
  if (!existsSync(dir)) {
    throw new StackOutputsError(`No stack outputs: pass --stack-outputs FILE, set the functions' TOTES_* variables, or run where the stack was deployed (${dir} does not exist; --stack-dir DIR names another)`);
  }
  const origin = `stack outputs of \`terraform output -json\` in ${dir}`;
  const json = await new Promise<string>((resolve, reject) => {
    execFile('terraform', ['output', '-json', '-no-color'], { cwd: dir, timeout: 60_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const said = /Error:\s*(.+)/.exec(stderr)?.[1]?.trim();
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'terraform is not installed' : `terraform says "${said ?? stderr.trim().split('\n').at(-1) ?? err.message}"`;
      reject(new StackOutputsError(`Cannot read the stack outputs in ${dir}: ${why}; ${HOW_TO_GET}`));
    });
  });
  return parseStackOutputs(JSON.parse(json || '{}'), origin);
}
