import { IResolvable, TerraformVariable } from 'cdktf';
import { Construct } from 'constructs';

/**
 * Every value an operator chooses at deploy time, as Terraform input variables.
 *
 * They are Terraform variables rather than synth-time settings so that one synthesized stack can be
 * planned for any account (`TF_VAR_alarm_email=… terraform plan`) and so that secrets stay out of the
 * JSON: only ARNs cross this boundary, the values are read by the functions at run time.
 */
export class DeploymentVariables extends Construct {
  readonly region: string;
  readonly namePrefix: string;
  readonly alarmEmail: string;
  readonly sourceSecretArn: string;
  readonly warehouseSecretArn: string;
  readonly warehouseSchema: string;
  readonly commitLagSeconds: number;
  readonly extractSchedule: string;
  readonly rawPartitionStartDate: string;
  readonly ingestionRetentionDays: number;
  readonly auditRetentionDays: number;
  /** The break-glass role's ARN as given, or "" (the stack then names `<prefix>-break-glass`). */
  readonly breakGlassRoleArn: string;
  readonly logRetentionDays: number;
  readonly athenaBytesScannedCutoff: number;
  readonly athenaResultsExpirationDays: number;
  readonly supersededExpirationDays: number;
  readonly lambdaSubnetIds: string[];
  readonly lambdaSecurityGroupIds: string[];
  readonly lambdaDistDir: string;
  readonly allowDestroyData: IResolvable;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    // Plain names (no construct hash), so operators can set them as TF_VAR_<name>.
    const v = (name: string, config: ConstructorParameters<typeof TerraformVariable>[2]) => {
      const variable = new TerraformVariable(this, name, config);
      variable.overrideLogicalId(name);
      return variable;
    };

    this.region = v('aws_region', {
      type: 'string', default: 'eu-west-2',
      description: 'AWS region of the whole stack (and of the totesys RDS when the functions run in its VPC).',
    }).stringValue;

    this.namePrefix = v('name_prefix', {
      type: 'string', default: 'totes-lake',
      description: 'Prefix of every resource name; change it to run a second copy (e.g. totes-lake-dev) in one account.',
      validation: [{
        condition: '${can(regex("^[a-z][a-z0-9-]{2,20}$", var.name_prefix))}',
        errorMessage: 'name_prefix must be 3-21 characters of lower-case letters, digits and hyphens, starting with a letter (it becomes part of bucket names).',
      }],
    }).stringValue;

    this.alarmEmail = v('alarm_email', {
      type: 'string',
      description: 'Address that receives every alarm (confirm the subscription e-mail AWS sends after the first deploy).',
      validation: [{
        condition: '${can(regex("^[^@\\\\s]+@[^@\\\\s]+\\\\.[^@\\\\s]+$", var.alarm_email))}',
        errorMessage: 'alarm_email must be an e-mail address.',
      }],
    }).stringValue;

    const secretArn = (name: string, what: string) => v(name, {
      type: 'string',
      description: `Secrets Manager ARN of the ${what} connection, JSON {host, port, dbname, username, password}. Only the ARN is in Terraform state; the functions read the value at run time.`,
      validation: [{
        condition: `\${can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.${name}))}`,
        errorMessage: `${name} must be the ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>).`,
      }],
    }).stringValue;
    this.sourceSecretArn = secretArn('source_secret_arn', 'totesys (read-only source)');
    this.warehouseSecretArn = secretArn('warehouse_secret_arn', 'warehouse PostgreSQL');

    this.warehouseSchema = v('warehouse_schema', {
      type: 'string', default: 'public', description: 'PostgreSQL schema of the warehouse tables.',
    }).stringValue;

    this.commitLagSeconds = v('commit_lag_seconds', {
      type: 'number', default: 0,
      description: "Seconds the extract's upper bound stays behind the snapshot clock (default 0, as on the CLI). Not needed for correctness: versions a skewed writer commits below the cursor are rescued by the next batch; a lag only makes rescues rarer and costs its length in freshness.",
    }).numberValue;

    this.extractSchedule = v('extract_schedule', {
      type: 'string', default: 'rate(5 minutes)',
      description: 'EventBridge Scheduler expression of the pipeline tick: it runs the extract, and ticks the transform and load so they resume pending batches. The "no successful extract" and "freshness unmeasured" alarms assume at most 15 minutes between ticks.',
    }).stringValue;

