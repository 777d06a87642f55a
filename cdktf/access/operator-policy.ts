import { IamPolicy } from '@cdktf/provider-aws/lib/iam-policy';
import { Construct } from 'constructs';
import { factDataTablePrefixes } from '../../functions/aws/fact-view';
import { STAR_TABLES } from '../../functions/core/contract/star-tables';
import {
  backfillProgressPrefix,
  backfillRebuildPrefix,
  CHANGES_PREFIX,
  CURRENT_PREFIX,
  DELETIONS_PREFIX,
  EXTRACT_HEARTBEAT_PREFIX,
  EXTRACT_MANIFEST_PREFIX,
  MODELS_PREFIX,
  modelVersionKey,
  QUARANTINE_PREFIX,
  RAW_PREFIX,
  RUNS_PREFIX,
  STAR_PREFIX,
  stageLeasePrefix,
  TRANSFORM_MANIFEST_PREFIX,
} from '../../functions/core/lake/lake-layout';
import { policyDocument, type Statement } from './policy-document';
import type { PipelineResources } from './stage-permissions';

/**
 * Name prefix of the temporary Glue tables the Athena engine registers over Parquet prefixes and
 * drops on close (functions/engines/athena/relations.ts TEMP_PREFIX; test/infra/operator-policy.test.ts
 * checks the two agree).
 */
export const ATHENA_TEMP_TABLE_PREFIX = 'totes_tmp_';

export interface OperatorResources extends PipelineResources {
  /** `arn:<partition>:cloudwatch:<region>:<account>:alarm:<name prefix>-`: the stack's alarms start with it. */
  alarmArnPrefix: string;
  extractFunctionArn: string;
  /** KMS keys the lake's objects or secrets are encrypted with (none while the buckets use SSE-S3). */
  kmsKeyArns?: string[];
}

const objects = (bucketArn: string, ...prefixes: string[]) => prefixes.map((p) => `${bucketArn}/${p}*`);
const glueDatabase = (r: PipelineResources, db: string) => [`${r.glueArnBase}:catalog`, `${r.glueArnBase}:database/${db}`, `${r.glueArnBase}:table/${db}/*`];

/**
 * What `totes status|verify|query|docs --aws` need, and nothing that changes the lake: list and
 * read the manifests, run history, heartbeats, quarantine reports, raw files, deletion markers,
 * current states and star tables; run Athena queries in the stack's workgroup (Athena acts with
 * the caller's credentials, so the reads above are also what its queries need) and keep their
 * results in the results bucket; read both Glue databases; read the two database secrets (verify
 * reconciles totesys and the warehouse, status counts their rows); read the stack's alarm states.
 * The one catalog write: the Athena engine registers the Parquet it reads as temporary Glue tables
 * (`totes_tmp_*`, metadata only) and drops them when done, so only those names may be created or deleted.
 */
export function operatorReadStatements(r: OperatorResources): Statement[] {
  const statements: Statement[] = [
    { sid: 'ListLakeBuckets', actions: ['s3:ListBucket', 's3:GetBucketLocation'], resources: [r.ingestionBucketArn, r.processedBucketArn, r.athenaResultsBucketArn] },
    { sid: 'ReadIngestion', actions: ['s3:GetObject'], resources: objects(r.ingestionBucketArn, EXTRACT_MANIFEST_PREFIX, RAW_PREFIX, DELETIONS_PREFIX) },
    {
      sid: 'ReadProcessed',
      actions: ['s3:GetObject'],
      resources: objects(r.processedBucketArn, TRANSFORM_MANIFEST_PREFIX, CURRENT_PREFIX, STAR_PREFIX, CHANGES_PREFIX, RUNS_PREFIX, EXTRACT_HEARTBEAT_PREFIX, QUARANTINE_PREFIX, MODELS_PREFIX),
    },
    { sid: 'QueryResults', actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], resources: objects(r.athenaResultsBucketArn, '') },
    {
      sid: 'RunQueries',
      actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution', 'athena:GetWorkGroup'],
      resources: [r.workgroupArn],
    },
    {
      sid: 'ReadCatalog',
      actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions', 'glue:BatchGetPartition'],
      resources: [...glueDatabase(r, r.rawDatabase), ...glueDatabase(r, r.processedDatabase).slice(1)],
    },
    {
      sid: 'TemporaryTables',
      actions: ['glue:CreateTable', 'glue:DeleteTable', 'glue:BatchDeleteTable'],
      resources: [`${r.glueArnBase}:catalog`, `${r.glueArnBase}:database/${r.processedDatabase}`, `${r.glueArnBase}:table/${r.processedDatabase}/${ATHENA_TEMP_TABLE_PREFIX}*`],
    },
    { sid: 'ReadDatabaseSecrets', actions: ['secretsmanager:GetSecretValue'], resources: [r.sourceSecretArn, r.warehouseSecretArn] },
    { sid: 'ReadAlarms', actions: ['cloudwatch:DescribeAlarms'], resources: [`${r.alarmArnPrefix}*`] },
  ];
  if (r.kmsKeyArns?.length) statements.push({ sid: 'DecryptLake', actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: r.kmsKeyArns });
  return statements;
}

/**
 * Starting work outside the schedule: invoking the extract function. Attached beside the
 * read-only policy, never instead of it.
 */
export function operatorRunStatements(r: OperatorResources): Statement[] {
  return [{ sid: 'InvokeExtract', actions: ['lambda:InvokeFunction'], resources: [r.extractFunctionArn] }];
}

