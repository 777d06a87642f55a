import { errorName } from './retry-with-backoff';

/**
 * AWS failures told to the operator in one line that says what to do: expired or missing
 * credentials, a permission the caller lacks (named: the IAM action and the resource), a stack
 * resource that is gone. {@link recordAwsCalls} is a middleware every SDK client of the CLI gets:
 * it stamps a failed call's error with its IAM action and resource, which the SDK's error itself
 * often lacks (S3 answers a denied GetObject with a bare "Access Denied"). {@link explainAwsError}
 * walks an error's `cause` chain (the adapters wrap SDK errors) and turns the first AWS failure it
 * knows into the message; anything else is left to the caller.
 */

const CALL = Symbol.for('totes.awsCall');

export interface AwsCall {
  /** IAM action, e.g. `s3:GetObject`. */
  action: string;
  /** What it was on, as far as the request says: `s3://bucket/key`, `glue database/table`, a secret ARN, a workgroup. */
  resource: string | null;
}

/** IAM service prefix per SDK client name. */
const SERVICE: Record<string, string> = {
  S3Client: 's3',
  GlueClient: 'glue',
  AthenaClient: 'athena',
  SecretsManagerClient: 'secretsmanager',
  CloudWatchClient: 'cloudwatch',
  LambdaClient: 'lambda',
  STSClient: 'sts',
};

/** S3 operations whose IAM action has another name. */
const S3_ACTION: Record<string, string> = {
  ListObjectsV2: 'ListBucket',
  ListObjects: 'ListBucket',
  HeadBucket: 'ListBucket',
  HeadObject: 'GetObject',
  DeleteObjects: 'DeleteObject',
  CreateMultipartUpload: 'PutObject',
  UploadPart: 'PutObject',
  CompleteMultipartUpload: 'PutObject',
};

/** The IAM action of an SDK command (`S3Client`, `ListObjectsV2Command` → `s3:ListBucket`). */
export function iamAction(clientName: string, commandName: string): string {
  const service = SERVICE[clientName] ?? clientName.replace(/Client$/, '').toLowerCase();
  const operation = commandName.replace(/Command$/, '');
  return `${service}:${service === 's3' ? (S3_ACTION[operation] ?? operation) : operation}`;
}

function resourceOf(service: string, input: Record<string, unknown>): string | null {
  const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  if (service === 's3' && text(input.Bucket)) return `s3://${input.Bucket}/${text(input.Key) ?? text(input.Prefix) ?? ''}`;
  if (service === 'glue' && text(input.DatabaseName)) return `Glue ${input.DatabaseName}${text(input.Name) ? `.${input.Name}` : ''}`;
  if (service === 'secretsmanager') return text(input.SecretId) ?? null;
  if (service === 'athena') return text(input.WorkGroup) ? `workgroup ${input.WorkGroup}` : text(input.QueryExecutionId) ? `query ${input.QueryExecutionId}` : null;
  if (service === 'lambda') return text(input.FunctionName) ?? null;
  return null;
}

/** The call a failed SDK request was, when {@link recordAwsCalls} saw it. */
export function awsCallOf(err: unknown): AwsCall | undefined {
  return err && typeof err === 'object' ? ((err as Record<symbol, AwsCall | undefined>)[CALL] ?? undefined) : undefined;
}

interface MiddlewareClient {
  middlewareStack: {
    add(
      middleware: (next: (args: { input: object }) => Promise<unknown>, context: { clientName?: string; commandName?: string }) => (args: { input: object }) => Promise<unknown>,
      options: { step: 'initialize'; name: string; override?: boolean },
    ): void;
  };
}

/** Stamps every failed call of `client` with its IAM action and resource (see {@link awsCallOf}). */
export function recordAwsCalls<C extends MiddlewareClient>(client: C): C {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (err && typeof err === 'object' && !(CALL in err)) {
          const action = iamAction(context.clientName ?? '', context.commandName ?? '');
          const call: AwsCall = { action, resource: resourceOf(action.split(':')[0], args.input as Record<string, unknown>) };
          Object.defineProperty(err, CALL, { value: call, enumerable: false });
        }
        throw err;
      }
    },
    { step: 'initialize', name: 'totesRecordAwsCalls', override: true },
  );
  return client;
}

const EXPIRED = new Set(['ExpiredToken', 'ExpiredTokenException', 'RequestExpired', 'TokenRefreshRequired', 'InvalidGrantException']);
const INVALID = new Set(['InvalidClientTokenId', 'UnrecognizedClientException', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'IncompleteSignature', 'InvalidSignatureException']);
const DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'AuthorizationError', 'Forbidden', 'UnauthorizedException']);
const GONE = new Set(['NoSuchBucket', 'ResourceNotFoundException', 'EntityNotFoundException']);

/** The errors of `err`'s cause chain, outermost first. */
function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e: unknown = err; e && out.length < 10; e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

const httpStatus = (err: unknown): number | undefined => (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;

/**
 * One line for an AWS failure of `err`'s chain, or undefined when it is none of these. `policy`
 * names the operator policy to attach (the stack's `operator_policy_arn` output, when known).
 */
export function explainAwsError(err: unknown, policy?: string | null): string | undefined {
  const attach = `attach the stack's operator policy (${policy ?? 'output operator_policy_arn'}) to your role or user`;
  for (const e of chain(err)) {
    const name = errorName(e) ?? (e as Error)?.name;
    const call = awsCallOf(e);
    const on = call ? `${call.action}${call.resource ? ` on ${call.resource}` : ''}` : undefined;
    if (name === 'CredentialsProviderError' || /Could not load credentials/i.test((e as Error)?.message ?? '')) {
      return 'No AWS credentials found: sign in (e.g. `aws sso login`, or set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), then run the command again';
    }
    if (name && EXPIRED.has(name)) return `Your AWS credentials have expired (${name}${on ? ` at ${on}` : ''}): renew them (e.g. \`aws sso login\`), then run the command again`;
    if (name && INVALID.has(name)) return `AWS does not accept your credentials (${name}${on ? ` at ${on}` : ''}): check AWS_PROFILE / the access key, and that they belong to the stack's account`;
    if ((name && DENIED.has(name)) || (call && httpStatus(e) === 403)) {
      const said = /not authorized to perform:?\s*([a-z0-9-]+:[A-Za-z0-9]+)/.exec((e as Error)?.message ?? '')?.[1];
      const what = on ?? said ?? 'a call';
      return `AWS denied ${what}${said && call && said !== call.action ? ` (${said})` : ''}: ${attach}, or ask for that permission`;
    }
    if (name && GONE.has(name) && call) return `${on} does not exist (${name}): the stack outputs describe a stack that is gone, or another account or region; check them and your AWS_PROFILE/AWS_REGION`;
    if (name === 'AthenaQueryError' && /access denied|not authorized|AccessDenied|insufficient permissions/i.test((e as Error).message)) {
      return `Athena could not read or write what the query needs with your credentials (it acts with the caller's permissions): ${attach}. Athena said: ${firstLine((e as Error).message)}`;
    }
  }
  return undefined;
}

const firstLine = (text: string): string => text.split('\n')[0].slice(0, 300);
