import { AthenaClient } from '@aws-sdk/client-athena';
import { CloudWatchClient, DescribeAlarmsCommand, type MetricAlarm } from '@aws-sdk/client-cloudwatch';
import { GlueClient } from '@aws-sdk/client-glue';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseArgs } from 'node:util';
import type { PipelineContext } from '../core/pipeline-context';
import type { Log } from '../core/ports/log';
import { buildAwsContext, type AwsClients } from '../aws/aws-pipeline-context';
import { explainAwsError, recordAwsCalls } from '../aws/operator-errors';
import { AWS_CLIENT_RETRY } from '../aws/retry-with-backoff';
import { loadStackTarget, type StackTarget } from '../aws/stack-outputs';
import { UsageError } from './cli-options';

/**
 * The deployed pipeline as a target of the `totes` commands (`--aws`, or TOTES_TARGET=aws): the
 * stack's outputs (aws/stack-outputs.ts) become the Lambdas' AwsConfig, and the one wiring
 * function the Lambdas use, `buildAwsContext`, builds the PipelineContext — S3 stores, the Glue
 * catalog, the Athena engine in the stack's workgroup, the databases through their secrets. The
 * SDK clients are the CLI's own: in the stack's region, with the credentials of the operator's
 * usual chain (AWS_PROFILE, SSO, …), each recording its failed calls so a denial names its IAM
 * action (aws/operator-errors.ts), and the Athena client counting the bytes its queries scanned.
 */

/** Flags every command takes for the AWS target; the local ones (--lake, --source-url, …) are refused beside them. */
export const AWS_FLAGS = {
  aws: { type: 'boolean' },
  'stack-outputs': { type: 'string' },
  'stack-dir': { type: 'string' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const AWS_HELP = `Against the deployed stack (README Deploy) instead of the local lake:
  --aws                   operate the deployment (env TOTES_TARGET=aws): status, verify, query, docs, compile
  --stack-outputs FILE    the stack's outputs (\`terraform output -json > FILE\` in cdktf.out/stacks/totes-lake);
                          default: the functions' TOTES_* variables if set, else \`terraform output -json\`
                          in --stack-dir DIR (env TOTES_STACK_DIR; default cdktf.out/stacks/totes-lake)
  Credentials and region come from the usual AWS chain (AWS_PROFILE, SSO, …; the region from the
  outputs); attach the stack's operator policy (output operator_policy_arn).`;

const LOCAL_ONLY = ['--lake', '--source-url', '--warehouse-url', '--warehouse-schema', '--engine', '--trino-url', '--commit-lag'];

/** Whether a command line asks for the deployed pipeline. */
export function wantsAws(argv: readonly string[], env: Record<string, string | undefined> = process.env): boolean {
  if (argv.includes('--aws')) return true;
  const target = env.TOTES_TARGET?.trim().toLowerCase();
  if (!target || target === 'local') return false;
  if (target === 'aws') return true;
  throw new UsageError(`TOTES_TARGET must be aws or local, got "${env.TOTES_TARGET}"`);
}

/** Parses a command line aimed at the deployment: the AWS flags plus the command's own. */
export function parseAwsCommand<F extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(
  argv: string[],
  flags: F,
): { values: Record<string, string | boolean | undefined>; positionals: string[]; json: boolean; verbose: boolean } {
  const local = argv.find((a) => LOCAL_ONLY.includes(a.split('=')[0]));
  if (local) throw new UsageError(`${local.split('=')[0]} is for the local pipeline; with --aws the stack's outputs say where everything is`);
  const { values, positionals } = parseArgs({ args: argv, options: { ...AWS_FLAGS, ...flags }, allowPositionals: true, strict: true });
  const v = values as Record<string, string | boolean | undefined>;
  return { values: v, positionals, json: v.json === true, verbose: v.verbose === true };
}

export interface AwsPipeline {
  ctx: PipelineContext;
  target: StackTarget;
  clients: AwsClients & { cloudwatch: CloudWatchClient };
  /** Bytes scanned by the Athena queries that finished so far. */
  bytesScanned(): number;
  close(): Promise<void>;
}

/** The clients of the CLI: the stack's region, the shared retries, failed calls recorded; Athena's scanned bytes counted into `scanned`. */
export function createOperatorClients(region: string, scanned: Map<string, number>): AwsPipeline['clients'] {
  const config = { ...AWS_CLIENT_RETRY, region };
  const athena = recordAwsCalls(new AthenaClient(config));
  athena.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const execution = (out?.output as { QueryExecution?: { QueryExecutionId?: string; Status?: { State?: string }; Statistics?: { DataScannedInBytes?: number } } } | undefined)?.QueryExecution;
      if (execution?.QueryExecutionId && execution.Status?.State === 'SUCCEEDED') scanned.set(execution.QueryExecutionId, execution.Statistics?.DataScannedInBytes ?? 0);
      return out;
    },
    { step: 'initialize', name: 'totesBytesScanned', override: true },
  );
  return {
    s3: recordAwsCalls(new S3Client(config)),
    glue: recordAwsCalls(new GlueClient(config)),
    athena,
    secrets: recordAwsCalls(new SecretsManagerClient(config)),
    cloudwatch: recordAwsCalls(new CloudWatchClient(config)),
  };
}

