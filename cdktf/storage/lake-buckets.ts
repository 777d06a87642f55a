import { S3BucketNotification } from '@cdktf/provider-aws/lib/s3-bucket-notification';
import { Construct } from 'constructs';
import { RAW_PREFIX, STAR_PREFIX } from '../../functions/core/lake/lake-layout';
import { SUPERSEDED_TAG } from '../../functions/core/ports/object-store';
import type { DeploymentVariables } from '../deployment-variables';
import { abortIncompleteUploads, SecureBucket } from './secure-bucket';

export interface LakeBucketsProps {
  /** The stack's customer-managed key: every bucket's default encryption. */
  kmsKeyArn: string;
  /** The one role that may bypass or change the ingestion bucket's retention. */
  breakGlassRoleArn: string;
}

/**
 * The four buckets of the stack.
 *
 *  - ingestion: the immutable raw lake. Versioned, Object Lock (governance) with a default retention,
 *    so a bug or a stolen key cannot rewrite history; raw files move to cheaper storage as they age
 *    (Athena still reads Standard-IA and Glacier Instant Retrieval).
 *  - processed: star schema, current-state tables, transform manifests, run history. Versioned, no
 *    Object Lock: files the transform marks superseded (tag `totes-lake-superseded`) expire after
 *    `superseded_expiration_days`, old versions after 30 days.
 *  - athena results: query results only, expiring (versioned, and a noncurrent version is gone a day
 *    later, so an overwritten result is recoverable for that long and costs nothing after).
 *  - lambda code: the three function bundles.
 *
 * All four are encrypted by default with the stack's key (SSE-KMS with a bucket key).
 *
 * Ingestion and processed send their object events to EventBridge, where the manifest rules pick
 * them up (triggers/manifest-trigger.ts).
 */
export class LakeBuckets extends Construct {
  readonly ingestion: SecureBucket;
  readonly processed: SecureBucket;
  readonly athenaResults: SecureBucket;
  readonly lambdaCode: SecureBucket;

  constructor(scope: Construct, id: string, vars: DeploymentVariables, props: LakeBucketsProps) {
    super(scope, id);
    const { kmsKeyArn } = props;
    const ageing = (id: string, prefix: string) => ({
      id, status: 'Enabled', filter: [{ prefix }],
      transition: [
        { days: 30, storageClass: 'STANDARD_IA' },
        { days: 90, storageClass: 'GLACIER_IR' },
      ],
    });

    this.ingestion = new SecureBucket(this, 'ingestion', {
      namePrefix: `${vars.namePrefix}-ingestion-`,
      versioned: true,
      objectLockRetentionDays: vars.ingestionRetentionDays,
      breakGlassRoleArn: props.breakGlassRoleArn,
      forceDestroy: vars.allowDestroyData,
      kmsKeyArn,
      lifecycleRules: [ageing('raw-to-cheaper-storage', RAW_PREFIX), abortIncompleteUploads()],
    });

    this.processed = new SecureBucket(this, 'processed', {
      namePrefix: `${vars.namePrefix}-processed-`,
      versioned: true,
      forceDestroy: vars.allowDestroyData,
      kmsKeyArn,
      lifecycleRules: [
        ageing('star-to-cheaper-storage', STAR_PREFIX),
        // Files the transform marked superseded (ObjectStore.expire: a fact month a later compaction
        // replaced, under star/; only the transform sets this tag, and only there) expire after the
        // grace period; nothing else ever expires. A tag filter alone, not And(prefix, tag): moto
        // does not read an And filter back as Terraform wrote it.
        {
          id: 'expire-superseded', status: 'Enabled',
          filter: [{ tag: [{ key: SUPERSEDED_TAG.key, value: SUPERSEDED_TAG.value }] }],
          expiration: [{ days: vars.supersededExpirationDays }],
        },
        {
          id: 'expire-noncurrent-versions', status: 'Enabled', filter: [{ prefix: '' }],
          noncurrentVersionExpiration: [{ noncurrentDays: 30 }],
        },
        abortIncompleteUploads(),
      ],
    });

    this.athenaResults = new SecureBucket(this, 'athena-results', {
      namePrefix: `${vars.namePrefix}-athena-results-`,
      versioned: true,
      forceDestroy: true,
      kmsKeyArn,
      lifecycleRules: [
        {
          id: 'expire-query-results', status: 'Enabled', filter: [{ prefix: '' }],
          expiration: [{ days: vars.athenaResultsExpirationDays }], noncurrentVersionExpiration: [{ noncurrentDays: 1 }],
        },
        abortIncompleteUploads(),
      ],
    });

    this.lambdaCode = new SecureBucket(this, 'lambda-code', {
      namePrefix: `${vars.namePrefix}-lambda-code-`,
      versioned: true,
      forceDestroy: true,
      kmsKeyArn,
      lifecycleRules: [
        { id: 'expire-old-bundles', status: 'Enabled', filter: [{ prefix: '' }], noncurrentVersionExpiration: [{ noncurrentDays: 30 }] },
        abortIncompleteUploads(),
      ],
    });

    for (const [name, b] of [['ingestion', this.ingestion], ['processed', this.processed]] as const) {
      new S3BucketNotification(this, `${name}-to-eventbridge`, { bucket: b.bucket.id, eventbridge: true });
    }
  }
}
