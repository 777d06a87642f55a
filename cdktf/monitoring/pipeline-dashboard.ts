import { CloudwatchDashboard } from '@cdktf/provider-aws/lib/cloudwatch-dashboard';
import { Construct } from 'constructs';
import type { PipelineFunction } from '../compute/pipeline-function';
import { metric, MetricRef, ROW_TABLES, STAGES } from './pipeline-metrics';

export interface PipelineDashboardProps {
  name: string;
  region: string;
  workgroupName: string;
  functions: PipelineFunction[];
}

type MetricLine = (string | Record<string, unknown>)[];

const line = (m: MetricRef, options: Record<string, unknown> = {}): MetricLine => [
  m.namespace, m.metricName, ...Object.entries(m.dimensions).flat(), options,
];

/**
 * One page to watch the pipeline: rows per table (extracted, and written/loaded per star table),
 * stage durations, freshness against its 30-minute alarm, Athena bytes scanned (our metric per
 * batch, and the workgroup's own), and errors/throttles per function.
 */
export class PipelineDashboard extends Construct {
  readonly dashboard: CloudwatchDashboard;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    let y = 0;
    const widget = (title: string, metrics: MetricLine[], extra: Record<string, unknown> = {}) => {
      const w = { type: 'metric', x: 0, y, width: 24, height: 6, properties: { title, region: props.region, view: 'timeSeries', stacked: false, period: 300, metrics, ...extra } };
      y += 6;
      return w;
    };
    const widgets = [
      widget('Rows extracted per source table', ROW_TABLES.source.map((t) => line(metric.rows(t, 'extract'), { stat: 'Sum', label: t }))),
      widget('Rows loaded per star table', ROW_TABLES.star.map((t) => line(metric.rows(t, 'load'), { stat: 'Sum', label: t }))),
      widget('Stage duration (ms)', STAGES.flatMap((s) => [
        line(metric.stageDuration(s), { stat: 'Average', label: `${s} avg` }),
        line(metric.stageDuration(s), { stat: 'Maximum', label: `${s} max` }),
      ])),
      widget('Freshness (seconds behind totesys)', [line(metric.freshness(), { stat: 'Maximum', label: 'freshness' })], {
        annotations: { horizontal: [{ label: 'alarm: 30 minutes', value: 1800 }] },
      }),
      widget('Athena bytes scanned', [
        line(metric.bytesScanned(), { stat: 'Sum', label: 'per batch (pipeline)' }),
        line({ namespace: 'AWS/Athena', metricName: 'ProcessedBytes', dimensions: { WorkGroup: props.workgroupName } }, { stat: 'Sum', label: 'workgroup' }),
        line(metric.queryFailed(), { stat: 'Sum', label: 'failed queries', yAxis: 'right' }),
      ]),
      widget('Function errors and throttles', props.functions.flatMap((f) => [
        line({ namespace: 'AWS/Lambda', metricName: 'Errors', dimensions: { FunctionName: f.fn.functionName } }, { stat: 'Sum', label: `${f.stage} errors` }),
        line({ namespace: 'AWS/Lambda', metricName: 'Throttles', dimensions: { FunctionName: f.fn.functionName } }, { stat: 'Sum', label: `${f.stage} throttles` }),
      ])),
    ];
    this.dashboard = new CloudwatchDashboard(this, 'dashboard', {
      dashboardName: props.name,
      dashboardBody: JSON.stringify({ widgets }),
    });
  }
}
