import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { createGzip } from 'node:zlib';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { SOURCE_TABLES, type SourceTableName } from '../contract/source-tables';
import { extractManifestKey, newBatchId, rawKey } from '../lake/lake-layout';
import { latestExtractManifest } from '../lake/manifest-log';
import type { ExtractManifest, ExtractTable } from '../lake/manifests';
import type { PipelineContext } from '../pipeline-context';
import { ObjectExistsError } from '../ports/object-store';
import { CopyLines } from './copy-text';
import { cursorOf, maxTimestamp, nextCursor, planWindow, WINDOW_SETTINGS, windowSelect, withBatchId, type TableWindow } from './extract-window';
import { detectDrift, INFORMATION_SCHEMA_QUERY, type InformationSchemaColumn } from './schema-drift';

export interface ExtractOptions {
  /**
   * Seconds the upper bound stays behind the snapshot clock. 0 trusts the database clock and the
   * open-transaction guard alone; raise it when writers stamp `last_updated` from their own clock
   * (Prisma's @updatedAt does) so skew cannot stamp a commit behind the bound.
   */
  commitLagSeconds?: number;
}

export interface ExtractResult {
  /** False when nothing changed (no batch is made) or another run published this batch first. */
  published: boolean;
  reason?: 'nothing-new' | 'lost-race';
  batchId: string;
  seq: number;
  rows: Partial<Record<SourceTableName, number>>;
  bytes: number;
  elapsedMs: number;
  warnings: string[];
  manifest?: ExtractManifest;
}

/**
 * Extracts every new row version of the 11 totesys tables into one batch in the ingestion store.
 *
 * All tables are read inside one REPEATABLE READ snapshot, each by the window that
 * `extract-window.ts` plans, streamed with `COPY … TO STDOUT` into gzip NDJSON without holding a
 * table in memory. The batch exists only once its manifest is written, last, with a conditional
 * put: if two runs race for the same sequence number exactly one publishes, and the loser's files
 * stay unreferenced (the ingestion store is immutable; only manifest-listed files are ever read).
 */
export async function extract(ctx: PipelineContext, options: ExtractOptions = {}): Promise<ExtractResult> {
  const started = ctx.now();
  const t0 = Date.now();
  const previous = await latestExtractManifest(ctx.ingestion);
  const seq = (previous?.seq ?? 0) + 1;
  const batchId = newBatchId(seq, started, randomBytes(2).toString('hex'));
  const warnings: string[] = [];
  const tables: Partial<Record<SourceTableName, ExtractTable>> = {};
  let snapshotAt = '';
  let totalRows = 0;
  let totalBytes = 0;

  const client = await connectSource(ctx);
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    // The first statement fixes the snapshot; the bound is read in that same statement.
    const bound = await readUpperBound(client, options.commitLagSeconds ?? 0);
    snapshotAt = bound.snapshotAt;
    if (bound.hiddenSessions > 0 && !options.commitLagSeconds) {
      warnings.push(
        `${bound.hiddenSessions} session(s) of other roles are hidden from pg_stat_activity, so their open transactions cannot hold the upper bound back; ` +
          'grant pg_read_all_stats to the extract role, or set a commit lag',
      );
    }
    const columns = await client.query<InformationSchemaColumn>(INFORMATION_SCHEMA_QUERY, [SOURCE_TABLES.map((t) => t.name)]);
    const drift = detectDrift(columns.rows);
    warnings.push(...drift.warnings);
    if (drift.errors.length) {
      throw new Error(
        `The totesys schema at ${ctx.source.description} no longer matches the table contract: ${drift.errors.join('; ')}. ` +
          'Nothing was extracted; fix the source or change functions/core/contract/source-tables.ts on purpose.',
      );
    }

    for (const table of SOURCE_TABLES) {
      const window = planWindow(table, previous?.tables[table.name], bound.upperBound);
      const read = await extractWindow(ctx, client, window, batchId);
      const cursor = nextCursor(window, read.last);
      tables[table.name] = {
        files: read.rows ? [{ key: rawKey(table.name, batchId), rows: read.rows, bytes: read.bytes }] : [],
        rows: read.rows,
        window: { from: window.from, upperBound: window.upperBound },
        cursor,
        maxLastUpdated: maxTimestamp(previous?.tables[table.name]?.maxLastUpdated, cursor?.lastUpdated),
      };
      totalRows += read.rows;
      totalBytes += read.bytes;
      ctx.log.progress('extract', { table: table.name, rows: read.rows, bytes: read.bytes, elapsedMs: Date.now() - t0 });
      ctx.log.metric('Rows', read.rows, 'Count', { table: table.name, stage: 'extract' });
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }

  for (const warning of warnings) ctx.log.warn(warning, { batchId });
  const rows = Object.fromEntries(Object.entries(tables).map(([name, t]) => [name, t.rows]));
  const base = { batchId, seq, rows, bytes: totalBytes, warnings };
  if (totalRows === 0) {
    return { ...base, published: false, reason: 'nothing-new', elapsedMs: Date.now() - t0 };
  }

  const manifest: ExtractManifest = {
    kind: 'extract',
    version: 1,
    batchId,
    seq,
    previousBatchId: previous?.batchId ?? null,
    startedAt: started.toISOString(),
    finishedAt: ctx.now().toISOString(),
    snapshotAt,
    tables: tables as ExtractManifest['tables'],
  };
  try {
    await ctx.ingestion.put(extractManifestKey(seq), JSON.stringify(manifest, null, 2), { ifNoneMatch: true, contentType: 'application/json' });
  } catch (err) {
    if (err instanceof ObjectExistsError) {
      ctx.log.warn(`Another extract published batch ${seq} first; this run's raw files are left unreferenced`, { batchId });
      return { ...base, published: false, reason: 'lost-race', elapsedMs: Date.now() - t0 };
    }
    throw err;
  }
  ctx.log.info('Extract published a batch', { batchId, rows: totalRows, bytes: totalBytes });
  return { ...base, published: true, manifest, elapsedMs: Date.now() - t0 };
}