/** Builds the deployed pipeline's context from the stack's outputs, as the Lambdas build theirs. */
export async function openAwsPipeline(values: Record<string, string | boolean | undefined>, log: Log): Promise<AwsPipeline> {
  const target = await loadStackTarget({ file: values['stack-outputs'] as string | undefined, stackDir: values['stack-dir'] as string | undefined });
  const scanned = new Map<string, number>();
  const clients = createOperatorClients(target.region, scanned);
  const built = buildAwsContext(target.config, clients, log);
  // The Athena engine's close looks for temporary tables dead runs left (a Glue call): only worth it, and only quiet, once it ran a query.
  let engineUsed = false;
  const engine = built.engine;
  const ctx: PipelineContext = {
    ...built,
    engine: {
      name: engine.name,
      write(...args) {
        engineUsed = true;
        return engine.write(...args);
      },
      query(...args) {
        engineUsed = true;
        return engine.query(...args);
      },
      close: () => (engineUsed ? engine.close() : Promise.resolve()),
    },
  };
  return {
    ctx,
    target,
    clients,
    bytesScanned: () => [...scanned.values()].reduce((a, b) => a + b, 0),
    async close() {
      await ctx.engine.close().catch(() => undefined);
      await ctx.source.close().catch(() => undefined);
      await ctx.warehouse.close().catch(() => undefined);
      for (const c of Object.values(clients)) c.destroy();
    },
  };
}

export interface AlarmState {
  name: string;
  state: string;
  reason: string | null;
  since: string | null;
}

/** The stack's CloudWatch alarms (named `<name_prefix>-…`) and their states. */
export async function readAlarms(cloudwatch: CloudWatchClient, namePrefix: string): Promise<AlarmState[]> {
  const alarms: MetricAlarm[] = [];
  let NextToken: string | undefined;
  do {
    const page = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNamePrefix: `${namePrefix}-`, NextToken }));
    alarms.push(...(page.MetricAlarms ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return alarms
    .map((a) => ({ name: a.AlarmName ?? '?', state: a.StateValue ?? 'INSUFFICIENT_DATA', reason: a.StateReason ?? null, since: a.StateUpdatedTimestamp?.toISOString() ?? null }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** An AWS failure already told as the operator's one line. */
export class OperatorFailure extends Error {
  override name = 'OperatorFailure';
}

/** An AWS failure as the operator's one line (aws/operator-errors.ts), or the error's own message. */
export function operatorMessage(err: unknown, target?: StackTarget): string {
  if (err instanceof OperatorFailure) return err.message;
  return explainAwsError(err, target?.operatorPolicyArn) ?? (err as Error).message;
}

/** An AWS failure as its one-line explanation (naming the stack's operator policy); anything else as it was. */
export function explained(err: unknown, target?: StackTarget): Error {
  if (err instanceof OperatorFailure) return err;
  const message = explainAwsError(err, target?.operatorPolicyArn);
  return message ? new OperatorFailure(message, { cause: err }) : (err as Error);
}

