import { METRICS } from '../../functions/core/contract/runtime-contract';
import { SOURCE_TABLE_NAMES } from '../../functions/core/contract/source-tables';
import { STAR_TABLE_NAMES } from '../../functions/core/contract/star-tables';
import type { Stage } from '../compute/pipeline-function';

/**
 * The custom metrics the functions emit, with the exact dimension sets CloudWatch will see.
 *
 * The functions publish through Powertools Metrics (EMF), which adds a `service` dimension to every
 * metric; CloudWatch matches a metric only on its full dimension set, so every alarm and widget
 * below names `service` too. `POWERTOOLS_SERVICE_NAME` is set to {@link SERVICE_NAME} on every
 * function by the stack, whatever the name prefix, so alarms of every copy of the stack agree.
 */
export const SERVICE_NAME = 'totes-lake';
export const NAMESPACE = METRICS.namespace;
export const STAGES: readonly Stage[] = ['extract', 'transform', 'load'];

export interface MetricRef {
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
}

const custom = (metricName: string, extra: Record<string, string> = {}): MetricRef => ({
  namespace: NAMESPACE,
  metricName,
  dimensions: { service: SERVICE_NAME, ...extra },
});

export const metric = {
  rows: (table: string, stage: Stage) => custom(METRICS.rows, { table, stage }),
  stageDuration: (stage: Stage) => custom(METRICS.stageDuration, { stage }),
  freshness: () => custom(METRICS.freshness),
  bytesScanned: () => custom(METRICS.bytesScanned),
  extractSucceeded: () => custom(METRICS.extractSucceeded),
  queryFailed: () => custom(METRICS.queryFailed),
};

/** `table` values of the Rows metric: source tables (extract) and star tables (transform, load). */
export const ROW_TABLES = { source: SOURCE_TABLE_NAMES, star: STAR_TABLE_NAMES };
