import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRICS } from '../core/contract/runtime-contract';
import type { Log } from '../core/ports/log';

/**
 * The Log port on AWS Lambda Powertools: the cloud twin of `local/console-log.ts`.
 *
 * Messages are structured JSON lines (CloudWatch Logs Insights can filter on any field); every
 * metric is emitted at once as its own EMF line with its own dimensions (`table`, `stage`), in
 * the `METRICS.namespace` that the cdktf alarms watch. Progress lines are DEBUG: set
 * POWERTOOLS_LOG_LEVEL=DEBUG on a function to follow a long extract chunk by chunk.
 */
export class PowertoolsLog implements Log {
  readonly logger: Logger;
  readonly metrics: Metrics;

  constructor(serviceName: string, options: { logger?: Logger; metrics?: Metrics } = {}) {
    this.logger = options.logger ?? new Logger({ serviceName });
    this.metrics = options.metrics ?? new Metrics({ namespace: METRICS.namespace, serviceName: METRICS.service });
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.logger.info(message, { ...fields });
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.logger.warn(message, { ...fields });
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.logger.error(message, { ...fields });
  }

  progress(step: string, fields: Record<string, unknown>): void {
    this.logger.debug(`progress: ${step}`, { ...fields });
  }

  metric(name: string, value: number, unit: 'Count' | 'Milliseconds' | 'Seconds' | 'Bytes', dimensions?: Record<string, string>): void {
    const single = this.metrics.singleMetric();
    if (dimensions) single.addDimensions(dimensions);
    single.addMetric(name, MetricUnit[unit], value);
  }
}
