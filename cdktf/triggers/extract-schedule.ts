import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { SchedulerSchedule } from '@cdktf/provider-aws/lib/scheduler-schedule';
import { Construct } from 'constructs';
import { policyDocument } from '../access/policy-document';
import type { PipelineFunction } from '../compute/pipeline-function';

export interface ExtractScheduleProps {
  name: string;
  /** `rate(5 minutes)` by default (variable extract_schedule). */
  scheduleExpression: string;
  extract: PipelineFunction;
}

/**
 * EventBridge Scheduler runs the extract on a fixed rate. The scheduler's own role may invoke that
 * one function and drop undeliverable invocations into the extract's DLQ, nothing else. A missed
 * tick is not retried for long: the next tick, minutes later, does the same work.
 */
export class ExtractSchedule extends Construct {
  readonly schedule: SchedulerSchedule;

  constructor(scope: Construct, id: string, props: ExtractScheduleProps) {
    super(scope, id);
    const { fn, deadLetterQueue } = props.extract;
    const role = new IamRole(this, 'role', {
      name: `${props.name}-role`,
      description: 'Lets EventBridge Scheduler invoke the Totes Lake extract.',
      assumeRolePolicy: policyDocument(this, 'assume-role', [{
        actions: ['sts:AssumeRole'],
        principals: [{ type: 'Service', identifiers: ['scheduler.amazonaws.com'] }],
      }]).json,
    });
    new IamRolePolicy(this, 'policy', {
      name: 'invoke-extract',
      role: role.id,
      policy: policyDocument(this, 'policy-document', [
        { sid: 'InvokeExtract', actions: ['lambda:InvokeFunction'], resources: [fn.arn] },
        { sid: 'ExtractDeadLetterQueue', actions: ['sqs:SendMessage'], resources: [deadLetterQueue.arn] },
      ]).json,
    });
    this.schedule = new SchedulerSchedule(this, 'schedule', {
      name: props.name,
      description: 'Runs the Totes Lake extract.',
      scheduleExpression: props.scheduleExpression,
      state: 'ENABLED',
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: fn.arn,
        roleArn: role.arn,
        input: JSON.stringify({ source: 'schedule' }),
        retryPolicy: { maximumEventAgeInSeconds: 300, maximumRetryAttempts: 2 },
        deadLetterConfig: { arn: deadLetterQueue.arn },
      },
    });
  }
}
