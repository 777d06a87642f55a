import {
  CHANGES_PREFIX,
  COMPACTIONS_PREFIX,
  CURRENT_PREFIX,
  DELETIONS_PREFIX,
  EXTRACT_HEARTBEAT_PREFIX,
  EXTRACT_MANIFEST_PREFIX,
  EXTRACT_PROGRESS_PREFIX,
  LEASES_PREFIX,
  MODELS_PREFIX,
  QUARANTINE_PREFIX,
  RAW_PREFIX,
  RUNS_PREFIX,
  STAR_PREFIX,
  TRANSFORM_MANIFEST_PREFIX,
} from '../../functions/core/lake/lake-layout';
import type { Statement } from './policy-document';

/** ARNs of what the stages touch; the stack fills it in. */
export interface PipelineResources {
  ingestionBucketArn: string;
  processedBucketArn: string;
  athenaResultsBucketArn: string;
  /** `arn:<partition>:glue:<region>:<account>` (catalog, database/…, table/… hang off it). */
  glueArnBase: string;
  rawDatabase: string;
  processedDatabase: string;
  workgroupArn: string;
  sourceSecretArn: string;
  warehouseSecretArn: string;
}

/** Every prefix granted below is lake-layout.ts's; test/infra checks them against the code. */
const RAW = RAW_PREFIX;
const RUNS = RUNS_PREFIX;
const objects = (bucketArn: string, ...prefixes: string[]) => prefixes.map((p) => `${bucketArn}/${p}*`);
const glueDatabase = (r: PipelineResources, db: string) => [
  `${r.glueArnBase}:catalog`, `${r.glueArnBase}:database/${db}`, `${r.glueArnBase}:table/${db}/*`,
];

/**
 * Extract: reads totesys through its secret, reads the extract manifests (its cursors derive from
 * the newest one) and the progress of an unfinished batch (a long first load resumes), writes raw
 * files, deletion markers, progress and then the manifest. No delete: the bucket is append-only.
 * When the key tallies say a row may have been deleted (or a repair is asked), it reads the lake's
 * keys itself: raw files, and the current-state files the newest transform manifest lists in the
 * processed bucket; it runs no queries. An extract that found nothing new writes its heartbeat
 * (heartbeats/extract/, processed bucket) instead of a batch, and the next extract reads it back
 * (the previous snapshot its late-commit band starts from).
 */
export function extractStatements(r: PipelineResources): Statement[] {
  return [
    { sid: 'ReadSourceSecret', actions: ['secretsmanager:GetSecretValue'], resources: [r.sourceSecretArn] },
    { sid: 'ListIngestion', actions: ['s3:ListBucket'], resources: [r.ingestionBucketArn] },
    { sid: 'ReadManifestsProgressAndKeys', actions: ['s3:GetObject'], resources: objects(r.ingestionBucketArn, EXTRACT_MANIFEST_PREFIX, EXTRACT_PROGRESS_PREFIX, RAW, DELETIONS_PREFIX) },
    { sid: 'WriteRawBatches', actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: objects(r.ingestionBucketArn, RAW, DELETIONS_PREFIX, EXTRACT_PROGRESS_PREFIX, EXTRACT_MANIFEST_PREFIX) },
    { sid: 'ListProcessed', actions: ['s3:ListBucket'], resources: [r.processedBucketArn] },
    { sid: 'ReadCurrentStateKeys', actions: ['s3:GetObject'], resources: objects(r.processedBucketArn, TRANSFORM_MANIFEST_PREFIX, CURRENT_PREFIX) },
    { sid: 'WriteRunHistory', actions: ['s3:PutObject', 's3:GetObject'], resources: objects(r.processedBucketArn, RUNS) },
    // The heartbeat is read back too: the rescue compares with the last quiet extract's snapshot (core/extract/extract.ts).
    { sid: 'WriteAndReadHeartbeat', actions: ['s3:PutObject', 's3:GetObject'], resources: objects(r.processedBucketArn, EXTRACT_HEARTBEAT_PREFIX) },
  ];
}

/**
 * Transform: runs Athena queries in the pipeline workgroup. Athena acts with the caller's
 * credentials, so the role also needs what each query touches: the raw files and manifests (read),
 * the processed bucket's table prefixes (write, and delete so Athena can clean up a failed write;
 * the bucket is versioned), its batch leases, quarantine reports and run history, the results bucket, the raw database (read) and the processed
 * database (create/update tables and partitions, repoint dimensions).
 */
