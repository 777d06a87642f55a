import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { SchedulerSchedule } from '@cdktf/provider-aws/lib/scheduler-schedule';
import { Construct } from 'constructs';
import { AwsContext, policyDocument, stackArn } from '../access/policy-document';
import type { PipelineFunction } from '../compute/pipeline-function';
import { KEY_USE_ACTIONS } from '../security/lake-key';

export interface StageScheduleProps {
  name: string;
  /** The pipeline's tick, `rate(5 minutes)` by default (variable extract_schedule). */
  scheduleExpression: string;
  target: PipelineFunction;
  /** The stack's key, which encrypts the target's DLQ. */
  kmsKeyArn: string;
  aws: AwsContext;
}

/** ARN of a schedule in the default group, known before it exists (the role's trust policy names it). */
export function scheduleArn(aws: AwsContext, name: string): string {
  return stackArn(aws, 'scheduler', `schedule/default/${name}`);
}

/**
 * What a stage receives on each tick. EventBridge Scheduler delivers a target's `input`
 * verbatim (there is no event envelope around it), and the handlers accept a "Scheduled Event"
 * (functions/aws/lambda-events.ts): so the input is that envelope, filled in by Scheduler's
 * context attributes (the tick's scheduled time, this schedule's ARN, the execution id).
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
 * EventBridge Scheduler ticks a stage on a fixed rate: the extract, whose tick is its only
 * trigger, and the transform and the load besides the manifest that normally starts them. Every
 * stage takes whatever is pending on a tick, so a transform or load whose run failed past its
 * retries, or whose trigger was lost, resumes on the next tick once the cause is gone, quiet
 * source or not; with nothing pending the transform returns at once and the load only measures
 * freshness. Reserved concurrency 1 keeps a tick from racing a run in progress: it waits in
 * Lambda's async queue, then finds nothing left to do.
 *
 * Why a schedule per stage rather than the extract invoking the next stage: each stage then heals
 * on its own (a totesys outage that fails every extract does not keep a pending load from running,
 * nor the load from measuring freshness), no function may invoke another, and it is one mechanism
 * for the three.
 *
 * The scheduler's role may invoke that one function and drop undeliverable ticks into its DLQ
 * (encrypted: so also KEY_USE_ACTIONS on the stack's key), nothing else; only this schedule, in this
 * account, may assume it (aws:SourceAccount and aws:SourceArn, against the confused deputy). A
 * missed tick is not retried for long: the next one, minutes later, does the same work.
 */
export class StageSchedule extends Construct {
  readonly schedule: SchedulerSchedule;

  constructor(scope: Construct, id: string, props: StageScheduleProps) {
    super(scope, id);
    const { fn, deadLetterQueue, stage } = props.target;
    const Stage = `${stage[0].toUpperCase()}${stage.slice(1)}`;
    const role = new IamRole(this, 'role', {
      name: `${props.name}-role`,
      description: `Lets EventBridge Scheduler invoke the Totes Lake ${stage}.`,
      assumeRolePolicy: policyDocument(this, 'assume-role', [{
        actions: ['sts:AssumeRole'],
        principals: [{ type: 'Service', identifiers: ['scheduler.amazonaws.com'] }],
        conditions: [
          { test: 'StringEquals', variable: 'aws:SourceAccount', values: [props.aws.accountId] },
          { test: 'ArnEquals', variable: 'aws:SourceArn', values: [scheduleArn(props.aws, props.name)] },
        ],
      }]).json,
    });
    new IamRolePolicy(this, 'policy', {
      name: `invoke-${stage}`,
      role: role.id,
      policy: policyDocument(this, 'policy-document', [
        { sid: `Invoke${Stage}`, actions: ['lambda:InvokeFunction'], resources: [fn.arn] },
        { sid: `${Stage}DeadLetterQueue`, actions: ['sqs:SendMessage'], resources: [deadLetterQueue.arn] },
        { sid: 'EncryptDeadLetters', actions: [...KEY_USE_ACTIONS], resources: [props.kmsKeyArn] },
      ]).json,
    });
    this.schedule = new SchedulerSchedule(this, 'schedule', {
      name: props.name,
      description: stage === 'extract' ? 'Runs the Totes Lake extract.' : `Ticks the Totes Lake ${stage}: it resumes any pending batch.`,
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
