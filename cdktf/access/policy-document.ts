import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { Construct } from 'constructs';

/** The partition, region and account the stack deploys to (data sources and variables, as tokens). */
export interface AwsContext {
  partition: string;
  region: string;
  accountId: string;
}

/** `arn:<partition>:<service>:<region>:<account>:<resource>` in the stack's account and region. */
export function stackArn(aws: AwsContext, service: string, resource: string): string {
  return `arn:${aws.partition}:${service}:${aws.region}:${aws.accountId}:${resource}`;
}

/** One IAM statement, written the way AWS documents it. */
export interface Statement {
  sid?: string;
  effect?: 'Allow' | 'Deny';
  actions: string[];
  /** Omitted only in trust policies, where the principal is the subject. */
  resources?: string[];
  /** `{ test, variable, values }` conditions, e.g. aws:SecureTransport = false. */
  conditions?: { test: string; variable: string; values: string[] }[];
  /** Service or AWS principals (resource policies only). */
  principals?: { type: 'Service' | 'AWS' | '*'; identifiers: string[] }[];
}

/**
 * Every IAM, bucket and queue policy in the stack is an `aws_iam_policy_document` built here, never
 * a hand-written JSON string, so the synthesized stack keeps each statement as data that the infra
 * tests can inspect (no `*` action in any Allow, resources scoped).
 */
export function policyDocument(scope: Construct, id: string, statements: Statement[]): DataAwsIamPolicyDocument {
  if (statements.length === 0) throw new Error(`Policy ${id} has no statements: every role and resource policy must say what it grants`);
  return new DataAwsIamPolicyDocument(scope, id, {
    statement: statements.map((s) => ({
      sid: s.sid,
      effect: s.effect ?? 'Allow',
      actions: s.actions,
      resources: s.resources,
      condition: s.conditions,
      principals: s.principals,
    })),
  });
}

/** Denies any request to `bucketArn` (and its objects) that does not use TLS. */
export function tlsOnlyStatement(bucketArn: string): Statement {
  return {
    sid: 'DenyInsecureTransport',
    effect: 'Deny',
    // A Deny on every S3 action is the AWS-recommended TLS guard; it grants nothing.
    actions: ['s3:*'],
    resources: [bucketArn, `${bucketArn}/*`],
    principals: [{ type: '*', identifiers: ['*'] }],
    conditions: [{ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] }],
  };
}

/**
 * S3 actions that undo Object Lock in governance mode: the governance bypass itself, changing an
 * object's retention or legal hold, changing the bucket's default retention, and rewriting or
 * deleting the bucket policy that holds this very statement (without those two the guard would
 * only be a speed bump for any principal allowed to edit bucket policies).
 */
export const RETENTION_CHANGE_ACTIONS = [
  's3:BypassGovernanceRetention',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
  's3:PutBucketObjectLockConfiguration',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
] as const;

/**
 * Denies RETENTION_CHANGE_ACTIONS on a locked bucket to every principal but `breakGlassRoleArn`
 * (compared with aws:PrincipalArn, which for an assumed-role session is the role's ARN). An IAM
 * grant of s3:BypassGovernanceRetention (an administrator's s3:*) then no longer opens the lock.
 * The account's root user can still delete a bucket policy (S3's lock-out safety), which is the
 * last resort the README names; COMPLIANCE mode is the choice where no one at all may shorten it.
 */
export function retentionGuardStatement(bucketArn: string, breakGlassRoleArn: string): Statement {
  return {
    sid: 'DenyRetentionChangesButBreakGlass',
    effect: 'Deny',
    actions: [...RETENTION_CHANGE_ACTIONS],
    resources: [bucketArn, `${bucketArn}/*`],
    principals: [{ type: '*', identifiers: ['*'] }],
    conditions: [{ test: 'ArnNotEquals', variable: 'aws:PrincipalArn', values: [breakGlassRoleArn] }],
  };
}
