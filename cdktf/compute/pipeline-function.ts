import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { LambdaFunction } from '@cdktf/provider-aws/lib/lambda-function';
import { LambdaFunctionEventInvokeConfig } from '@cdktf/provider-aws/lib/lambda-function-event-invoke-config';
import { SqsQueue } from '@cdktf/provider-aws/lib/sqs-queue';
import { Fn } from 'cdktf';
import { Construct } from 'constructs';
import { AwsContext, policyDocument, Statement, stackArn } from '../access/policy-document';
import { KEY_USE_ACTIONS } from '../security/lake-key';
import { LambdaBundle } from './lambda-bundle';

export type Stage = 'extract' | 'transform' | 'load';

export const LAMBDA_RUNTIME = 'nodejs22.x';
export const LAMBDA_HANDLER = 'index.handler';

export interface PipelineFunctionProps {
  stage: Stage;
  functionName: string;
  description: string;
  memoryMb: number;
  timeoutSeconds: number;
  /** Reserved concurrency; 1 serializes runs (a second trigger waits in the async queue). */
  reservedConcurrency: number;
  /** Retries of a failed async invocation before the event goes to the DLQ. */
  maxRetryAttempts: number;
  environment: Record<string, string>;
  /** What the function may do besides writing its own logs and DLQ (access/stage-permissions.ts). */
  statements: Statement[];
  codeBucket: string;
  distDir: string;
  logRetentionDays: number;
  subnetIds: string[];
  securityGroupIds: string[];
  /** The stack's key: the log group and the DLQ are encrypted with it, and the role may use it. */
  kmsKeyArn: string;
  aws: AwsContext;
}

/**
 * One stage of the pipeline as a Lambda function with everything it owns: its role (assumable by
 * Lambda only, with an inline least-privilege policy), its log group (created first, so retention
 * applies from the first line), its dead-letter queue for async invokes that fail every retry, and
 * its bundle in the code bucket. Log group and DLQ are encrypted with the stack's key, which the
 * role may use for exactly KEY_USE_ACTIONS (read and write SSE-KMS objects, send to its DLQ).
 * Optional VPC settings put it beside a private RDS.
 */
export class PipelineFunction extends Construct {
  readonly fn: LambdaFunction;
  readonly role: IamRole;
  readonly logGroup: CloudwatchLogGroup;
  readonly deadLetterQueue: SqsQueue;
  readonly stage: Stage;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    this.stage = props.stage;

    this.logGroup = new CloudwatchLogGroup(this, 'logs', {
      name: `/aws/lambda/${props.functionName}`,
      retentionInDays: props.logRetentionDays,
      kmsKeyId: props.kmsKeyArn,
    });

    this.deadLetterQueue = new SqsQueue(this, 'dlq', {
      name: `${props.functionName}-dlq`,
      messageRetentionSeconds: 14 * 24 * 3600,
      kmsMasterKeyId: props.kmsKeyArn,
      kmsDataKeyReusePeriodSeconds: 300,
    });

    const assume = policyDocument(this, 'assume-role', [{
      actions: ['sts:AssumeRole'],
      principals: [{ type: 'Service', identifiers: ['lambda.amazonaws.com'] }],
    }]);
    this.role = new IamRole(this, 'role', {
      name: `${props.functionName}-role`,
      description: `Runs the ${props.stage} function of Totes Lake.`,
      assumeRolePolicy: assume.json,
    });

    const own: Statement[] = [
      { sid: 'OwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [`${this.logGroup.arn}:*`] },
      { sid: 'OwnDeadLetterQueue', actions: ['sqs:SendMessage'], resources: [this.deadLetterQueue.arn] },
      { sid: 'UseStackKey', actions: [...KEY_USE_ACTIONS], resources: [props.kmsKeyArn] },
    ];
    const policy = new IamRolePolicy(this, 'policy', {
      name: `${props.stage}-least-privilege`,
      role: this.role.id,
      policy: policyDocument(this, 'policy-document', [...own, ...props.statements]).json,
    });

    // In a VPC, Lambda manages the function's network interfaces with the role's credentials, in the
    // subnets and security groups the stack was given and nowhere else: an interface may be created
    // only in those subnets with those groups, and only interfaces in those subnets may be deleted
    // or re-addressed (ec2:Subnet). The two Describe calls have no resource-level permissions, hence
    // their `*`. The policy exists only when subnets are given.
    const ec2 = (resource: string) => stackArn(props.aws, 'ec2', resource);
    const { partition, region, accountId } = props.aws;
    const subnetArns = Fn.formatlist('arn:%s:ec2:%s:%s:subnet/%s', [partition, region, accountId, props.subnetIds]);
    const securityGroupArns = Fn.formatlist('arn:%s:ec2:%s:%s:security-group/%s', [partition, region, accountId, props.securityGroupIds]);
    const vpcPolicy = new IamRolePolicy(this, 'vpc-policy', {
      count: Fn.min([Fn.lengthOf(props.subnetIds), 1]),
      name: `${props.stage}-vpc-network-interfaces`,
      role: this.role.id,
      policy: policyDocument(this, 'vpc-policy-document', [
        { sid: 'DescribeNetwork', actions: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'], resources: ['*'] },
        { sid: 'CreateInStackSubnets', actions: ['ec2:CreateNetworkInterface'], resources: Fn.concat([subnetArns, securityGroupArns]) },
        {
          sid: 'ManageInterfacesInStackSubnets',
          actions: ['ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
          resources: [ec2('network-interface/*')],
          conditions: [{ test: 'ArnEquals', variable: 'ec2:Subnet', values: subnetArns }],
        },
      ]).json,
    });

    const bundle = new LambdaBundle(this, 'bundle', { name: props.stage, distDir: props.distDir, codeBucket: props.codeBucket });

    this.fn = new LambdaFunction(this, 'function', {
      functionName: props.functionName,
      description: props.description,
      role: this.role.arn,
      runtime: LAMBDA_RUNTIME,
      handler: LAMBDA_HANDLER,
      architectures: ['x86_64'],
      s3Bucket: bundle.object.bucket,
      s3Key: bundle.object.key,
      sourceCodeHash: bundle.sourceCodeHash,
      memorySize: props.memoryMb,
      timeout: props.timeoutSeconds,
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: { variables: props.environment },
      deadLetterConfig: { targetArn: this.deadLetterQueue.arn },
      loggingConfig: { logFormat: 'Text', logGroup: this.logGroup.name },
      vpcConfig: { subnetIds: props.subnetIds, securityGroupIds: props.securityGroupIds },
      // The policies must exist before the first invocation can log or reach the VPC.
      dependsOn: [this.logGroup, policy, vpcPolicy],
    });

    new LambdaFunctionEventInvokeConfig(this, 'async', {
      functionName: this.fn.functionName,
      maximumRetryAttempts: props.maxRetryAttempts,
      maximumEventAgeInSeconds: 6 * 3600,
    });
  }
}