export function transformStatements(r: PipelineResources): Statement[] {
  return [
    { sid: 'RunQueries', actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution', 'athena:GetWorkGroup'], resources: [r.workgroupArn] },
    { sid: 'ListLakeBuckets', actions: ['s3:ListBucket', 's3:GetBucketLocation'], resources: [r.ingestionBucketArn, r.processedBucketArn, r.athenaResultsBucketArn] },
    { sid: 'ReadRawAndExtractManifests', actions: ['s3:GetObject'], resources: objects(r.ingestionBucketArn, RAW, EXTRACT_MANIFEST_PREFIX) },
    {
      sid: 'WriteProcessedTables',
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: objects(r.processedBucketArn, CURRENT_PREFIX, STAR_PREFIX, CHANGES_PREFIX, TRANSFORM_MANIFEST_PREFIX, LEASES_PREFIX, QUARANTINE_PREFIX, RUNS, COMPACTIONS_PREFIX),
    },
    // A fact compaction marks the months it replaced superseded (the tag the lifecycle rule expires).
    { sid: 'MarkSupersededStar', actions: ['s3:PutObjectTagging'], resources: objects(r.processedBucketArn, STAR_PREFIX) },
    // The SQL version a backfill published for a fact (transform/model-versions.ts): read, never written, by the function.
    { sid: 'ReadModelVersions', actions: ['s3:GetObject'], resources: objects(r.processedBucketArn, MODELS_PREFIX) },
    {
      sid: 'QueryResults',
      actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: objects(r.athenaResultsBucketArn, ''),
    },
    {
      sid: 'ReadRawCatalog',
      actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions', 'glue:BatchGetPartition'],
      resources: glueDatabase(r, r.rawDatabase),
    },
    {
      sid: 'ManageProcessedCatalog',
      actions: [
        'glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions', 'glue:BatchGetPartition',
        'glue:CreateTable', 'glue:UpdateTable', 'glue:DeleteTable', 'glue:BatchDeleteTable', 'glue:CreatePartition', 'glue:BatchCreatePartition', 'glue:UpdatePartition',
        // A by-key dimension's superseded base and change sets leave <dim>_versions; a fact's compacted
        // batches leave <fact>_batches after its view is switched (CreateTable, BatchCreatePartition,
        // UpdateTable of the view, DeleteTable of the months table it no longer reads: aws/fact-view.ts).
        'glue:BatchDeletePartition',
      ],
      resources: glueDatabase(r, r.processedDatabase),
    },
  ];
}

/**
 * Load: reads the transform manifest and the Parquet it lists, finds published locations in the
 * processed catalog, writes the warehouse through its secret, and reads the newest loaded batch's
 * bound (in its transform manifest) and the extract's heartbeat for the freshness metric. The
 * extract manifests stay readable for transform manifests written before they carried the bound.
 */
export function loadStatements(r: PipelineResources): Statement[] {
  return [
    { sid: 'ReadWarehouseSecret', actions: ['secretsmanager:GetSecretValue'], resources: [r.warehouseSecretArn] },
    { sid: 'ListProcessed', actions: ['s3:ListBucket'], resources: [r.processedBucketArn] },
    // Freshness of a batch whose transform manifest predates its `extract` bound (operate/freshness.ts).
    { sid: 'ReadExtractManifests', actions: ['s3:GetObject'], resources: objects(r.ingestionBucketArn, EXTRACT_MANIFEST_PREFIX) },
    { sid: 'ReadStarAndManifests', actions: ['s3:GetObject'], resources: objects(r.processedBucketArn, STAR_PREFIX, CHANGES_PREFIX, CURRENT_PREFIX, TRANSFORM_MANIFEST_PREFIX, EXTRACT_HEARTBEAT_PREFIX) },
    { sid: 'WriteRunHistory', actions: ['s3:PutObject', 's3:GetObject'], resources: objects(r.processedBucketArn, RUNS) },
    {
      sid: 'ReadProcessedCatalog',
      actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions', 'glue:BatchGetPartition'],
      resources: glueDatabase(r, r.processedDatabase),
    },
  ];
}
