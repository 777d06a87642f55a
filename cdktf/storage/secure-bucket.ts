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
import { policyDocument, tlsOnlyStatement } from '../access/policy-document';

export interface SecureBucketProps {
  /** Bucket name prefix; AWS appends a unique suffix (bucket names are global). */
  namePrefix: string;
  versioned: boolean;
  /** Object Lock in governance mode with this default retention (days); implies versioning. */
  objectLockRetentionDays?: number;
  lifecycleRules: S3BucketLifecycleConfigurationRule[];
  /** Whether `destroy` may delete a non-empty bucket. */
  forceDestroy: boolean | IResolvable;
}

/**
 * An S3 bucket with the protections every bucket of the stack shares: default encryption (SSE-S3,
 * so Athena and the functions need no KMS grants), all public access blocked, ACLs disabled
 * (bucket-owner-enforced), and a bucket policy that refuses plain-HTTP requests.
 */
export class SecureBucket extends Construct {
  readonly bucket: S3Bucket;

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
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }],
    });
    const versioning = props.versioned || locked
      ? new S3BucketVersioningA(this, 'versioning', { bucket, versioningConfiguration: { status: 'Enabled' } })
      : undefined;
    if (locked) {
      new S3BucketObjectLockConfigurationA(this, 'object-lock', {
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
    const tlsOnly = policyDocument(this, 'policy-document', [tlsOnlyStatement(this.bucket.arn)]);
    new S3BucketPolicy(this, 'policy', {
      bucket,
      policy: tlsOnly.json,
      // S3 rejects a bucket policy while the public access block is still being created.
      dependsOn: [publicAccess],
    });
  }
}

/** Lifecycle rule that aborts multipart uploads a crashed writer left behind. */
export function abortIncompleteUploads(): S3BucketLifecycleConfigurationRule {
  return { id: 'abort-incomplete-uploads', status: 'Enabled', filter: [{ prefix: '' }], abortIncompleteMultipartUpload: [{ daysAfterInitiation: 7 }] };
}
