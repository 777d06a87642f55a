import { Cloudtrail } from '@cdktf/provider-aws/lib/cloudtrail';
import { IResolvable } from 'cdktf';
import { Construct } from 'constructs';
import type { Statement } from '../access/policy-document';
import { abortIncompleteUploads, SecureBucket } from '../storage/secure-bucket';

export interface AuditTrailProps {
  namePrefix: string;
  /** The trail's name: `<prefix>-lake-access` (the key policy names its ARN before it exists). */
  trailName: string;
  trailArn: string;
  partition: string;
  accountId: string;
  /** Buckets whose every object read and write is recorded (the ingestion and processed buckets). */
  recordedBucketArns: string[];
  kmsKeyArn: string;
  breakGlassRoleArn: string;
  /** Object Lock retention (governance) of every log file, and the age at which it expires. */
  retentionDays: number;
  forceDestroy: boolean | IResolvable;
}

/** `<bucket ARN>/` for each bucket: an advanced event selector's resources.ARN prefix covering its objects. */
export function objectArnPrefixes(bucketArns: string[]): string[] {
  return bucketArns.map((arn) => `${arn}/`);
}

/**
 * The record of who read or wrote the lake: a CloudTrail trail of S3 data events (GetObject,
 * PutObject, DeleteObject, … with the calling principal, its source and the request) for every
 * object of the ingestion and processed buckets, and nothing else (no management events: an
 * account keeps those in its own trail).
 *
 * The log files go to a bucket of their own, `<prefix>-audit-`: encrypted with the stack's key
 * (CloudTrail's SSE-KMS, with log file validation, so a removed or edited file shows in the digest
 * chain), versioned and under Object Lock in governance mode for `audit_retention_days`, with the
 * same retention guard as the ingestion bucket (only the break-glass role may bypass it or change
 * it). They expire after that retention. CloudTrail may write only under AWSLogs/<account>/, and
 * only for this trail (aws:SourceArn).
 */
export class AuditTrail extends Construct {
  readonly bucket: SecureBucket;
  readonly trail: Cloudtrail;

  constructor(scope: Construct, id: string, props: AuditTrailProps) {
    super(scope, id);
    const fromThisTrail = { test: 'StringEquals', variable: 'aws:SourceArn', values: [props.trailArn] };
    const cloudTrail = [{ type: 'Service' as const, identifiers: ['cloudtrail.amazonaws.com'] }];
    const trailWrites = (bucketArn: string): Statement[] => [
      { sid: 'CloudTrailChecksBucketAcl', actions: ['s3:GetBucketAcl'], resources: [bucketArn], principals: cloudTrail, conditions: [fromThisTrail] },
      {
        sid: 'CloudTrailWritesLogs',
        actions: ['s3:PutObject'],
        resources: [`${bucketArn}/AWSLogs/${props.accountId}/*`],
        principals: cloudTrail,
        conditions: [fromThisTrail, { test: 'StringEquals', variable: 's3:x-amz-acl', values: ['bucket-owner-full-control'] }],
      },
    ];
    this.bucket = new SecureBucket(this, 'bucket', {
      namePrefix: `${props.namePrefix}-audit-`,
      versioned: true,
      objectLockRetentionDays: props.retentionDays,
      breakGlassRoleArn: props.breakGlassRoleArn,
      forceDestroy: props.forceDestroy,
      kmsKeyArn: props.kmsKeyArn,
      extraStatements: trailWrites,
      lifecycleRules: [
        {
          id: 'expire-after-retention', status: 'Enabled', filter: [{ prefix: '' }],
          expiration: [{ days: props.retentionDays }], noncurrentVersionExpiration: [{ noncurrentDays: 1 }],
        },
        abortIncompleteUploads(),
      ],
    });

    this.trail = new Cloudtrail(this, 'trail', {
      name: props.trailName,
      s3BucketName: this.bucket.bucket.bucket,
      kmsKeyId: props.kmsKeyArn,
      enableLogging: true,
      enableLogFileValidation: true,
      // Data events are recorded in the bucket's region whatever the trail's scope; multi-region
      // keeps a request made through another region's endpoint from falling outside the trail.
      isMultiRegionTrail: true,
      includeGlobalServiceEvents: true,
      advancedEventSelector: [{
        name: 'Every read and write of a lake object',
        fieldSelector: [
          { field: 'eventCategory', equalTo: ['Data'] },
          { field: 'resources.type', equalTo: ['AWS::S3::Object'] },
          { field: 'resources.ARN', startsWith: objectArnPrefixes(props.recordedBucketArns) },
        ],
      }],
      // CloudTrail checks at creation that it may write to the bucket.
      dependsOn: [this.bucket.policy],
    });
  }
}
