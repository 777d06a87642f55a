import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Log } from '../../core/ports/log';
import { formatAge, readPipelineStatus, type PipelineStatus } from '../../core/operate/pipeline-status';
import type { RunRecord } from '../../core/operate/run-record';
import type { DatabaseLocator } from '../../core/ports/source';
import { FolderObjectStore } from '../../local/folder-object-store';
import { Duration, parseCommand, UsageError, type CommonOptions } from '../cli-options';
import { embeddedDir, openLakeFolder, REPO_ROOT, sourceLocator, warehouseLocator } from '../local-context';
import { textTable } from '../text-table';
import { ms } from './run';

export const STATUS_HELP = `totes status [--sla 30m] [--runs 10] [--skip-source] [--json]
  Per source table: cursor, last batch, rows in totesys / raw lake / current state, freshness;
  per star table: rows in the lake and the warehouse; then the latest runs from the run history
  (with the queries the transform sent the engine, its critical path and the bytes scanned).
  Freshness is now − the source instant the warehouse reflects: the bound of the newest extract
  that, with every batch before it, is loaded (an extract that found nothing new counts, so a
  quiet source stays fresh). Exit code 2 when it is past the SLA or unknown (runs stopped, a batch
  stuck or quarantined, nothing loaded), so cron or a health check can alert; 0 otherwise.
  --skip-source   do not connect to totesys (its row counts show as ∅)`;

/** Exit code when freshness is past the SLA (or unknown). */
export const SLA_BREACHED_EXIT = 2;

