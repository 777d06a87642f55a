import { IamPolicy } from '@cdktf/provider-aws/lib/iam-policy';
import { Construct } from 'constructs';
import {
  CHANGES_PREFIX,
  CURRENT_PREFIX,
  DELETIONS_PREFIX,
  EXTRACT_HEARTBEAT_PREFIX,
  EXTRACT_MANIFEST_PREFIX,
  MODELS_PREFIX,
  QUARANTINE_PREFIX,
  RAW_PREFIX,
  RUNS_PREFIX,
  STAR_PREFIX,
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
 * Starting work outside the schedule: invoking the extract function (the entry point of the
 * coming `totes backfill`). Attached beside the read-only policy, never instead of it.
 */
export function operatorRunStatements(r: OperatorResources): Statement[] {
  return [{ sid: 'InvokeExtract', actions: ['lambda:InvokeFunction'], resources: [r.extractFunctionArn] }];
}

/** The two managed policies an operator attaches (README "Watching it"); the stack outputs their ARNs. */
export class OperatorPolicies extends Construct {
  readonly read: IamPolicy;
  readonly run: IamPolicy;

  constructor(scope: Construct, id: string, props: { namePrefix: string; resources: OperatorResources }) {
    super(scope, id);
    this.read = new IamPolicy(this, 'read', {
      name: `${props.namePrefix}-operator`,
      description: 'Totes Lake operator, read-only: totes status, verify, query and docs --aws.',
      policy: policyDocument(this, 'read-document', operatorReadStatements(props.resources)).json,
    });
    this.run = new IamPolicy(this, 'run', {
      name: `${props.namePrefix}-operator-run`,
      description: 'Totes Lake operator, starting work: invoke the extract (the coming totes backfill). Attach with the read-only policy.',
      policy: policyDocument(this, 'run-document', operatorRunStatements(props.resources)).json,
    });
  }
}
