import { ENV } from '../../functions/core/contract/runtime-contract';
import {
  EXTRACT_HEARTBEAT_PREFIX,
  EXTRACT_MANIFEST_PREFIX,
  extractHeartbeatKey,
  LEASES_PREFIX,
  leaseKey,
  MODELS_PREFIX,
  modelVersionKey,
  QUARANTINE_PREFIX,
  quarantineKey,
  RUNS_PREFIX,
  runRecordKey,
  TRANSFORM_MANIFEST_PREFIX,
} from '../../functions/core/lake/lake-layout';
import { Block, statementsOf, synthesizeStack } from './synthesized-stack';

/**
 * What each function's code does in the cloud, checked against what its role allows: the run
 * history every stage writes, the freshness the load measures, the leases and quarantine reports
 * of the transform, and the current-state views it creates through Athena.
 */
const s = synthesizeStack();
const stages = ['extract', 'transform', 'load'] as const;
const bucketArn = (suffix: string) => s.ref('aws_s3_bucket', s.idOf('aws_s3_bucket', (b) => String(b.bucket_prefix).endsWith(`-${suffix}-`)), 'arn');
const processed = bucketArn('processed');
const ingestion = bucketArn('ingestion');
const statements = (stage: string): Block[] => {
  const policy = Object.values(s.resources('aws_iam_role_policy')).find((p) => p.name === `${stage}-least-privilege`);
  if (!policy) throw new Error(`No least-privilege policy for ${stage}`);
  return statementsOf(s, policy.policy).filter((st) => st.effect !== 'Deny');
};
const allows = (stage: string, action: string, resource: string) =>
  statements(stage).some((st) => (st.actions as string[]).includes(action) && (st.resources as string[]).includes(resource));
const variables = (stage: string) => Object.values(s.resources('aws_lambda_function')).find((f) => f.function_name === `\${var.name_prefix}-${stage}`)!.environment.variables;

it.each(stages)('the %s function may add run records to runs/ in the processed bucket', (stage) => {
  expect(runRecordKey(new Date(), 'b').startsWith(RUNS_PREFIX)).toBe(true);
  expect(allows(stage, 's3:PutObject', `${processed}/${RUNS_PREFIX}*`)).toBe(true);
  expect(variables(stage)[ENV.processedBucket]).toBeDefined();
});

it('the load function can read the transform manifest (the bound) and the heartbeat it measures freshness from', () => {
  expect(allows('load', 's3:GetObject', `${processed}/${TRANSFORM_MANIFEST_PREFIX}*`)).toBe(true);
  // A transform manifest written before it carried the bound sends freshness to the extract manifest.
  expect(variables('load')[ENV.ingestionBucket]).toBeDefined();
  expect(allows('load', 's3:GetObject', `${ingestion}/${EXTRACT_MANIFEST_PREFIX}*`)).toBe(true);
  expect(extractHeartbeatKey(1).startsWith(EXTRACT_HEARTBEAT_PREFIX)).toBe(true);
  expect(allows('load', 's3:GetObject', `${processed}/${EXTRACT_HEARTBEAT_PREFIX}*`)).toBe(true);
  // A missing heartbeat must read as 404, not 403: that takes s3:ListBucket on the bucket.
  expect(allows('load', 's3:ListBucket', processed)).toBe(true);
});

it('the extract function may write its heartbeat when it finds nothing new, and read it back', () => {
  expect(allows('extract', 's3:PutObject', `${processed}/${EXTRACT_HEARTBEAT_PREFIX}*`)).toBe(true);
  // The next extract's late-commit band starts from the quiet extract's snapshot (readExtractHeartbeat).
  expect(allows('extract', 's3:GetObject', `${processed}/${EXTRACT_HEARTBEAT_PREFIX}*`)).toBe(true);
});

it('the transform function may write its batch leases and quarantine reports, and read them back', () => {
  expect(leaseKey('transform', 1, 1).startsWith(LEASES_PREFIX)).toBe(true);
  expect(quarantineKey('b').startsWith(QUARANTINE_PREFIX)).toBe(true);
  for (const prefix of [LEASES_PREFIX, QUARANTINE_PREFIX]) {
    expect(allows('transform', 's3:PutObject', `${processed}/${prefix}*`)).toBe(true);
    expect(allows('transform', 's3:GetObject', `${processed}/${prefix}*`)).toBe(true);
  }
  expect(allows('transform', 's3:ListBucket', processed)).toBe(true);
});

it('the transform function may read the model versions a backfill published, not write them', () => {
  expect(modelVersionKey('fact_sales_order').startsWith(MODELS_PREFIX)).toBe(true);
  expect(allows('transform', 's3:GetObject', `${processed}/${MODELS_PREFIX}*`)).toBe(true);
  expect(allows('transform', 's3:PutObject', `${processed}/${MODELS_PREFIX}*`)).toBe(false);
});

it('the transform function can create and describe the current-state views (Athena DDL, Glue tables)', () => {
  const workgroup = s.ref('aws_athena_workgroup', Object.keys(s.resources('aws_athena_workgroup'))[0], 'arn');
  expect(allows('transform', 'athena:StartQueryExecution', workgroup)).toBe(true);
  const processedDb = s.ref('aws_glue_catalog_database', s.idOf('aws_glue_catalog_database', (d) => String(d.name).endsWith('_processed')), 'name');
  const tables = statements('transform').find((st) => (st.resources as string[]).some((r) => r.endsWith(`:table/${processedDb}/*`)));
  expect(tables?.actions).toEqual(expect.arrayContaining(['glue:GetTable', 'glue:CreateTable', 'glue:UpdateTable']));
});

it('the transform function can switch a fact\'s view: build a months or batches table, switch the view, drop what it no longer reads (glue-catalog.ts)', () => {
  const processedDb = s.ref('aws_glue_catalog_database', s.idOf('aws_glue_catalog_database', (d) => String(d.name).endsWith('_processed')), 'name');
  const tables = statements('transform').find((st) => (st.resources as string[]).some((r) => r.endsWith(`:table/${processedDb}/*`)));
  expect(tables?.actions).toEqual(expect.arrayContaining(['glue:GetTables', 'glue:CreateTable', 'glue:UpdateTable', 'glue:DeleteTable', 'glue:BatchCreatePartition', 'glue:BatchDeletePartition', 'glue:GetPartitions']));
  // The load reads the catalog only: it never switches a view.
  expect(statements('load').flatMap((st) => st.actions as string[])).not.toContain('glue:UpdateTable');
});
