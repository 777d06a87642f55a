import { STAR_TABLES } from '../../core/contract/star-tables';
import type { Log } from '../../core/ports/log';
import { backfill } from '../../core/transform/backfill';
import { parseCommand, UsageError } from '../cli-options';
import { openLocalPipeline } from '../local-context';

export const BACKFILL_HELP = `totes backfill <star table>… [--lake-only] [--engine duckdb|trino --trino-url URL]
  Rebuilds a star table's whole history with its current sql/transform/<table>.sql, after the file
  changed (\`totes run\` refuses to extend a fact with rows of a new version and names this command).
  A fact: every published batch with versions of it is run through the file again, in batch order,
  into star/<fact>/sql=<hash>/ beside the old partitions; each rebuilt batch passes the fact's data
  tests; then, holding the transform lease (refused while another run holds it), the catalog's
  partitions are replaced in one step and the new version is recorded, so the batches that waited
  are built with it, once; last the warehouse table is replaced in one transaction (new table,
  copy, rename). Progress is kept in backfills/<fact>/<hash>.json: after a crash, run it again and
  it resumes. A dimension is rebuilt whole by the next batch once its file changed: its backfill
  only says where it stands.
  --lake-only   publish in the lake only; the warehouse table is replaced by a later backfill run`;

export async function backfillCommand(argv: string[], makeLog: (json: boolean, verbose: boolean) => Log): Promise<number> {
  const { values, positionals, common } = parseCommand(argv, { 'lake-only': { type: 'boolean' } });
  const log = makeLog(common.json, common.verbose);
  if (!positionals.length) throw new UsageError('Name the star table(s) to backfill, e.g. `totes backfill fact_sales_order`');
  const unknown = positionals.filter((t) => !STAR_TABLES.some((s) => s.name === t));
  if (unknown.length) throw new UsageError(`Not a star table: ${unknown.join(', ')} (the star tables are ${STAR_TABLES.map((t) => t.name).join(', ')})`);
  const pipeline = await openLocalPipeline(common, log);
  try {
    const results = await backfill(pipeline.ctx, positionals, { warehouse: values['lake-only'] !== true });
    if (common.json) process.stdout.write(`${JSON.stringify(results.map(({ progress, ...r }) => ({ ...r, step: progress?.step ?? null })), null, 2)}\n`);
    else for (const r of results) process.stdout.write(`${r.table}: ${r.message}\n`);
    return 0;
  } finally {
    await pipeline.close();
  }
}
