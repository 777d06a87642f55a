import { ConnectionPool } from '../core/connection-pool';
import type { PipelineContext } from '../core/pipeline-context';
import type { Log } from '../core/ports/log';
import { readAwsConfig, type AwsConfig } from './aws-config';
import { buildAwsContext, createAwsClients, type AwsClients } from './aws-pipeline-context';
import { PowertoolsLog } from './powertools-log';
import { recordStageRun, type StageReport } from './stage-run-record';

export type StageName = 'extract' | 'transform' | 'load';

/** What a handler builds its stage from; tests replace any part. */
export interface StageDeps {
  env?: Record<string, string | undefined>;
  clients?: () => AwsClients;
  log?: Log;
  now?: () => Date;
  /** Replaces the whole AWS context (tests run a handler over local adapters). */
  context?: (config: AwsConfig, log: Log) => PipelineContext;
}

// SDK clients live across warm invocations: their connections and credentials are reused.
let sharedClients: AwsClients | undefined;
// So do PostgreSQL connections (core/connection-pool.ts): a warm container's next invocation skips
// the connect; one the server or the network dropped while the container was frozen is replaced.
let sharedConnections: ConnectionPool | undefined;

/** Hands the stage's core results to {@link runStage}, for its run record. */
export type ReportStage = (report: StageReport) => void;

/**
 * Runs one stage in a Lambda invocation: reads the environment, builds the AWS adapters, calls
 * `body`, and on every path closes what the stage opened (temporary Glue tables, database
 * locators). A failure is logged with its stage and rethrown, so Lambda records the invocation as
 * failed and the retry/alarm machinery sees it.
 *
 * Run history: a body that called the core passes its results to `report`, and the stage's run
 * record (stage-run-record.ts) is written to the processed store; a stage that fails once its
 * adapters exist records its failure. An event the body ignores (no manifest in it) calls no core
 * and records nothing.
 */
export async function runStage<T>(
  stage: StageName,
  deps: StageDeps,
  body: (ctx: PipelineContext, config: AwsConfig, report: ReportStage) => Promise<T>,
): Promise<T> {
  const log = deps.log ?? new PowertoolsLog(`totes-${stage}`);
  let ctx: PipelineContext | undefined;
  let startedAt: Date | undefined;
  let reported: StageReport | undefined;
  const t0 = Date.now();
  // The stage's time is the core's: until the body reports, not the follow-up work after it.
  let elapsedMs = 0;
  const elapsed = () => (reported ? elapsedMs : Date.now() - t0);
  try {
    const config = readAwsConfig(deps.env ?? process.env);
    ctx = deps.context
      ? deps.context(config, log)
      : { ...buildAwsContext(config, deps.clients?.() ?? (sharedClients ??= createAwsClients()), log, deps.now), connections: (sharedConnections ??= new ConnectionPool()) };
    startedAt = ctx.now();
    const result = await body(ctx, config, (report) => {
      reported = report;
      elapsedMs = Date.now() - t0;
    });
    if (reported) await recordStageRun(ctx, { stage, startedAt, elapsedMs: elapsed(), report: reported });
    return result;
  } catch (err) {
    const e = err as Error;
    log.error(`The ${stage} stage failed: ${e?.message ?? String(err)}`, { stage, error: e?.name, stack: e?.stack });
    if (ctx && startedAt) await recordStageRun(ctx, { stage, startedAt, elapsedMs: elapsed(), report: reported, error: err });
    throw err;
  } finally {
    if (ctx) {
      for (const port of [ctx.engine, ctx.source, ctx.warehouse]) {
        await port.close().catch((err: unknown) => log.warn(`Could not close ${stage} resources`, { error: (err as Error).message }));
      }
    }
  }
}
