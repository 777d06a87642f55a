import { GetQueryExecutionCommand } from '@aws-sdk/client-athena';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { createOperatorClients, explained, OperatorFailure, operatorMessage } from '../../../functions/cli/aws-target';
import type { StackTarget } from '../../../functions/aws/stack-outputs';

/**
 * The CLI's SDK clients (functions/cli/aws-target.ts) against canned AWS answers: the Athena client
 * counts the bytes its finished queries scanned, and a failure is told once, naming the stack's
 * operator policy, however often it is rethrown.
 */
function answering(status: number, type: string, body: string) {
  return { handle: async () => ({ response: { statusCode: status, reason: '', headers: { 'content-type': type }, body: Readable.from([Buffer.from(body)]) } }) };
}

describe('createOperatorClients', () => {
  it('counts the bytes each finished Athena query scanned, once per query', async () => {
    const scanned = new Map<string, number>();
    const { athena } = createOperatorClients('eu-west-2', scanned);
    const execution = (id: string, state: string, bytes: number) => JSON.stringify({ QueryExecution: { QueryExecutionId: id, Status: { State: state }, Statistics: { DataScannedInBytes: bytes } } });
    const answers = [execution('q1', 'RUNNING', 10), execution('q1', 'SUCCEEDED', 1234), execution('q1', 'SUCCEEDED', 1234), execution('q2', 'SUCCEEDED', 66)];
    athena.config.requestHandler = { handle: async () => answering(200, 'application/x-amz-json-1.1', answers.shift()!).handle() } as never;
    athena.config.credentials = async () => ({ accessKeyId: 'AKID', secretAccessKey: 'secret' });
    for (const id of ['q1', 'q1', 'q1', 'q2']) await athena.send(new GetQueryExecutionCommand({ QueryExecutionId: id }));
    expect([...scanned.entries()]).toEqual([['q1', 1234], ['q2', 66]]);
  });
});

describe('explained', () => {
  it('tells an AWS failure once, with the stack\'s operator policy, and leaves other errors alone', async () => {
    const { s3 } = createOperatorClients('eu-west-2', new Map());
    s3.config.requestHandler = answering(403, 'application/xml', '<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>') as never;
    s3.config.credentials = async () => ({ accessKeyId: 'AKID', secretAccessKey: 'secret' });
    const err = await s3.send(new ListObjectsV2Command({ Bucket: 'totes-prod-processed-1', Prefix: 'runs/' })).catch((e: unknown) => e);
    const target = { operatorPolicyArn: 'arn:aws:iam::123456789012:policy/totes-prod-operator' } as StackTarget;
    const told = explained(err, target);
    expect(told).toBeInstanceOf(OperatorFailure);
    const line = "AWS denied s3:ListBucket on s3://totes-prod-processed-1/runs/: attach the stack's operator policy (arn:aws:iam::123456789012:policy/totes-prod-operator) to your role or user, or ask for that permission";
    expect(told.message).toBe(line);
    // main.ts tells whatever reaches it with operatorMessage, which knows no stack: the told line stays as it was.
    expect(operatorMessage(told)).toBe(line);
    const other = new Error('verify: cannot read the load ledger');
    expect(explained(other, target)).toBe(other);
  });
});
