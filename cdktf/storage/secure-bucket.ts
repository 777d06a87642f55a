import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { S3BucketLifecycleConfiguration, S3BucketLifecycleConfigurationRule } from '@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration';
import { S3BucketObjectLockConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-object-lock-configuration';
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { S3BucketVersioningA } from '@cdktf/provider-aws/lib/s3-bucket-versioning';
import { IResolvable } from 'cdktf';
import { Construct } from 'constructs';
import { policyDocument, retentionGuardStatement, type Statement, tlsOnlyStatement } from '../access/policy-document';

export interface SecureBucketProps {
  /** Bucket name prefix; AWS appends a unique suffix (bucket names are global). */
  namePrefix: string;
  versioned: boolean;
  /** Object Lock in governance mode with this default retention (days); implies versioning. */
  objectLockRetentionDays?: number;
  lifecycleRules: S3BucketLifecycleConfigurationRule[];
  /** Whether `destroy` may delete a non-empty bucket. */
  forceDestroy: boolean | IResolvable;
  /** The stack's customer-managed key (security/lake-key.ts): default SSE-KMS with an S3 bucket key. */
  kmsKeyArn: string;
  /**
   * With Object Lock: the one role that may bypass governance retention or change retention, legal
   * holds, the lock configuration or this bucket policy (variable break_glass_role_arn).
   */
  breakGlassRoleArn?: string;
  /** Further bucket policy statements (e.g. a service's write grant), given the bucket's ARN. */
  extraStatements?: (bucketArn: string) => Statement[];
}

/**
 * An S3 bucket with the protections every bucket of the stack shares: default encryption with the
 * stack's customer-managed key (SSE-KMS, with an S3 bucket key so that S3 calls KMS once per bucket
 * key rather than once per object; writers send no encryption headers), all public access blocked,
 * ACLs disabled (bucket-owner-enforced), and a bucket policy that refuses plain-HTTP requests. A
 * bucket under Object Lock also refuses, to every principal but the break-glass role, the governance
 * bypass and any change of retention, legal hold, lock configuration or bucket policy.
 */
export class SecureBucket extends Construct {
  readonly bucket: S3Bucket;
  readonly policy: S3BucketPolicy;

  constructor(scope: Construct, id: string, props: SecureBucketProps) {
    super(scope, id);
    const locked = props.objectLockRetentionDays !== undefined;
    this.bucket = new S3Bucket(this, 'bucket', {
      bucketPrefix: props.namePrefix,
      forceDestroy: props.forceDestroy,
      objectLockEnabled: locked ? true : undefined,
    });
    const bucket = this.bucket.id;

    new S3BucketOwnershipControls(this, 'ownership', {
      bucket,
      rule: { objectOwnership: 'BucketOwnerEnforced' },
    });
    const publicAccess = new S3BucketPublicAccessBlock(this, 'public-access', {
      bucket,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketServerSideEncryptionConfigurationA(this, 'encryption', {
      bucket,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'aws:kms', kmsMasterKeyId: props.kmsKeyArn }, bucketKeyEnabled: true }],
    });
    const versioning = props.versioned || locked
      ? new S3BucketVersioningA(this, 'versioning', { bucket, versioningConfiguration: { status: 'Enabled' } })
      : undefined;
    let objectLock: S3BucketObjectLockConfigurationA | undefined;
    if (locked) {
      if (!props.breakGlassRoleArn) throw new Error(`Bucket ${id} is under Object Lock: give it the break-glass role that alone may bypass or change retention`);
      objectLock = new S3BucketObjectLockConfigurationA(this, 'object-lock', {
        bucket,
        rule: { defaultRetention: { mode: 'GOVERNANCE', days: props.objectLockRetentionDays } },
        dependsOn: versioning ? [versioning] : [],
      });
    }
    new S3BucketLifecycleConfiguration(this, 'lifecycle', {
      bucket,
      rule: props.lifecycleRules,
      // A lifecycle configuration on a versioned bucket must follow the versioning setting.
      dependsOn: versioning ? [versioning] : [],
    });
    const statements = [
      tlsOnlyStatement(this.bucket.arn),
      ...(locked && props.breakGlassRoleArn ? [retentionGuardStatement(this.bucket.arn, props.breakGlassRoleArn)] : []),
      ...(props.extraStatements?.(this.bucket.arn) ?? []),
    ];
    this.policy = new S3BucketPolicy(this, 'policy', {
      bucket,
      policy: policyDocument(this, 'policy-document', statements).json,
      // S3 rejects a bucket policy while the public access block is still being created; and once
      // the retention guard is in force only the break-glass role may set the lock configuration,
      // so the policy follows it (and, on destroy, goes first).
      dependsOn: objectLock ? [publicAccess, objectLock] : [publicAccess],
    });
  }
}

/** Lifecycle rule that aborts multipart uploads a crashed writer left behind. */
export function abortIncompleteUploads(): S3BucketLifecycleConfigurationRule {
  return { id: 'abort-incomplete-uploads', status: 'Enabled', filter: [{ prefix: '' }], abortIncompleteMultipartUpload: [{ daysAfterInitiation: 7 }] };
}
