import { formatAge } from '../../core/operate/pipeline-status';
import { runCycle, type CycleResult } from '../../core/run-cycle';
import type { Log } from '../../core/ports/log';
import { Duration, parseCommand } from '../cli-options';
import { openLocalPipeline } from '../local-context';

export const RUN_HELP = `totes run [--every 5m] [--repair] [--engine duckdb|trino --trino-url URL] [--commit-lag 0s]
  One extract → transform → load cycle; exits 0, or non-zero with the failing stage and reason.
  --every D    repeat every D (e.g. 5m) until interrupted (Ctrl-C finishes the current cycle first)
  --repair     the (first) cycle's extract also compares every table with the lake and reads the
               current versions the lake lacks below its cursor, once (what \`totes verify\` reports
               as absent from the raw lake); reads every key of the source and of the lake`;

export async function runCommand(argv: string[], makeLog: (json: boolean, verbose: boolean) => Log): Promise<number> {
  const { values, common } = parseCommand(argv, { every: { type: 'string' }, repair: { type: 'boolean' } });
  const log = makeLog(common.json, common.verbose);
  const every = values.every === undefined ? undefined : Duration.parse(values.every);
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(130);
    stopping = true;
    log.info('Stopping after the current cycle (Ctrl-C again to stop now)');
  };
  // Installed before anything opens, so a signal at any point still closes the embedded databases.
  if (every !== undefined) {
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  }
  let pipeline: Awaited<ReturnType<typeof openLocalPipeline>> | undefined;
  try {
    pipeline = await openLocalPipeline(common, log);
    if (every === undefined) {
      report(log, await runCycle(pipeline.ctx, { commitLagSeconds: common.commitLagMs / 1000, repair: values.repair === true }));
      return 0;
    }
    let repair = values.repair === true;
    while (!stopping) {
      const started = Date.now();
      try {
        report(log, await runCycle(pipeline.ctx, { commitLagSeconds: common.commitLagMs / 1000, repair }));
        repair = false;
      } catch (err) {
        // A failed cycle is reported and retried at the next tick: its batches stay pending.
        log.error(`Cycle failed; will retry in ${Math.round(every / 1000)}s: ${(err as Error).message}`);
      }
      const wait = Math.max(0, every - (Date.now() - started));
      await sleepUnless(wait, () => stopping);
    }
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await pipeline?.close();
  }
}

export function report(log: Log, cycle: CycleResult): void {
  const e = cycle.extract;
  const rows = Object.values(e.rows).reduce((a, b) => a + (b ?? 0), 0);
  const repaired = Object.values(e.manifest?.tables ?? {}).reduce((a, t) => a + (t.repaired?.rows ?? 0), 0);
  const what = e.published
    ? `batch ${e.batchId}: ${rows} row versions${e.manifest?.repair ? ` (${repaired} repaired)` : ''}`
    : { 'lost-race': 'another run published this batch', continued: `batch ${e.batchId} not finished, resumes next run`, 'nothing-new': 'nothing new' }[e.reason ?? 'nothing-new'];
  const t = cycle.timings;
  log.info(
    `Cycle done — extract ${what}; transformed ${cycle.transformed.length}, loaded ${cycle.loaded.filter((l) => !l.skipped).length} batch(es); ` +
      `extract ${ms(t.extractMs)}, transform ${ms(t.transformMs)}, load ${ms(t.loadMs)}, total ${ms(t.totalMs)}` +
      (cycle.run?.freshness ? `; freshness ${formatAge(cycle.run.freshness.seconds)}` : ''),
  );
}

export const ms = (n: number): string => (n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(2)} s`);

async function sleepUnless(totalMs: number, stop: () => boolean): Promise<void> {
  const until = Date.now() + totalMs;
  while (!stop() && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(250, until - Date.now())));
}
