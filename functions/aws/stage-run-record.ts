import { z } from 'zod';
import type { ExtractResult } from '../core/extract/extract';
import { runRecordKey } from '../core/lake/lake-layout';
import type { LoadResult } from '../core/load/load';
import { buildRunRecord, writeRunRecord, type RunParts } from '../core/operate/run-history';
import type { DataTestResult, RunRecord } from '../core/operate/run-record';
import type { PipelineContext } from '../core/pipeline-context';
import { getText } from '../core/ports/object-store';
import { QuarantinedBatchError } from '../core/transform/data-tests';
import type { TransformResult } from '../core/transform/transform';
import type { StageName } from './lambda-stage';

/**
 * The run history of the cloud: each Lambda adds a record of its own stage to `runs/` in the
 * processed store, built and written by the same core functions as a local cycle
 * (`buildRunRecord`, `writeRunRecord`), so `totes status` and `totes docs` read one format. A
 * cloud record holds one stage; the reader treats the others as absent.
 */

/** What a handler reports after calling the core: its stage's results (and, for the load, freshness). */
export type StageReport =
  | { extract: ExtractResult }
  | { transform: TransformResult[] }
  | { load: LoadResult[]; freshness?: RunParts['freshness'] };

export interface StageRun {
  stage: StageName;
  startedAt: Date;
  elapsedMs: number;
  /** The stage's results; absent when it failed before the core returned. */
  report?: StageReport;
  error?: unknown;
}

/** The run parts of one stage run: its results, timing, and its failure if it failed. */
export async function stageRunParts(ctx: PipelineContext, run: StageRun): Promise<RunParts> {
  const parts: RunParts = { startedAt: run.startedAt, finishedAt: ctx.now() };
  if (run.stage === 'transform') parts.engine = ctx.engine.name;
  const report = run.report;
  if (report && 'extract' in report) parts.extract = { result: report.extract, elapsedMs: run.elapsedMs };
  if (report && 'transform' in report) parts.transform = { results: report.transform, elapsedMs: run.elapsedMs };
  if (report && 'load' in report) {
    parts.load = { results: report.load, elapsedMs: run.elapsedMs };
    if (report.freshness) parts.freshness = report.freshness;
  }
  if (run.error !== undefined) {
    parts.failure = { stage: run.stage, error: errorMessage(run.error) };
    // A quarantined batch ran its data tests: their results are what the operator needs to see.
    if (run.error instanceof QuarantinedBatchError) {
      const tests = await quarantinedTests(ctx, run.error);
      if (tests.length) parts.dataTests = tests;
    }
  }
  return parts;
}

/**
 * Builds and writes the record of one stage run. A history that cannot be written must not turn a
 * finished stage into a failed invocation, nor hide the stage's own failure: the problem is logged
 * as a warning and undefined returned (as `runCycle` does locally).
 */
export async function recordStageRun(ctx: PipelineContext, run: StageRun): Promise<RunRecord | undefined> {
  try {
    let record = buildRunRecord(await stageRunParts(ctx, run));
    // A failed transform has no results to name its batch; a quarantine error names it.
    if (record.batchId === null && run.error instanceof QuarantinedBatchError) {
      record = { ...record, batchId: run.error.batchId, key: runRecordKey(run.startedAt, run.error.batchId) };
    }
    await writeRunRecord(ctx.processed, record);
    return record;
  } catch (err) {
    ctx.log.warn(`Could not write the ${run.stage} run record: ${errorMessage(err)}. The stage itself is unaffected; \`totes status\` will not show this run`, {
      stage: run.stage,
      store: ctx.processed.name,
    });
    return undefined;
  }
}

/** The part of a quarantine report (core/transform/transform.ts) that names the data tests. */
const QuarantineReport = z.object({
  failingTests: z.array(z.object({ name: z.string(), table: z.string(), passed: z.boolean(), failures: z.number().int().nonnegative() })).default([]),
  passedTests: z.array(z.string()).default([]),
});

/** The data tests a quarantined batch ran, from its report; none when the report is unreadable. */
async function quarantinedTests(ctx: PipelineContext, err: QuarantinedBatchError): Promise<DataTestResult[]> {
  try {
    const report = QuarantineReport.parse(JSON.parse(await getText(ctx.processed, err.reportKey)));
    const passed = report.passedTests.map((text) => {
      // `<star table> <test name>`: star table names hold no space.
      const cut = text.indexOf(' ');
      return { name: cut < 0 ? text : text.slice(cut + 1), ...(cut < 0 ? {} : { table: text.slice(0, cut) }), passed: true, failures: 0 };
    });
    return [...report.failingTests.map(({ name, table, passed: ok, failures }) => ({ name, table, passed: ok, failures })), ...passed];
  } catch (readErr) {
    ctx.log.warn(`Could not read the quarantine report ${err.reportKey}: ${errorMessage(readErr)}; the run record will list no data tests`, { batchId: err.batchId });
    return [];
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
