/**
 * Names shared by the Lambda handlers (functions/aws) and the deployment (cdktf/): the
 * environment each function reads and the CloudWatch metrics it emits. Both sides import
 * these constants, so a rename cannot leave an alarm watching a metric nobody emits.
 */

export const ENV = {
  ingestionBucket: 'TOTES_INGESTION_BUCKET',
  processedBucket: 'TOTES_PROCESSED_BUCKET',
  /** Glue database of the raw tables (raw_<table>). */
  rawDatabase: 'TOTES_GLUE_RAW_DATABASE',
  /** Glue database of the star, current-state and staging tables. */
  processedDatabase: 'TOTES_GLUE_PROCESSED_DATABASE',
  athenaWorkgroup: 'TOTES_ATHENA_WORKGROUP',
  /** Secrets Manager ARN of the totesys connection: JSON {host, port, dbname, username, password}. */
  sourceSecretArn: 'TOTES_SOURCE_SECRET_ARN',
  /** Secrets Manager ARN of the warehouse connection, same shape. */
  warehouseSecretArn: 'TOTES_WAREHOUSE_SECRET_ARN',
  warehouseSchema: 'TOTES_WAREHOUSE_SCHEMA',
  /** Seconds the extract's upper bound stays behind the snapshot clock (client clock skew). */
  commitLagSeconds: 'TOTES_COMMIT_LAG_SECONDS',
} as const;

export const METRICS = {
  namespace: 'TotesLake',
  /** Value of the `service` dimension Powertools adds to every metric (one service for all three functions). */
  service: 'totes-lake',
  /** Count; dimension `table`. Rows extracted / written / loaded per table. */
  rows: 'Rows',
  /** Milliseconds; dimension `stage` (extract, transform, load). */
  stageDuration: 'StageDuration',
  /**
   * Seconds between now and the source instant the warehouse reflects (core/operate/freshness.ts);
   * the load emits it on every run, its scheduled ticks on a quiet source included.
   */
  freshness: 'FreshnessSeconds',
  /** Bytes; Athena bytes scanned per batch. */
  bytesScanned: 'BytesScanned',
  /** Count; 1 per extract that published a batch or found nothing new. */
  extractSucceeded: 'ExtractSucceeded',
  /** Count; 1 per Athena query that FAILED or was CANCELLED. */
  queryFailed: 'QueryFailed',
} as const;
