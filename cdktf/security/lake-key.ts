import { KmsAlias } from '@cdktf/provider-aws/lib/kms-alias';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';
import { Construct } from 'constructs';

/** Where the key's ARN patterns come from; the stack fills it in from its variables and data sources. */
export interface LakeKeyProps {
  namePrefix: string;
  partition: string;
  region: string;
  accountId: string;
  /** ARN of the CloudTrail trail that records lake access (security/audit-trail.ts); built from its name, so no cycle. */
  trailArn: string;
}

/** One statement of a KMS key policy, in the JSON form AWS documents. */
export interface KeyPolicyStatement {
  Sid: string;
  Effect: 'Allow';
  Principal: { AWS: string } | { Service: string };
  Action: string[];
  /** In a key policy "*" means "this key": nothing else can be named there. */
  Resource: '*';
  Condition?: Record<string, Record<string, string | string[]>>;
}

/**
 * Everything of the account's own principals that manages the key, never its use: Terraform (the
 * deploy role) needs these to create, read, rotate, tag and schedule the deletion of the key; an
 * IAM policy must still grant them (the account root principal delegates to IAM, AWS's default).
 */
export const KEY_ADMIN_ACTIONS = [
  'kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:GetKeyRotationStatus', 'kms:ListResourceTags', 'kms:ListKeyPolicies', 'kms:ListGrants', 'kms:ListKeyRotations',
  'kms:PutKeyPolicy', 'kms:EnableKeyRotation', 'kms:DisableKeyRotation', 'kms:UpdateKeyDescription', 'kms:EnableKey', 'kms:DisableKey',
  'kms:TagResource', 'kms:UntagResource', 'kms:CreateAlias', 'kms:UpdateAlias', 'kms:DeleteAlias', 'kms:RevokeGrant',
  'kms:ScheduleKeyDeletion', 'kms:CancelKeyDeletion',
] as const;

/** What a role of the stack needs to read and write SSE-KMS objects and queue messages: nothing else of KMS. */
export const KEY_USE_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'] as const;

/**
 * The key policy. The account's principals may administer the key and, with an IAM grant, use it
 * only through S3, SQS and SNS (kms:ViaService): no one decrypts lake data by calling KMS directly.
 * Four services get their own statement, each held to this stack's resources:
 *  - CloudWatch Logs, for the functions' log groups (the log group ARN is the encryption context);
 *  - CloudWatch alarms, to publish to the encrypted alarm topic (source account and alarm names);
 *  - EventBridge, to drop undeliverable events into the encrypted DLQs (the queue ARN is the
 *    encryption context; EventBridge does not send aws:SourceArn to KMS);
 *  - CloudTrail, to encrypt the lake's access log (the trail's ARN).
 */
export function lakeKeyPolicyStatements(p: LakeKeyProps): KeyPolicyStatement[] {
  const arn = (service: string, resource: string) => `arn:${p.partition}:${service}:${p.region}:${p.accountId}:${resource}`;
  return [
    {
      Sid: 'AccountAdministersKey',
      Effect: 'Allow',
      Principal: { AWS: `arn:${p.partition}:iam::${p.accountId}:root` },
      Action: [...KEY_ADMIN_ACTIONS],
      Resource: '*',
    },
    {
      Sid: 'AccountUsesKeyThroughServices',
      Effect: 'Allow',
      Principal: { AWS: `arn:${p.partition}:iam::${p.accountId}:root` },
      Action: [...KEY_USE_ACTIONS],
      Resource: '*',
      Condition: {
        StringEquals: {
          'kms:CallerAccount': p.accountId,
          'kms:ViaService': ['s3', 'sqs', 'sns'].map((s) => `${s}.${p.region}.amazonaws.com`),
        },
      },
    },
    {
      Sid: 'LogsEncryptStackLogGroups',
      Effect: 'Allow',
      Principal: { Service: `logs.${p.region}.amazonaws.com` },
      Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:DescribeKey'],
      Resource: '*',
      Condition: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': arn('logs', `log-group:/aws/lambda/${p.namePrefix}-*`) } },
    },
    {
      Sid: 'AlarmsPublishToEncryptedTopic',
      Effect: 'Allow',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: [...KEY_USE_ACTIONS],
      Resource: '*',
      Condition: {
        StringEquals: { 'aws:SourceAccount': p.accountId },
        ArnLike: { 'aws:SourceArn': arn('cloudwatch', `alarm:${p.namePrefix}-*`) },
      },
    },
    {
      Sid: 'EventBridgeDeadLetters',
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: [...KEY_USE_ACTIONS],
      Resource: '*',
      Condition: { ArnLike: { 'kms:EncryptionContext:aws:sqs:arn': arn('sqs', `${p.namePrefix}-*-dlq`) } },
    },
    {
      Sid: 'CloudTrailEncryptsLakeAccessLog',
      Effect: 'Allow',
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: ['kms:GenerateDataKey'],
      Resource: '*',
      Condition: {
        StringEquals: { 'aws:SourceArn': p.trailArn },
        StringLike: { 'kms:EncryptionContext:aws:cloudtrail:arn': `arn:${p.partition}:cloudtrail:*:${p.accountId}:trail/*` },
      },
    },
    {
      Sid: 'CloudTrailDescribesKey',
      Effect: 'Allow',
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: ['kms:DescribeKey'],
      Resource: '*',
      Condition: { StringEquals: { 'aws:SourceArn': p.trailArn } },
    },
  ];
}

/**
 * The stack's one customer-managed key (symmetric, yearly rotation on). It encrypts the lake's
 * buckets (each with an S3 bucket key, so S3 asks KMS for a data key per bucket key rather than per
 * object), the Athena results, the alarm topic, the DLQs, the log groups and the lake access trail.
 *
 * The policy is JSON text rather than an `aws_iam_policy_document` (policy-document.ts): in a key
 * policy the Resource is always "*", meaning this key, and the stack's checks of identity policies
 * (test/infra, checkov's IAM checks over policy documents) would read that as "every resource".
 * test/infra/keys-and-audit.test.ts parses and checks it instead.
 *
 * Destroy schedules the key's deletion after `deletion_window_in_days` (30): until then the key can
 * be recovered (CancelKeyDeletion) and, with it, anything still encrypted under it.
 */
export class LakeKey extends Construct {
  readonly key: KmsKey;
  readonly alias: KmsAlias;

  constructor(scope: Construct, id: string, props: LakeKeyProps) {
    super(scope, id);
    this.key = new KmsKey(this, 'key', {
      description: `Totes Lake (${props.namePrefix}): lake buckets, Athena results, alarm topic, DLQs, log groups, access trail.`,
      keyUsage: 'ENCRYPT_DECRYPT',
      customerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      enableKeyRotation: true,
      deletionWindowInDays: 30,
      policy: JSON.stringify({ Version: '2012-10-17', Statement: lakeKeyPolicyStatements(props) }),
    });
    this.alias = new KmsAlias(this, 'alias', { name: `alias/${props.namePrefix}-lake`, targetKeyId: this.key.keyId });
  }
}