export async function statusCommand(argv: string[], makeLog: (json: boolean, verbose: boolean) => Log): Promise<number> {
  const { values, common } = parseCommand(argv, { sla: { type: 'string' }, runs: { type: 'string' }, 'skip-source': { type: 'boolean' } });
  const log = makeLog(common.json, common.verbose);
  const sla = Duration.safeParse(values.sla ?? '30m');
  if (!sla.success) throw new UsageError(`--sla must be a duration such as 30m or 1h, got "${String(values.sla)}"`);
  const runs = Number(values.runs ?? 10);
  if (!Number.isInteger(runs) || runs < 0) throw new UsageError(`--runs must be a whole number, got "${String(values.runs)}"`);

  await openLakeFolder(common.lake);
  const opened: DatabaseLocator[] = [];
  const open = (make: () => Promise<DatabaseLocator>) => async () => {
    const locator = await make();
    opened.push(locator);
    return locator.url();
  };
  try {
    const status = await readPipelineStatus({
      ingestion: new FolderObjectStore(path.join(common.lake, 'ingestion')),
      processed: new FolderObjectStore(path.join(common.lake, 'processed')),
      sourceUrl: values['skip-source'] || !databaseExists(common, 'totesys') ? undefined : open(() => sourceLocator(common)),
      warehouseUrl: databaseExists(common, 'warehouse') ? open(() => warehouseLocator(common)) : undefined,
      warehouseSchema: common.warehouseSchema,
      now: new Date(),
      slaSeconds: sla.data / 1000,
      runs,
      sqlRoot: REPO_ROOT,
    });
    if (!databaseExists(common, 'warehouse')) status.problems.push(`No warehouse yet: no --warehouse-url and no embedded warehouse in ${embeddedDir(common, 'warehouse')} (run \`totes run\` or \`npm start\` first)`);
    if (common.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    else process.stdout.write(renderStatus(status, common.lake));
    if (status.sla.breached) log.warn(`Freshness SLA breached: ${status.sla.reason}`);
    return status.sla.breached ? SLA_BREACHED_EXIT : 0;
  } finally {
    for (const locator of opened.reverse()) await locator.close().catch(() => undefined);
  }
}

/** A database is there to ask when a URL names it or its embedded data folder exists (status never creates one). */
function databaseExists(common: CommonOptions, name: 'totesys' | 'warehouse'): boolean {
  const url = name === 'totesys' ? common.sourceUrl : common.warehouseUrl;
  return Boolean(url) || existsSync(embeddedDir(common, name));
}

const n = (value: number | null | undefined): string => (value === null || value === undefined ? '∅' : value.toLocaleString('en-GB'));
const age = (seconds: number | null | undefined): string => (seconds === null || seconds === undefined ? '∅' : formatAge(seconds));

export function renderStatus(status: PipelineStatus, lake: string): string {
  const lines: string[] = [];
  const { freshness, sla, batches } = status;
  lines.push(`Totes Lake status at ${status.generatedAt} — lake ${lake}`);
  lines.push(
    freshness
      ? `Freshness: ${formatAge(freshness.seconds)} (the warehouse reflects totesys as of ${freshness.sourceAt} UTC: batch ${freshness.batchId}${freshness.via === 'heartbeat' ? ' and a later extract that found nothing new' : ''}) — ${sla.breached ? 'BREACHED' : 'OK'}: ${sla.reason}`
      : `Freshness: unknown — BREACHED: ${sla.reason}`,
  );
  const ref = (b: PipelineStatus['batches']['loaded']) => (b ? `#${b.seq} ${b.batchId}${b.at ? ` at ${b.at}` : ''}` : 'none');
  lines.push(`Newest batch: extracted ${ref(batches.extracted)}; transformed ${ref(batches.transformed)}; loaded ${ref(batches.loaded)}`);
  lines.push('', '== Source tables ==');
  lines.push(
    textTable(
      status.sourceTables.map((t) => ({
        table: t.table,
        cursor: t.cursor ? `${t.cursor.lastUpdated} #${t.cursor.id}` : '∅',
        'last batch': t.lastBatch ?? '∅',
        'source rows': n(t.sourceRows),
        'lake versions': n(t.lakeVersions),
        'lake current': t.lakeDeltaVersions ? `${n(t.lakeCurrentRows)} +${n(t.lakeDeltaVersions)} in deltas` : n(t.lakeCurrentRows),
        'newest change loaded': t.loadedNewest ?? '∅',
      })),
    ),
  );
  lines.push('', '== Star tables ==');
  lines.push(
    textTable(
      status.starTables.map((t) => ({
        table: t.table,
        kind: t.kind,
        'lake rows': n(t.lakeRows),
        'warehouse rows': n(t.warehouseRows),
        'last batch': t.lastBatch ?? '∅',
        sql: !t.sql ? '∅' : `${t.sql.changed ? `${(t.sql.published ?? '').slice(0, 8)} → ${t.sql.file.slice(0, 8)} CHANGED` : t.sql.file.slice(0, 8)}${t.sql.backfill ? ` (backfill at ${t.sql.backfill.step})` : ''}`,
      })),
    ),
  );
  lines.push('', `== Last ${status.runs.length} run(s) ==`);
  lines.push(status.runs.length ? textTable(status.runs.map(runRow)) : '(no run history yet: `totes run` writes one record per cycle)');
  if (status.problems.length) lines.push('', '== Problems ==', ...status.problems.map((p) => `- ${p}`));
  return `${lines.join('\n')}\n`;
}

function runRow(run: RunRecord): Record<string, string> {
  const rows = Object.values(run.stages.extract?.rows ?? {}).reduce((a, b) => a + b, 0);
  const stageMs = (s?: { elapsedMs: number }) => (s ? ms(s.elapsedMs) : '∅');
  const tests = run.dataTests;
  return {
    started: run.startedAt,
    outcome: run.outcome === 'failed' ? `failed (${run.failure?.stage ?? '?'})` : run.outcome,
    batch: run.batchId ?? '∅',
    rows: n(rows),
    extract: stageMs(run.stages.extract),
    transform: stageMs(run.stages.transform),
    load: stageMs(run.stages.load),
    total: ms(Date.parse(run.finishedAt) - Date.parse(run.startedAt)),
    freshness: age(run.freshness?.seconds),
    'data tests': tests ? `${tests.filter((t) => t.passed).length}/${tests.length} passed` : '∅',
    ...engineQueries(run),
    error: run.failure?.error ?? '',
  };
}

/**
 * The engine round trips of the run's transform (transform/query-tally.ts), over the batches it
 * transformed: the statements sent, the critical path (batches run one after another, so their
 * paths add up) and the bytes scanned (∅ where the engine does not measure them, or a batch's
 * manifest predates the count).
 */
function engineQueries(run: RunRecord): { queries: string; scanned: string } {
  const counted = (run.stages.transform?.batches ?? []).map((b) => b.engineQueries);
  if (!counted.length || counted.some((c) => c === undefined)) return { queries: '∅', scanned: '∅' };
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const queries = sum(counted.map((c) => c!.queries));
  const path = sum(counted.map((c) => c!.criticalPath));
  const bytes = counted.map((c) => c!.bytesScanned);
  return { queries: `${n(queries)} (critical path ${n(path)})`, scanned: bytes.some((b) => b === null) ? '∅' : byteSize(sum(bytes as number[])) };
}

/** '812 B', '1.2 KiB', '3.4 MiB'. */
function byteSize(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
