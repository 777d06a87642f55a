import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Log } from '../../core/ports/log';
import { readDocsModel } from '../../core/docs/docs-model';
import { renderDocsSite } from '../../core/docs/docs-site';
import { FolderObjectStore } from '../../local/folder-object-store';
import { Duration, parseCommand, UsageError } from '../cli-options';
import { openLakeFolder, REPO_ROOT } from '../local-context';

export const DOCS_HELP = `totes docs [--out DIR] [--sla 30m] [--history 24h]
  Writes the data docs, a static site that opens from disk (no server, no network): every raw and
  star table with columns, types and descriptions, the lineage from totesys to the warehouse, the
  star-schema diagram, the analyst views and queries, and charts of rows per batch, freshness and
  stage durations over the last --history of the run history (default 24h). Default --out:
  <lake>/../docs.`;

/** \`--history\`: how far back the docs' charts and runs go, in ms (default a day). */
export function docsHistoryMs(value: unknown): number {
  const history = Duration.safeParse(value ?? '24h');
  if (!history.success || history.data <= 0) throw new UsageError(`--history must be a duration such as 24h or 168h, got "${String(value)}"`);
  return history.data;
}

export async function docsCommand(argv: string[], makeLog: (json: boolean, verbose: boolean) => Log): Promise<number> {
  const { values, common } = parseCommand(argv, { out: { type: 'string' }, sla: { type: 'string' }, history: { type: 'string' } });
  const log = makeLog(common.json, common.verbose);
  const sla = Duration.safeParse(values.sla ?? '30m');
  if (!sla.success) throw new UsageError(`--sla must be a duration such as 30m or 1h, got "${String(values.sla)}"`);
  const historyMs = docsHistoryMs(values.history);
  const out = path.resolve((values.out as string | undefined) ?? path.join(path.dirname(common.lake), 'docs'));
  await openLakeFolder(common.lake);
  const model = await readDocsModel({
    ingestion: new FolderObjectStore(path.join(common.lake, 'ingestion')),
    processed: new FolderObjectStore(path.join(common.lake, 'processed')),
    sqlRoot: REPO_ROOT,
    now: new Date(),
    slaSeconds: sla.data / 1000,
    historyMs,
  });
  const pages = renderDocsSite(model);
  await fs.mkdir(out, { recursive: true });
  for (const [name, html] of Object.entries(pages)) await fs.writeFile(path.join(out, name), html);
  for (const problem of model.problems) log.warn(problem);
  log.info(`Data docs written: ${Object.keys(pages).length} pages, ${model.lake.batches} batches (${model.batches.length} batches and ${model.runs.length} runs since ${model.historySince})`, { out });
  process.stdout.write(`${path.join(out, 'index.html')}\n`);
  return 0;
}
