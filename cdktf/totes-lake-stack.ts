import { DataAwsCallerIdentity } from '@cdktf/provider-aws/lib/data-aws-caller-identity';
import { DataAwsPartition } from '@cdktf/provider-aws/lib/data-aws-partition';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { Fn, TerraformOutput, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { ENV, METRICS } from '../functions/core/contract/runtime-contract';
import { STACK_OUTPUTS, STACK_VERSION } from '../functions/core/contract/stack-contract';
import { EXTRACT_MANIFEST_PREFIX, TRANSFORM_MANIFEST_PREFIX } from '../functions/core/lake/lake-layout';
import { OperatorPolicies } from './access/operator-policy';
import type { AwsContext } from './access/policy-document';
import { extractStatements, loadStatements, PipelineResources, transformStatements } from './access/stage-permissions';
import { LakeCatalog } from './catalog/lake-catalog';
import { PipelineFunction, PipelineFunctionProps, Stage } from './compute/pipeline-function';
import { DeploymentVariables } from './deployment-variables';
import { AlarmTopic } from './monitoring/alarm-topic';
import { PipelineAlarms } from './monitoring/pipeline-alarms';
import { PipelineDashboard } from './monitoring/pipeline-dashboard';
import { SERVICE_NAME } from './monitoring/pipeline-metrics';
import { PipelineWorkgroup } from './query/athena-workgroup';
import { SavedQueries } from './query/saved-queries';
import { AuditTrail } from './security/audit-trail';
import { LakeKey } from './security/lake-key';
import { configureStateBackend, StateBackendEnv } from './state-backend';
import { LakeBuckets } from './storage/lake-buckets';
import { ManifestTrigger } from './triggers/manifest-trigger';
import { StageSchedule } from './triggers/stage-schedule';

export const STACK_NAME = 'totes-lake';

/**
 * Sizing of each stage for a full first load (every row of totesys in one batch). The extract and
 * load stream rows; the transform mostly waits on Athena. All three run one at a time: batches
 * are published, transformed and loaded in order, and a trigger that arrives while a run is busy
 * waits in Lambda's async queue (retried for up to 6 hours) instead of racing it.
 */
const SIZING: Record<Stage, Pick<PipelineFunctionProps, 'memoryMb' | 'timeoutSeconds' | 'reservedConcurrency' | 'maxRetryAttempts' | 'description'>> = {
  extract: { memoryMb: 1024, timeoutSeconds: 900, reservedConcurrency: 1, maxRetryAttempts: 0, description: 'Totes Lake: totesys → ingestion bucket (one batch per run).' },
  transform: { memoryMb: 1024, timeoutSeconds: 900, reservedConcurrency: 1, maxRetryAttempts: 2, description: 'Totes Lake: raw batch → Parquet star schema via Athena.' },
  load: { memoryMb: 2048, timeoutSeconds: 900, reservedConcurrency: 1, maxRetryAttempts: 2, description: 'Totes Lake: star schema batch → warehouse PostgreSQL.' },
};

export interface TotesLakeStackOptions {
  /** Terraform state settings (state-backend.ts); local state when absent. */
  backend?: StateBackendEnv;
}

/** The whole AWS deployment of Totes Lake, one stack. */
export class TotesLakeStack extends TerraformStack {
  readonly vars: DeploymentVariables;
  readonly functions: Record<Stage, PipelineFunction>;

  constructor(scope: Construct, id: string, options: TotesLakeStackOptions = {}) {
    super(scope, id);
    configureStateBackend(this, id, options.backend ?? { TOTES_TF_STATE_KEY: 'totes-lake/terraform.tfstate' });
    const vars = (this.vars = new DeploymentVariables(this, 'vars'));
    new AwsProvider(this, 'aws', {
      region: vars.region,
      defaultTags: [{ tags: { project: 'totes-lake', stack: vars.namePrefix, 'managed-by': 'cdktf' } }],
    });
    const account = new DataAwsCallerIdentity(this, 'account');
    const partition = new DataAwsPartition(this, 'partition');
    const name = (suffix: string) => `${vars.namePrefix}-${suffix}`;
    const aws: AwsContext = { partition: partition.partition, region: vars.region, accountId: account.accountId };

    // One customer-managed key for the lake, its results, topic, queues, logs and access trail; the
    // trail's ARN is built from its name so that the key policy can name it before it exists.
    const trailName = name('lake-access');
    const trailArn = `arn:${aws.partition}:cloudtrail:${aws.region}:${aws.accountId}:trail/${trailName}`;
    const key = new LakeKey(this, 'lake-key', { namePrefix: vars.namePrefix, ...aws, trailArn }).key;
    // The one principal that may bypass or change Object Lock retention: break_glass_role_arn, or
    // (empty, the default) <prefix>-break-glass in this account.
    const breakGlassRoleArn = Fn.coalesce([
      vars.breakGlassRoleArn,
      Fn.format('arn:%s:iam::%s:role/%s-break-glass', [aws.partition, aws.accountId, vars.namePrefix]),
    ]) as string;

    const buckets = new LakeBuckets(this, 'buckets', vars, { kmsKeyArn: key.arn, breakGlassRoleArn });
    const ingestion = buckets.ingestion.bucket;
    const processed = buckets.processed.bucket;
    const results = buckets.athenaResults.bucket;
    const audit = new AuditTrail(this, 'audit', {
      namePrefix: vars.namePrefix,
      trailName,
      trailArn,
      partition: aws.partition,
      accountId: aws.accountId,
      recordedBucketArns: [ingestion.arn, processed.arn],
      kmsKeyArn: key.arn,
      breakGlassRoleArn,
      retentionDays: vars.auditRetentionDays,
      forceDestroy: vars.allowDestroyData,
    });

    const catalog = new LakeCatalog(this, 'catalog', {
      namePrefix: vars.namePrefix,
      ingestionBucket: ingestion.bucket,
      processedBucket: processed.bucket,
      rawPartitionStartDate: vars.rawPartitionStartDate,
    });
    const workgroup = new PipelineWorkgroup(this, 'athena', {
      name: vars.namePrefix,
      resultsBucket: results.bucket,
      bytesScannedCutoffPerQuery: vars.athenaBytesScannedCutoff,
      kmsKeyArn: key.arn,
    }).workgroup;
    new SavedQueries(this, 'saved-queries', { workgroup: workgroup.name, database: catalog.processedDatabase.name });

    const resources: PipelineResources = {
      ingestionBucketArn: ingestion.arn,
      processedBucketArn: processed.arn,
      athenaResultsBucketArn: results.arn,
      glueArnBase: `arn:${partition.partition}:glue:${vars.region}:${account.accountId}`,
      rawDatabase: catalog.rawDatabase.name,
      processedDatabase: catalog.processedDatabase.name,
      workgroupArn: workgroup.arn,
      sourceSecretArn: vars.sourceSecretArn,
      warehouseSecretArn: vars.warehouseSecretArn,
    };
    const environment: Record<string, string> = {
      [ENV.ingestionBucket]: ingestion.bucket,
      [ENV.processedBucket]: processed.bucket,
      [ENV.rawDatabase]: catalog.rawDatabase.name,
      [ENV.processedDatabase]: catalog.processedDatabase.name,
      [ENV.athenaWorkgroup]: workgroup.name,
      [ENV.warehouseSchema]: vars.warehouseSchema,
      [ENV.commitLagSeconds]: `${vars.commitLagSeconds}`,
      POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: METRICS.namespace,
      NODE_OPTIONS: '--enable-source-maps',
    };
    const stageFunction = (stage: Stage, statements: PipelineFunctionProps['statements'], env: Record<string, string>) =>
      new PipelineFunction(this, stage, {
        stage,
        functionName: name(stage),
        ...SIZING[stage],
        environment: { ...environment, ...env },
        statements,
        codeBucket: buckets.lambdaCode.bucket.bucket,
        distDir: vars.lambdaDistDir,
        logRetentionDays: vars.logRetentionDays,
        subnetIds: vars.lambdaSubnetIds,
        securityGroupIds: vars.lambdaSecurityGroupIds,
        kmsKeyArn: key.arn,
        aws,
      });
    this.functions = {
      extract: stageFunction('extract', extractStatements(resources), { [ENV.sourceSecretArn]: vars.sourceSecretArn }),
      transform: stageFunction('transform', transformStatements(resources), {}),
      load: stageFunction('load', loadStatements(resources), { [ENV.warehouseSecretArn]: vars.warehouseSecretArn }),
    };

    new ManifestTrigger(this, 'transform-trigger', {
      name: name('extract-manifest'),
      description: 'An extract manifest was published: transform that batch.',
      bucketName: ingestion.bucket,
      keyPrefix: EXTRACT_MANIFEST_PREFIX,
      target: this.functions.transform,
      accountId: aws.accountId,
    });
    new ManifestTrigger(this, 'load-trigger', {
      name: name('transform-manifest'),
      description: 'A transform manifest was published: load that batch.',
      bucketName: processed.bucket,
      keyPrefix: TRANSFORM_MANIFEST_PREFIX,
      target: this.functions.load,
      accountId: aws.accountId,
    });
    // One tick for the three: it runs the extract, and resumes whatever a transform or load left
    // pending (a run that failed past its retries, a lost trigger); the load measures freshness on each.
    for (const stage of ['extract', 'transform', 'load'] as const) {
      new StageSchedule(this, `${stage}-schedule`, { name: name(`${stage}-schedule`), scheduleExpression: vars.extractSchedule, target: this.functions[stage], kmsKeyArn: key.arn, aws });
    }

    const fns = Object.values(this.functions);
    const topic = new AlarmTopic(this, 'alarm-topic', { name: name('alarms'), email: vars.alarmEmail, kmsKeyArn: key.arn }).topic;
    new PipelineAlarms(this, 'alarms', { namePrefix: vars.namePrefix, topicArn: topic.arn, functions: fns });
    const dashboard = new PipelineDashboard(this, 'dashboard', { name: vars.namePrefix, region: vars.region, workgroupName: workgroup.name, functions: fns });

    const output = (id: string, value: string, description: string) => new TerraformOutput(this, id, { value, description });
    output('ingestion_bucket', ingestion.bucket, 'Immutable raw lake (Object Lock).');
    output('processed_bucket', processed.bucket, 'Star schema, current state, transform manifests, run history.');
    output('athena_results_bucket', results.bucket, 'Athena query results (expiring).');
    output('lambda_code_bucket', buckets.lambdaCode.bucket.bucket, 'Function bundles.');
    output('glue_raw_database', catalog.rawDatabase.name, 'Glue database of the raw_<table> tables.');
    output('glue_processed_database', catalog.processedDatabase.name, 'Glue database of the star tables.');
    output('athena_workgroup', workgroup.name, 'Athena workgroup (engine v3) to query the lake in.');
    for (const f of fns) output(`${f.stage}_function`, f.fn.functionName, `The ${f.stage} Lambda function.`);
    output('alarm_topic_arn', topic.arn, 'SNS topic every alarm notifies.');
    output('dashboard_name', dashboard.dashboard.dashboardName, 'CloudWatch dashboard of the pipeline.');
    output('lake_key_arn', key.arn, 'Customer-managed KMS key of the lake, results, topic, queues, logs and access trail.');
    output('audit_bucket', audit.bucket.bucket.bucket, 'Lake access log: CloudTrail data events of the ingestion and processed buckets (Object Lock).');
    output('lake_access_trail_arn', audit.trail.arn, 'CloudTrail trail recording every read and write of a lake object.');

    // What `totes <command> --aws` reads (functions/aws/stack-outputs.ts; names in stack-contract.ts).
    const operator = new OperatorPolicies(this, 'operator', {
      namePrefix: vars.namePrefix,
      resources: { ...resources, alarmArnPrefix: `arn:${partition.partition}:cloudwatch:${vars.region}:${account.accountId}:alarm:${vars.namePrefix}-`, extractFunctionArn: this.functions.extract.fn.arn, kmsKeyArns: [key.arn] },
    });
    output(STACK_OUTPUTS.stackVersion, `${STACK_VERSION}`, 'Version of the contract between this stack and the totes CLI (functions/core/contract/stack-contract.ts).');
    output(STACK_OUTPUTS.region, vars.region, 'Region of the stack.');
    output(STACK_OUTPUTS.namePrefix, vars.namePrefix, 'Prefix of every name in the stack (alarms: <prefix>-*).');
    output(STACK_OUTPUTS.sourceSecretArn, vars.sourceSecretArn, 'Secret of the totesys connection.');
    output(STACK_OUTPUTS.warehouseSecretArn, vars.warehouseSecretArn, 'Secret of the warehouse connection.');
    output(STACK_OUTPUTS.warehouseSchema, vars.warehouseSchema, 'Warehouse schema the load writes.');
    output(STACK_OUTPUTS.operatorPolicyArn, operator.read.arn, 'Attach to the operator: totes status, verify, query, docs, compile --aws (read-only).');
    output(STACK_OUTPUTS.operatorRunPolicyArn, operator.run.arn, 'Attach beside the operator policy to start work (invoke the extract).');
    output(STACK_OUTPUTS.operatorBackfillPolicyArn, operator.backfill.arn, 'Attach beside the operator policy to run totes backfill <fact> --aws (writes the fact\'s rebuilt partitions, its Glue view and tables).');
  }
}
