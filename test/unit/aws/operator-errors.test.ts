import { AthenaClient, StartQueryExecutionCommand } from '@aws-sdk/client-athena';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { Readable } from 'node:stream';
import { awsCallOf, explainAwsError, iamAction, recordAwsCalls } from '../../../functions/aws/operator-errors';
import { readAlarms } from '../../../functions/cli/aws-target';

/**
 * The operator's one-line messages for AWS failures. The clients are the real SDK clients with the
 * CLI's middleware; only AWS's side is canned: an HTTP handler answering each request as AWS
 * answers a refused one (status, headers, body), so the SDK parses the error as it would in AWS.
 */
function answering(status: number, headers: Record<string, string>, body: string) {
  return {
    handle: async () => ({ response: { statusCode: status, reason: '', headers, body: Readable.from([Buffer.from(body)]) } }),
  };
}
const region = 'eu-west-2';
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
const s3Answering = (status: number, code: string, message: string) =>
  recordAwsCalls(new S3Client({ region, credentials, maxAttempts: 1, requestHandler: answering(status, { 'content-type': 'application/xml' }, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`) }));

async function failure(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

describe('iamAction', () => {
  it.each([
    ['S3Client', 'ListObjectsV2Command', 's3:ListBucket'],
    ['S3Client', 'HeadObjectCommand', 's3:GetObject'],
    ['S3Client', 'GetObjectCommand', 's3:GetObject'],
    ['GlueClient', 'CreateTableCommand', 'glue:CreateTable'],
    ['AthenaClient', 'StartQueryExecutionCommand', 'athena:StartQueryExecution'],
    ['SecretsManagerClient', 'GetSecretValueCommand', 'secretsmanager:GetSecretValue'],
    ['CloudWatchClient', 'DescribeAlarmsCommand', 'cloudwatch:DescribeAlarms'],
  ])('%s %s → %s', (client, command, action) => {
    expect(iamAction(client, command)).toBe(action);
  });
});

describe('explainAwsError', () => {
  it('names the denied IAM action and its resource, even when S3 says only "Access Denied", through wrapping errors', async () => {
    const s3 = s3Answering(403, 'AccessDenied', 'Access Denied');
    const err = await failure(() => s3.send(new ListObjectsV2Command({ Bucket: 'totes-prod-ingestion-123', Prefix: 'manifests/extract/' })));
    expect(awsCallOf(err)).toEqual({ action: 's3:ListBucket', resource: 's3://totes-prod-ingestion-123/manifests/extract/' });
    const wrapped = new Error('Could not list manifests/extract/ in s3://totes-prod-ingestion-123: AccessDenied: Access Denied', { cause: err });
    expect(explainAwsError(wrapped, 'arn:aws:iam::123456789012:policy/totes-prod-operator')).toBe(
      "AWS denied s3:ListBucket on s3://totes-prod-ingestion-123/manifests/extract/: attach the stack's operator policy (arn:aws:iam::123456789012:policy/totes-prod-operator) to your role or user, or ask for that permission",
    );
  });

  it('says the credentials expired', async () => {
    const s3 = s3Answering(400, 'ExpiredToken', 'The provided token has expired.');
    const err = await failure(() => s3.send(new ListObjectsV2Command({ Bucket: 'b-123', Prefix: 'runs/' })));
    expect(explainAwsError(err)).toBe('Your AWS credentials have expired (ExpiredToken at s3:ListBucket on s3://b-123/runs/): renew them (e.g. `aws sso login`), then run the command again');
  });

  it('reads a JSON service\'s denial (Athena) and the action AWS names in it', async () => {
    const body = JSON.stringify({ __type: 'AccessDeniedException', Message: 'User: arn:aws:iam::123456789012:user/ops is not authorized to perform: athena:StartQueryExecution on resource: arn:aws:athena:eu-west-2:123456789012:workgroup/totes-prod' });
    const athena = recordAwsCalls(new AthenaClient({ region, credentials, maxAttempts: 1, requestHandler: answering(400, { 'content-type': 'application/x-amz-json-1.1' }, body) }));
    const err = await failure(() => athena.send(new StartQueryExecutionCommand({ QueryString: 'SELECT 1', WorkGroup: 'totes-prod' })));
    expect(explainAwsError(err)).toBe("AWS denied athena:StartQueryExecution on workgroup totes-prod: attach the stack's operator policy (output operator_policy_arn) to your role or user, or ask for that permission");
  });

  it('says there are no credentials', async () => {
    const s3 = recordAwsCalls(
      new S3Client({
        region,
        maxAttempts: 1,
        credentials: async () => {
          throw Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
        },
      }),
    );
    const err = await failure(() => s3.send(new ListObjectsV2Command({ Bucket: 'b-123' })));
    expect(explainAwsError(err)).toMatch(/^No AWS credentials found: sign in \(e\.g\. `aws sso login`/);
  });

  it('says a stack resource is gone', async () => {
    const s3 = s3Answering(404, 'NoSuchBucket', 'The specified bucket does not exist');
    const err = await failure(() => s3.send(new ListObjectsV2Command({ Bucket: 'gone-123', Prefix: 'manifests/' })));
    expect(explainAwsError(err)).toMatch(/^s3:ListBucket on s3:\/\/gone-123\/manifests\/ does not exist \(NoSuchBucket\): the stack outputs describe a stack that is gone/);
  });

  it('leaves other errors to the caller', () => {
    expect(explainAwsError(new Error('verify: "x" is not a timestamp'))).toBeUndefined();
    expect(explainAwsError(undefined)).toBeUndefined();
  });
});

describe('readAlarms', () => {
  const cloudwatch = mockClient(CloudWatchClient);
  afterEach(() => cloudwatch.reset());

  it('reads every page of the stack\'s alarms by name prefix, sorted', async () => {
    const since = new Date('2026-12-01T00:00:00Z');
    cloudwatch
      .on(DescribeAlarmsCommand, { AlarmNamePrefix: 'totes-prod-', NextToken: undefined })
      .resolves({ MetricAlarms: [{ AlarmName: 'totes-prod-freshness', StateValue: 'ALARM', StateReason: 'Threshold crossed', StateUpdatedTimestamp: since }], NextToken: 'p2' })
      .on(DescribeAlarmsCommand, { AlarmNamePrefix: 'totes-prod-', NextToken: 'p2' })
      .resolves({ MetricAlarms: [{ AlarmName: 'totes-prod-extract-errors', StateValue: 'OK' }] });
    expect(await readAlarms(new CloudWatchClient({ region }), 'totes-prod')).toEqual([
      { name: 'totes-prod-extract-errors', state: 'OK', reason: null, since: null },
      { name: 'totes-prod-freshness', state: 'ALARM', reason: 'Threshold crossed', since: since.toISOString() },
    ]);
  });
});