/** The lease stage a backfill holds while it publishes (core/transform/backfill.ts withLease: the transform's next batch). */
export const BACKFILL_LEASE_STAGE = 'transform';

/** The facts a backfill may rebuild (a dimension's backfill only reports where it stands). */
const backfillFacts = (): string[] => STAR_TABLES.filter((t) => t.kind === 'fact').map((t) => t.name);

/**
 * What `totes backfill <fact> --aws` writes beyond the read-only policy (attach both; the read
 * policy already gives it the reads, the queries, the results bucket, the Athena engine's temporary
 * tables and the warehouse secret the table replacement connects with). Per fact only:
 *  - the rebuilt partitions `star/<fact>/sql=…` (Athena's CTAS writes them with the caller's
 *    credentials; the engine deletes what a crashed attempt left at the same location first);
 *  - its progress `backfills/<fact>/` (read back to resume) and the published version `models/<fact>.json`;
 *  - the transform lease it holds while publishing (`leases/transform/`: read, and written with If-None-Match);
 *  - the partitions of the Athena engine's temporary tables (a rebuild is a CTAS partitioned by batch:
 *    Athena adds them with BatchCreatePartition);
 *  - in the processed Glue database, the fact's view and its data tables (`<fact>_batches*`,
 *    `<fact>_months_*`): the new batches table is created with its partitions, the view switched in one
 *    UpdateTable, the tables it no longer reads dropped and the stack's batches table emptied (aws/glue-catalog.ts replacePartitions).
 * Nothing in the ingestion bucket, the raw database, the batches' own partitions (`star/<fact>/batch_id=…`),
 * the manifests, the dimensions or the current states.
 */
export function operatorBackfillStatements(r: OperatorResources): Statement[] {
  const facts = backfillFacts();
  const table = (name: string) => `${r.glueArnBase}:table/${r.processedDatabase}/${name}`;
  const database = [`${r.glueArnBase}:catalog`, `${r.glueArnBase}:database/${r.processedDatabase}`];
  return [
    {
      sid: 'WriteRebuiltFacts',
      actions: ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: objects(r.processedBucketArn, ...facts.map(backfillRebuildPrefix)),
    },
    { sid: 'BackfillProgress', actions: ['s3:GetObject', 's3:PutObject'], resources: objects(r.processedBucketArn, ...facts.map(backfillProgressPrefix)) },
    { sid: 'PublishModelVersion', actions: ['s3:PutObject'], resources: facts.map((f) => `${r.processedBucketArn}/${modelVersionKey(f)}`) },
    { sid: 'TransformLease', actions: ['s3:GetObject', 's3:PutObject'], resources: objects(r.processedBucketArn, stageLeasePrefix(BACKFILL_LEASE_STAGE)) },
    {
      sid: 'TemporaryPartitions',
      actions: ['glue:BatchCreatePartition'],
      resources: [...database, table(`${ATHENA_TEMP_TABLE_PREFIX}*`)],
    },
    // aws/glue-catalog.ts replacePartitions. The view: switched in one UpdateTable; created (and a fact
    // table from before the view dropped) by ensureFactView when no batch has published it yet.
    { sid: 'SwitchFactViews', actions: ['glue:CreateTable', 'glue:UpdateTable', 'glue:DeleteTable'], resources: [...database, ...facts.map((f) => table(f))] },
    // The new `<fact>_batches_<hash12>` built with its partitions (one a crashed attempt left dropped first),
    // the stack's `<fact>_batches` created if missing and emptied, an earlier backfill's dropped (cleanUpFact).
    {
      sid: 'BuildBatchesTables',
      actions: ['glue:CreateTable', 'glue:DeleteTable', 'glue:BatchCreatePartition', 'glue:BatchDeletePartition'],
      resources: [...database, ...facts.map((f) => table(`${factDataTablePrefixes(f)[0]}*`))],
    },
    // A compacted fact's months tables, which the view no longer reads once switched (cleanUpFact).
    { sid: 'DropMonthsTables', actions: ['glue:DeleteTable'], resources: [...database, ...facts.map((f) => table(`${factDataTablePrefixes(f)[1]}*`))] },
  ];
}

/** The three managed policies an operator attaches (README "Watching it"); the stack outputs their ARNs. */
export class OperatorPolicies extends Construct {
  readonly read: IamPolicy;
  readonly run: IamPolicy;
  readonly backfill: IamPolicy;

  constructor(scope: Construct, id: string, props: { namePrefix: string; resources: OperatorResources }) {
    super(scope, id);
    this.read = new IamPolicy(this, 'read', {
      name: `${props.namePrefix}-operator`,
      description: 'Totes Lake operator, read-only: totes status, verify, query and docs --aws.',
      policy: policyDocument(this, 'read-document', operatorReadStatements(props.resources)).json,
    });
    this.run = new IamPolicy(this, 'run', {
      name: `${props.namePrefix}-operator-run`,
      description: 'Totes Lake operator, starting work: invoke the extract. Attach with the read-only policy.',
      policy: policyDocument(this, 'run-document', operatorRunStatements(props.resources)).json,
    });
    this.backfill = new IamPolicy(this, 'backfill', {
      name: `${props.namePrefix}-operator-backfill`,
      description: 'Totes Lake operator, backfill: totes backfill <fact> --aws rebuilds a fact and switches its Glue view. Attach with the read-only policy.',
      policy: policyDocument(this, 'backfill-document', operatorBackfillStatements(props.resources)).json,
    });
  }
}
