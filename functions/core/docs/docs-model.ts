import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SOURCE_TABLES, type SourceTable } from '../contract/source-tables';
import type { ExtractManifest } from '../lake/manifests';
import { listExtractSeqs, readExtractManifest } from '../lake/manifest-log';
import type { ObjectStore } from '../ports/object-store';
import { CURRENT_VIEWS, currentViewSelect } from '../analysis/current-views';
import { foldExtractLog } from '../operate/pipeline-status';
import { READ_CONCURRENCY, readRunHistory } from '../operate/run-history';
import type { RunRecord } from '../operate/run-record';
import { concurrently } from '../transform/concurrently';
import { loadSqlFiles, type SqlFile } from '../transform/sql-files';

/**
 * Everything the data docs show, read once: the contracts, the SQL files with their header
 * comments, the analysis queries, what the lake holds, and the batches and runs of the history
 * window. Rendering (`docs-site.ts`) is then a pure function of this model.
 *
 * The docs read the window, not the lake's history: the batches and runs of the last `historyMs` (a
 * day by default), and the lake's totals from the newest extract manifest's history
 * (`lake/lake-history.ts`), as `totes status` reads them. Reading every manifest and run record, as
 * the docs once did, one after another, cost a month-old lake on S3 about 17,000 GETs (a manifest
 * and a run record a batch), and drew a bar per batch of the lake's life. The extract log's keys are
 * still listed whole (the count of batches, where the window starts): one LIST per 1,000 batches.
 */
export interface DocsModel {
  generatedAt: string;
  /** Start of the history window: the batches and runs below are those since. */
  historySince: string;
  sourceTables: readonly SourceTable[];
  sqlFiles: SqlFile[];
  views: { name: string; fact: string; sql: string }[];
  analysis: { file: string; header: string; sql: string }[];
  /** Published extract batches in the lake, and the row versions they hold per source table. */
  lake: { batches: number; versions: Partial<Record<string, number>> };
  /** The batches published within the window, oldest first. */
  batches: { batchId: string; seq: number; finishedAt: string; rows: Record<string, number> }[];
  /** The runs started within the window, oldest first. */
  runs: RunRecord[];
  problems: string[];
  slaSeconds: number;
}

export interface DocsInputs {
  ingestion: ObjectStore;
  processed: ObjectStore;
  /** Directory containing `sql/`. */
  sqlRoot: string;
  now: Date;
  slaSeconds?: number;
  /** How far back the charts and the runs' table go (default {@link DOCS_HISTORY_MS}). */
  historyMs?: number;
}

/** The docs' default history window: a day, 288 five-minute batches. */
export const DOCS_HISTORY_MS = 24 * 60 * 60_000;

export async function readDocsModel(inputs: DocsInputs): Promise<DocsModel> {
  const since = new Date(inputs.now.getTime() - (inputs.historyMs ?? DOCS_HISTORY_MS));
  const seqs = await listExtractSeqs(inputs.ingestion);
  const read = (seq: number): Promise<ExtractManifest> => readExtractManifest(inputs.ingestion, seq);
  // The window's batches, read from the newest back, a round at a time, until a round holds none
  // that finished in it (batches publish in seq order; a round more allows for the writers' clocks).
  // The newest manifest (the first round's last) carries the lake's totals.
  const from = since.toISOString();
  const recent: ExtractManifest[] = [];
  let newest: ExtractManifest | undefined;
  for (let end = seqs.length; end > 0; ) {
    const round = seqs.slice(Math.max(0, end - READ_CONCURRENCY), end);
    end -= round.length;
    const manifests = await concurrently(round, read, READ_CONCURRENCY);
    newest ??= manifests.at(-1);
    const within = manifests.filter((m) => m.finishedAt >= from);
    recent.unshift(...within);
    if (!within.length) break;
  }
  // A log begun before manifests recorded the lake's history is read whole and folded, as the status does.
  const versions = newest?.history ?? (await foldExtractLog(inputs.ingestion, seqs));
  const history = await readRunHistory(inputs.processed, { since });
  return {
    generatedAt: inputs.now.toISOString(),
    historySince: from,
    sourceTables: SOURCE_TABLES,
    sqlFiles: await loadSqlFiles(inputs.sqlRoot),
    views: CURRENT_VIEWS.map((v) => ({ name: v.name, fact: v.fact.name, sql: currentViewSelect(v, 'warehouse') })),
    analysis: await readAnalysisQueries(inputs.sqlRoot),
    lake: { batches: seqs.length, versions: Object.fromEntries(Object.entries(versions).map(([t, h]) => [t, h?.versions ?? 0])) },
    batches: recent.map((m) => ({ batchId: m.batchId, seq: m.seq, finishedAt: m.finishedAt, rows: Object.fromEntries(Object.entries(m.tables).map(([t, v]) => [t, v?.rows ?? 0])) })),
    runs: history.records,
    problems: history.unreadable.map((u) => `Run record ${u.key} is unreadable: ${u.error}`),
    slaSeconds: inputs.slaSeconds ?? 1800,
  };
}

/** `sql/analysis/*.sql` with their leading `--` comment as the header. */
export async function readAnalysisQueries(sqlRoot: string): Promise<DocsModel['analysis']> {
  const dir = path.join(sqlRoot, 'sql', 'analysis');
  const names = (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.sql')).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await fs.readFile(path.join(dir, name), 'utf8');
      return { file: `sql/analysis/${name}`, header: sqlHeader(sql), sql };
    }),
  );
}

/** The leading comment block of a SQL file, without the `-- ` markers. */
export function sqlHeader(sql: string): string {
  const lines: string[] = [];
  for (const line of sql.split('\n')) {
    const m = /^\s*--\s?(.*)$/.exec(line);
    if (!m) break;
    lines.push(m[1]);
  }
  return lines.join('\n').trim();
}
