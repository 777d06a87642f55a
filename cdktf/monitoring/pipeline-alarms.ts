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
 *  - no successful extract for 15 minutes, missing data counting as breaching: a stopped schedule,
 *    a broken deploy or a function that never starts emits nothing at all;
 *  - freshness older than 30 minutes (newest source change loaded into the warehouse), in two
 *    alarms: a load reporting FreshnessSeconds > 1800, and no load at all for 30 minutes (no
 *    FreshnessSeconds datapoint), which by definition means the newest loaded change is older
 *    than 30 minutes: loads stopped, or the source was quiet. A quiet source also ages the
 *    warehouse; that is still worth an e-mail.
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
      description: 'No extract has succeeded for 15 minutes: the schedule, the source database, its secret or the function is broken.',
      metric: metric.extractSucceeded(), statistic: 'Sum', comparison: 'LessThanThreshold', threshold: 1, periods: 3,
      treatMissingData: 'breaching',
    });
    this.alarm('freshness', {
      description: 'The warehouse is more than 30 minutes behind totesys (newest loaded change).',
      metric: metric.freshness(), statistic: 'Maximum', comparison: 'GreaterThanThreshold', threshold: 30 * 60, periods: 1,
    });
    this.alarm('no-recent-load', {
      description: 'Nothing has been loaded into the warehouse for 30 minutes, so it is more than 30 minutes behind totesys: the transform or load stopped, its trigger is broken, or the source was quiet.',
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
