import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SOURCE_TABLES, type SourceTable } from '../contract/source-tables';
import { listExtractSeqs, readExtractManifest } from '../lake/manifest-log';
import type { ObjectStore } from '../ports/object-store';
import { CURRENT_VIEWS, currentViewSelect } from '../analysis/current-views';
import { readRunHistory } from '../operate/run-history';
import type { RunRecord } from '../operate/run-record';
import { loadSqlFiles, type SqlFile } from '../transform/sql-files';

/**
 * Everything the data docs show, read once: the contracts, the SQL files with their header
 * comments, the analysis queries, the published batches and the run history. Rendering
 * (`docs-site.ts`) is then a pure function of this model.
 */
export interface DocsModel {
  generatedAt: string;
  sourceTables: readonly SourceTable[];
  sqlFiles: SqlFile[];
  views: { name: string; fact: string; sql: string }[];
  analysis: { file: string; header: string; sql: string }[];
  batches: { batchId: string; seq: number; finishedAt: string; rows: Record<string, number> }[];
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
}

export async function readDocsModel(inputs: DocsInputs): Promise<DocsModel> {
  const batches: DocsModel['batches'] = [];
  for (const seq of await listExtractSeqs(inputs.ingestion)) {
    const m = await readExtractManifest(inputs.ingestion, seq);
    batches.push({ batchId: m.batchId, seq: m.seq, finishedAt: m.finishedAt, rows: Object.fromEntries(Object.entries(m.tables).map(([t, v]) => [t, v?.rows ?? 0])) });
  }
  const history = await readRunHistory(inputs.processed);
  return {
    generatedAt: inputs.now.toISOString(),
    sourceTables: SOURCE_TABLES,
    sqlFiles: await loadSqlFiles(inputs.sqlRoot),
    views: CURRENT_VIEWS.map((v) => ({ name: v.name, fact: v.fact.name, sql: currentViewSelect(v, 'warehouse') })),
    analysis: await readAnalysisQueries(inputs.sqlRoot),
    batches,
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
