import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { Construct } from 'constructs';
import type { PipelineFunction } from '../compute/pipeline-function';
import { metric, MetricRef } from './pipeline-metrics';

export interface PipelineAlarmsProps {
  namePrefix: string;
  topicArn: string;
  functions: PipelineFunction[];
}

const FIVE_MINUTES = 300;

/**
 * Every condition an operator must hear about, each an alarm that e-mails on ALARM and on OK:
 *  - per function: any error; throttling sustained for 15 minutes (runs overlapping for a while,
 *    i.e. a stage slower than the schedule); any message in its dead-letter queue;
 *  - any Athena query that failed or was cancelled (QueryFailed);
 *  - no successful extract for 15 minutes, missing data counting as breaching: the schedule stopped
 *    (a stopped schedule, a broken deploy or a function that never starts emits nothing at all), or
 *    every extract fails. An extract that finds nothing new succeeds, so a quiet source never fires it;
 *  - freshness past the 30-minute SLA: FreshnessSeconds (now − the source instant the warehouse
 *    reflects, core/operate/freshness.ts) above 1800. A quiet source keeps it within one tick, so
 *    this fires only when the warehouse really is behind: a stuck or quarantined batch, a stage
 *    failing every tick, extracts stopped, or a transaction left open on totesys;
 *  - freshness unmeasured for 30 minutes: the load emits FreshnessSeconds on every tick, so its
 *    silence means the load's schedule stopped or the load cannot measure (warehouse or lake out
 *    of reach); the freshness alarm alone would stay quiet then.
 * None fires on a healthy pipeline over a quiet source (test/infra/alarms.test.ts evaluates them).
 */
export class PipelineAlarms extends Construct {
  readonly alarms: CloudwatchMetricAlarm[] = [];

  constructor(scope: Construct, id: string, private readonly props: PipelineAlarmsProps) {
    super(scope, id);
    for (const f of props.functions) {
      const lambda = (metricName: string): MetricRef => ({ namespace: 'AWS/Lambda', metricName, dimensions: { FunctionName: f.fn.functionName } });
      this.alarm(`${f.stage}-errors`, {
        description: `The ${f.stage} function failed. Read its log group ${f.logGroup.name} for the table, batch and remedy.`,
        metric: lambda('Errors'), statistic: 'Sum', comparison: 'GreaterThanOrEqualToThreshold', threshold: 1, periods: 1,
      });
      this.alarm(`${f.stage}-throttles`, {
        description: `The ${f.stage} function has been throttled for 15 minutes: runs overlap (reserved concurrency 1) because a run takes longer than the interval between triggers.`,
        metric: lambda('Throttles'), statistic: 'Sum', comparison: 'GreaterThanOrEqualToThreshold', threshold: 1, periods: 3,
      });
      this.alarm(`${f.stage}-dlq`, {
        description: `Events for the ${f.stage} function failed every retry and wait in ${f.deadLetterQueue.name}. Fix the cause, then redrive or re-run the batch.`,
        metric: { namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesVisible', dimensions: { QueueName: f.deadLetterQueue.name } },
        statistic: 'Maximum', comparison: 'GreaterThanThreshold', threshold: 0, periods: 1,
      });
    }
    this.alarm('athena-query-failed', {
      description: 'An Athena query of the transform failed or was cancelled (bytes-scanned cutoff, SQL error, capacity). See the transform log for the statement.',
      metric: metric.queryFailed(), statistic: 'Sum', comparison: 'GreaterThanOrEqualToThreshold', threshold: 1, periods: 1,
    });
    this.alarm('no-successful-extract', {
      description: 'No extract has succeeded for 15 minutes (one that finds nothing new succeeds too): the schedule stopped, or the source database, its secret or the function is broken. See the extract log; the schedule is <prefix>-extract-schedule.',
      metric: metric.extractSucceeded(), statistic: 'Sum', comparison: 'LessThanThreshold', threshold: 1, periods: 3,
      treatMissingData: 'breaching',
    });
    this.alarm('freshness', {
      description: 'The warehouse reflects totesys as of more than 30 minutes ago (a quiet source stays within one tick): a batch is stuck or quarantined, the transform or load fails every tick, extracts stopped or fail, or a transaction open on totesys holds the extract bound back. See the other alarms, the transform and load logs, and quarantine/ in the processed bucket.',
      metric: metric.freshness(), statistic: 'Maximum', comparison: 'GreaterThanThreshold', threshold: 30 * 60, periods: 1,
    });
    this.alarm('freshness-unmeasured', {
      description: 'No load has measured freshness for 30 minutes, though it does on every tick: its schedule (<prefix>-load-schedule) stopped, or the load cannot reach the warehouse or read the lake. See the load log.',
      metric: metric.freshness(), statistic: 'SampleCount', comparison: 'LessThanThreshold', threshold: 1, periods: 6,
      treatMissingData: 'breaching',
    });
  }

  private alarm(name: string, a: {
    description: string; metric: MetricRef; statistic: string; comparison: string; threshold: number; periods: number;
    treatMissingData?: string;
  }): void {
    this.alarms.push(new CloudwatchMetricAlarm(this, name, {
      alarmName: `${this.props.namePrefix}-${name}`,
      alarmDescription: a.description,
      namespace: a.metric.namespace,
      metricName: a.metric.metricName,
      dimensions: a.metric.dimensions,
      statistic: a.statistic,
      period: FIVE_MINUTES,
      evaluationPeriods: a.periods,
      datapointsToAlarm: a.periods,
      comparisonOperator: a.comparison,
      threshold: a.threshold,
      treatMissingData: a.treatMissingData ?? 'notBreaching',
      alarmActions: [this.props.topicArn],
      okActions: [this.props.topicArn],
    }));
  }
}
