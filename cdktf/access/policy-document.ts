import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { Construct } from 'constructs';

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
