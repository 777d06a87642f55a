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
 * What the extract receives on each tick. EventBridge Scheduler delivers a target's `input`
 * verbatim (there is no event envelope around it), and the extract handler accepts only a
 * "Scheduled Event" (functions/aws/lambda-events.ts): so the input is that envelope, filled in by
 * Scheduler's context attributes (the tick's scheduled time, this schedule's ARN, the execution id).
 */
export const SCHEDULED_EVENT = {
  version: '0',
  id: '<aws.scheduler.execution-id>',
  'detail-type': 'Scheduled Event',
  source: 'aws.scheduler',
  time: '<aws.scheduler.scheduled-time>',
  resources: ['<aws.scheduler.schedule-arn>'],
  detail: {},
} as const;

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
        input: JSON.stringify(SCHEDULED_EVENT),
        retryPolicy: { maximumEventAgeInSeconds: 300, maximumRetryAttempts: 2 },
        deadLetterConfig: { arn: deadLetterQueue.arn },
      },
    });
  }
}