async function connectSource(ctx: PipelineContext): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: await ctx.source.url(), application_name: 'totes-lake-extract' });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new Error(
      `Cannot connect to totesys at ${ctx.source.description}: ${(err as Error).message}. ` +
        'Check the URL (--source-url / TOTES_SOURCE_URL), the credentials and that the server is reachable.',
    );
  }
  return client;
}

interface UpperBound {
  upperBound: string;
  snapshotAt: string;
  hiddenSessions: number;
}

/**
 * The instant every window of this batch stops short of: the snapshot's clock or the start of the
 * oldest transaction still open on the database, whichever is earlier, truncated to the
 * millisecond, minus the commit lag. Read as UTC text, never through a JavaScript Date.
 */
async function readUpperBound(client: pg.Client, commitLagSeconds: number): Promise<UpperBound> {
  const result = await client.query<{ upper_bound: string; snapshot_at: string; hidden: number }>(
    `SELECT to_char(date_trunc('milliseconds', least(s.clock, coalesce(s.oldest, s.clock))) - make_interval(secs => $1::double precision),
                    'YYYY-MM-DD HH24:MI:SS.MS') AS upper_bound,
            to_char(s.clock, 'YYYY-MM-DD HH24:MI:SS.MS') AS snapshot_at,
            s.hidden::int AS hidden
       FROM (SELECT statement_timestamp() AT TIME ZONE 'UTC' AS clock,
                    (SELECT min(a.xact_start) AT TIME ZONE 'UTC' FROM pg_stat_activity a
                      WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL) AS oldest,
                    (SELECT count(*) FROM pg_stat_activity a
                      WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
                        AND a.backend_type = 'client backend' AND a.state IS NULL) AS hidden) s`,
    [commitLagSeconds],
  );
  const row = result.rows[0];
  return { upperBound: row.upper_bound, snapshotAt: row.snapshot_at, hiddenSessions: row.hidden };
}

interface WindowRead {
  rows: number;
  bytes: number;
  last?: ReturnType<typeof cursorOf>;
}

/** Streams one table's window into `raw/<table>/dt=…/<batch>.ndjson.gz`; writes nothing when the window is empty. */
async function extractWindow(ctx: PipelineContext, client: pg.Client, window: TableWindow, batchId: string): Promise<WindowRead> {
  const { table } = window;
  await client.query('SELECT set_config($1, $2, true), set_config($3, $4, true), set_config($5, $6, true)', [
    WINDOW_SETTINGS.fromTs, window.from?.lastUpdated ?? '',
    WINDOW_SETTINGS.fromId, window.from ? String(window.from.id) : '',
    WINDOW_SETTINGS.upperBound, window.upperBound,
  ]);
  const copy = client.query(copyTo(`COPY (${windowSelect(window)}) TO STDOUT`));
  const lines = new CopyLines((line) => withBatchId(line, batchId));
  copy.on('error', (err) => lines.destroy(err));
  copy.pipe(lines);

  const key = rawKey(table.name, batchId);
  let sink: PassThrough | undefined;
  let upload: Promise<{ bytes: number }> | undefined;
  try {
    for await (const chunk of lines) {
      if (!sink) {
        sink = new PassThrough();
        const gzip = createGzip({ level: 6 });
        sink.pipe(gzip);
        upload = ctx.ingestion.putStream(key, gzip, { contentType: 'application/x-ndjson' });
        upload.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
      }
      if (!sink.write(chunk)) await new Promise<void>((resolve) => sink!.once('drain', resolve));
    }
  } catch (err) {
    sink?.destroy(err as Error);
    throw new Error(`Extract of ${table.name} failed while streaming rows: ${(err as Error).message}`);
  }
  if (!sink || !upload) return { rows: 0, bytes: 0 };
  sink.end();
  const { bytes } = await upload;
  const last = lines.lastLine === undefined ? undefined : cursorOf(table, JSON.parse(lines.lastLine) as Record<string, unknown>);
  return { rows: lines.rows, bytes, last };
}