    this.rawPartitionStartDate = v('raw_partition_start_date', {
      type: 'string', default: '2022-01-01',
      description: 'First dt=YYYY-MM-DD partition the raw Glue tables project (partition projection range start).',
      validation: [{
        condition: '${can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.raw_partition_start_date))}',
        errorMessage: 'raw_partition_start_date must be a date written YYYY-MM-DD.',
      }],
    }).stringValue;

    this.ingestionRetentionDays = v('ingestion_retention_days', {
      type: 'number', default: 365,
      description: 'Default Object Lock retention (governance mode) of every raw file and manifest in the ingestion bucket.',
    }).numberValue;

    this.auditRetentionDays = v('audit_retention_days', {
      type: 'number', default: 365,
      description: 'Object Lock retention (governance mode) of the lake access log (CloudTrail data events of the ingestion and processed buckets), after which its files expire.',
    }).numberValue;

    this.breakGlassRoleArn = v('break_glass_role_arn', {
      type: 'string', default: '',
      description: 'The one IAM role that may bypass governance retention, change retention or legal holds, or rewrite the bucket policy of the ingestion and audit buckets (teardown, emergencies). Empty: arn:<partition>:iam::<account>:role/<name_prefix>-break-glass, which need not exist until it is needed.',
      validation: [{
        condition: '${var.break_glass_role_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.break_glass_role_arn))}',
        errorMessage: 'break_glass_role_arn must be empty or the ARN of an IAM role (arn:aws:iam::<account>:role/<name>).',
      }],
    }).stringValue;

    this.logRetentionDays = v('log_retention_days', {
      type: 'number', default: 30, description: 'Retention of the Lambda log groups, in days.',
    }).numberValue;

    this.athenaBytesScannedCutoff = v('athena_bytes_scanned_cutoff', {
      type: 'number', default: 10 * 1024 ** 3,
      description: 'Per-query bytes-scanned cutoff of the Athena workgroup (a runaway query is cancelled past it). Default 10 GiB.',
      validation: [{
        condition: '${var.athena_bytes_scanned_cutoff >= 10485760}',
        errorMessage: 'athena_bytes_scanned_cutoff must be at least 10 MB (10485760), the Athena minimum.',
      }],
    }).numberValue;

    this.athenaResultsExpirationDays = v('athena_results_expiration_days', {
      type: 'number', default: 7, description: 'Days Athena query results are kept before they expire.',
    }).numberValue;

    this.supersededExpirationDays = v('superseded_expiration_days', {
      type: 'number', default: 7,
      description: 'Days a processed file the pipeline marked superseded (a fact month a later compaction replaced) stays readable before it expires; queries already reading it finish first.',
      validation: [{ condition: '${var.superseded_expiration_days >= 1}', errorMessage: 'superseded_expiration_days must be at least 1.' }],
    }).numberValue;

    this.lambdaSubnetIds = v('lambda_subnet_ids', {
      type: 'list(string)', default: [],
      description: 'Private subnets for the functions when totesys or the warehouse is a private RDS; empty = no VPC.',
    }).listValue;

    this.lambdaSecurityGroupIds = v('lambda_security_group_ids', {
      type: 'list(string)', default: [],
      description: 'Security groups of the functions when lambda_subnet_ids is set (must reach PostgreSQL on 5432 and S3/Secrets Manager/Glue/Athena via NAT or VPC endpoints).',
    }).listValue;

    // Terraform resolves file paths against its working directory, cdktf.out/stacks/<stack>/, which
    // is three levels below the repository root.
    this.lambdaDistDir = v('lambda_dist_dir', {
      type: 'string', default: '../../../dist/lambdas',
      description: 'Folder holding extract.zip, transform.zip and load.zip (npm run build:lambdas), relative to cdktf.out/stacks/totes-lake/ or absolute.',
    }).stringValue;

    this.allowDestroyData = v('allow_destroy_data', {
      type: 'bool', default: false,
      description: 'Let `terraform destroy` empty the ingestion, processed and audit buckets. Objects under Object Lock retention still need the governance bypass, which only the break-glass role has (see README, "Teardown").',
    }).booleanValue;
  }
}

