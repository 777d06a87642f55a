import pg from 'pg';
import { SOURCE_TABLES, type SourceTableName } from '../contract/source-tables';
import { STAR_TABLES, type StarKind, type StarTableName } from '../contract/star-tables';
import { listExtractSeqs, listTransformSeqs, readExtractManifest, readTransformManifest } from '../lake/manifest-log';
import { quarantineKey } from '../lake/lake-layout';
import { extendExtractHistory, extendTransformHistory } from '../lake/lake-history';
import type { Cursor, ExtractHistory, TransformHistory } from '../lake/manifests';
import { qualifiedTable } from '../load/load-statements';
import type { ObjectStore } from '../ports/object-store';
import { publishedVersion, readModelVersion, backfillCommand } from '../transform/model-versions';
import { readProgress } from '../transform/backfill';
import { loadSqlFiles } from '../transform/sql-files';
import { measureFreshness, type Freshness } from './freshness';
import { concurrently } from '../transform/concurrently';
import { READ_CONCURRENCY, readRunHistory } from './run-history';
import type { RunRecord } from './run-record';

/**
 * What `totes status` shows: where every table stands from source to warehouse, how fresh the
 * warehouse is against the SLA, and the latest runs. Gathered read-only from the manifests, the
 * run history, the warehouse's load ledger and (optionally) the source; a part that cannot be
 * reached is reported in `problems` and its numbers left null, so status still answers when, say,
 * the warehouse is down — which is exactly when someone runs it.
 */

export interface StatusInputs {
  ingestion: ObjectStore;
  processed: ObjectStore;
  /** URL of totesys; omit to skip the source counts. */
  sourceUrl?: () => Promise<string>;
  /** URL of the warehouse; omit to skip the warehouse counts. */
  warehouseUrl?: () => Promise<string>;
  warehouseSchema: string;
  now: Date;
  /** Freshness past this many seconds breaches the SLA. */
  slaSeconds: number;
  /** How many of the latest runs to include. */
  runs: number;
  /** The directory holding `sql/transform/`: each star table's file is compared with the version that built it; omit to skip. */
  sqlRoot?: string;
}

export interface BatchRef {
  batchId: string;
  seq: number;
  at: string | null;
}

export interface SourceTableStatus {
  table: SourceTableName;
  /** Where the next extract starts: (last_updated, id) after the newest batch. */
  cursor: Cursor | null;
  /** Newest batch that carried rows of this table. */
  lastBatch: string | null;
  sourceRows: number | null;
  sourceNewest: string | null;
  /** Row versions in the raw lake (every published batch). */
  lakeVersions: number;
  /** Rows of the compacted base of the lake's current state after the newest transformed batch. */
  lakeCurrentRows: number | null;
  /** Versions in the current state's deltas since that base (not yet compacted; 0 when none). */
  lakeDeltaVersions: number;
  /**
   * Newest source last_updated of this table in the warehouse's newest loaded batch: when the table
   * last changed, as far as the warehouse knows (a quiet table's is old; that is not staleness).
   */
  loadedNewest: string | null;
}

export interface StarTableStatus {
  table: StarTableName;
  kind: StarKind;
  /** Rows in the lake: a dimension's current build, a fact's every published partition. */
  lakeRows: number | null;
  warehouseRows: number | null;
  lastBatch: string | null;
  /**
   * The SQL version that built the published table and the one its file holds now (sha256, hex);
   * `changed` when they differ (transform/model-versions.ts): a dimension is rebuilt by the next
   * batch, a fact waits for `totes backfill`. Null when the SQL files were not read.
   */
  sql: { published: string | null; file: string; changed: boolean; backfill: { step: string; batches: number } | null } | null;
}

export interface PipelineStatus {
  generatedAt: string;
  sla: { seconds: number; breached: boolean; reason: string };
  /** now − the source instant the warehouse reflects (operate/freshness.ts); null when unknown. */
  freshness: Freshness | null;
  batches: { extracted: BatchRef | null; transformed: BatchRef | null; loaded: BatchRef | null };
  /** Batches extracted but not yet in the warehouse (they do not count for freshness until loaded); null when the warehouse could not be read. */
  backlog: Backlog | null;
  sourceTables: SourceTableStatus[];
  starTables: StarTableStatus[];
  runs: RunRecord[];
  problems: string[];
}

export async function readPipelineStatus(inputs: StatusInputs): Promise<PipelineStatus> {
  const problems: string[] = [];
  const warehouse = inputs.warehouseUrl ? await readWarehouse(inputs.warehouseUrl, inputs.warehouseSchema).catch((err: Error) => problem(problems, 'warehouse', err)) : undefined;
  const source = inputs.sourceUrl ? await readSource(inputs.sourceUrl).catch((err: Error) => problem(problems, 'source (totesys)', err)) : undefined;

  // Both logs from the newest loaded batch on (S3's StartAfter): what the status needs of them is
  // there (the newest manifests and the backlog), so it costs the batches since, not the lake's age.
  // Without a loaded batch, or when the log does not have it, each is listed from its beginning.
  const loadedSeq = warehouse?.loaded?.seq;
  const listFromLoaded = async (list: (store: ObjectStore, startAfterSeq?: number) => Promise<number[]>, store: ObjectStore): Promise<number[]> => {
    const since = loadedSeq !== undefined && loadedSeq > 1 ? await list(store, loadedSeq - 1) : [];
    return since[0] === loadedSeq ? since : list(store);
  };
  const extractSeqs = await listFromLoaded(listExtractSeqs, inputs.ingestion);
  const transformSeqs = await listFromLoaded(listTransformSeqs, inputs.processed);
  const lastExtract = extractSeqs.length ? await readExtractManifest(inputs.ingestion, extractSeqs.at(-1)!) : undefined;
  const lastTransform = transformSeqs.length ? await readTransformManifest(inputs.processed, transformSeqs.at(-1)!) : undefined;
  // The lake through the newest batches, as their manifests record it (lake/lake-history.ts): two
  // reads however old the lake. A log begun before manifests recorded it is read whole and folded.
  const extractHistory = lastExtract?.history ?? (await foldExtractLog(inputs.ingestion, await listExtractSeqs(inputs.ingestion)));
  const transformHistory =
    lastTransform?.history ??
    (await readWholeLog(await listTransformSeqs(inputs.processed), (seq) => readTransformManifest(inputs.processed, seq))).reduce(extendTransformHistory, {} as TransformHistory);

  const loadedManifest = warehouse?.loaded && extractSeqs.includes(warehouse.loaded.seq) ? await readExtractManifest(inputs.ingestion, warehouse.loaded.seq) : undefined;
  if (warehouse?.loaded && !loadedManifest) {
    problems.push(`The warehouse's newest loaded batch ${warehouse.loaded.batchId} has no extract manifest in ${inputs.ingestion.name}: is the warehouse from another lake?`);
  }
  const freshness = loadedManifest
    ? ((await measureFreshness(inputs, warehouse!.loaded, inputs.now).catch((err: Error) => void problems.push(`Could not measure freshness: ${err.message}`))) ?? null)
    : null;
  const backlog = warehouse ? await readBacklog(inputs, extractSeqs, new Set(transformSeqs), warehouse.loaded?.seq ?? 0) : null;

  const sourceTables: SourceTableStatus[] = SOURCE_TABLES.map(({ name }) => {
    return {
      table: name,
      cursor: lastExtract?.tables[name]?.cursor ?? null,
      lastBatch: extractHistory[name]?.lastBatch ?? null,
      sourceRows: source?.[name]?.rows ?? null,
      sourceNewest: source?.[name]?.newest ?? null,
      lakeVersions: extractHistory[name]?.versions ?? 0,
      lakeCurrentRows: lastTransform?.currentOutputs[name]?.rows ?? null,
      lakeDeltaVersions: (lastTransform?.currentDeltas?.[name] ?? []).reduce((sum, d) => sum + d.rows, 0),
      loadedNewest: loadedManifest?.tables[name]?.maxLastUpdated ?? null,
    };
  });

  const sqlFiles = inputs.sqlRoot ? await loadSqlFiles(inputs.sqlRoot).catch((err: Error) => problem(problems, 'SQL files', err)) : undefined;
  const sqlOf = async (name: StarTableName): Promise<StarTableStatus['sql']> => {
    const file = sqlFiles?.find((f) => f.table.name === name);
    if (!file) return null;
    const published = publishedVersion(name, lastTransform, file.table.kind === 'fact' ? await readModelVersion(inputs.processed, name) : undefined) ?? null;
    const changed = published !== null && published !== file.sqlHash;
    // A backfill of the file's version under way (or finished in the lake only): where it stands.
    const progress = file.table.kind === 'fact' ? await readProgress({ processed: inputs.processed }, name, file.sqlHash) : undefined;
    const backfill = progress && progress.step !== 'loaded' ? { step: progress.step, batches: progress.batches.length } : null;
    if (backfill) problems.push(`The backfill of ${name} with version ${file.sqlHash.slice(0, 12)} stopped at step ${backfill.step} (${backfill.batches} batch(es) rebuilt): run \`${backfillCommand([name])}\` again to finish it`);
    if (changed) {
      problems.push(
        `${file.origin} changed since it built the published ${name} (version ${published.slice(0, 12)}, the file is now ${file.sqlHash.slice(0, 12)}): ` +
          (file.table.kind === 'fact'
            ? `batches with versions of ${name} wait until \`${backfillCommand([name])}\` rebuilds its history with the new version`
            : 'the next batch rebuilds the dimension whole with it'),
      );
    }
    return { published, file: file.sqlHash, changed, backfill };
  };
  const sqlVersions = new Map<StarTableName, StarTableStatus['sql']>();
  for (const { name } of STAR_TABLES) sqlVersions.set(name, await sqlOf(name));

  const starTables: StarTableStatus[] = STAR_TABLES.map(({ name, kind }) => ({
    table: name,
    kind,
    sql: sqlVersions.get(name) ?? null,
    lakeRows: !lastTransform ? null : kind === 'fact' ? (transformHistory[name]?.factRows ?? 0) : (lastTransform.star[name]?.rows ?? null),
    warehouseRows: warehouse?.counts[name] ?? null,
    lastBatch: transformHistory[name]?.lastBatch ?? null,
  }));

  const history = await readRunHistory(inputs.processed, { last: inputs.runs, now: inputs.now });
  for (const bad of history.unreadable) problems.push(`Run record ${bad.key} is unreadable: ${bad.error}`);

  const sla = judgeSla(freshness?.seconds, inputs.slaSeconds, Boolean(warehouse), backlog);
  return {
    generatedAt: inputs.now.toISOString(),
    sla,
    freshness,
    batches: {
      extracted: lastExtract ? { batchId: lastExtract.batchId, seq: lastExtract.seq, at: lastExtract.finishedAt } : null,
      transformed: lastTransform ? { batchId: lastTransform.batchId, seq: lastTransform.seq, at: lastTransform.finishedAt } : null,
      loaded: warehouse?.loaded ?? null,
    },
    backlog,
    sourceTables,
    starTables,
    runs: history.records,
    problems,
  };
}

export interface Backlog {
  /** Batches extracted after the newest loaded one. */
  batches: number;
  /** The oldest of them, which every later one waits for; null when none. */
  next: BatchRef | null;
  /** Where that one stands: not transformed yet, quarantined (see its report), or transformed and waiting for the load. */
  state: 'none' | 'to-transform' | 'quarantined' | 'to-load';
  quarantineReport: string | null;
}

/** Every manifest of a log, in order, read {@link READ_CONCURRENCY} at a time (a log whose newest manifest records no history). */
function readWholeLog<T>(seqs: readonly number[], read: (seq: number) => Promise<T>): Promise<T[]> {
  return concurrently(seqs, read, READ_CONCURRENCY);
}

/** The raw lake through the extract manifests `seqs` (the whole log), folded from each: what a newest manifest's `history` records. */
export async function foldExtractLog(store: ObjectStore, seqs: readonly number[]): Promise<ExtractHistory> {
  return (await readWholeLog(seqs, (seq) => readExtractManifest(store, seq))).reduce(extendExtractHistory, {} as ExtractHistory);
}

async function readBacklog(stores: Pick<StatusInputs, 'ingestion' | 'processed'>, extractSeqs: readonly number[], transformed: Set<number>, loadedSeq: number): Promise<Backlog> {
  const waiting = extractSeqs.filter((seq) => seq > loadedSeq);
  if (!waiting.length) return { batches: 0, next: null, state: 'none', quarantineReport: null };
  const next = await readExtractManifest(stores.ingestion, waiting[0]);
  const ref = { batchId: next.batchId, seq: next.seq, at: next.finishedAt };
  if (transformed.has(next.seq)) return { batches: waiting.length, next: ref, state: 'to-load', quarantineReport: null };
  const report = quarantineKey(next.batchId);
  const quarantined = await stores.processed.exists(report);
  return { batches: waiting.length, next: ref, state: quarantined ? 'quarantined' : 'to-transform', quarantineReport: quarantined ? report : null };
}

/**
 * Breached when freshness is past the SLA, or unknown (nothing loaded, or the warehouse unreadable):
 * a health check must not pass on no data. The reason names a backlog when there is one: it is
 * what holds freshness back.
 */
export function judgeSla(seconds: number | undefined, slaSeconds: number, warehouseRead: boolean, backlog?: Backlog | null): PipelineStatus['sla'] {
  const where = { none: '', 'to-transform': 'not transformed yet', quarantined: `quarantined (report ${backlog?.quarantineReport})`, 'to-load': 'transformed, not loaded yet' };
  const waiting = backlog?.next ? `; ${backlog.batches} batch(es) extracted but not loaded, the oldest ${backlog.next.batchId} ${where[backlog.state]}` : '';
  if (seconds === undefined) {
    return {
      seconds: slaSeconds,
      breached: true,
      reason: (warehouseRead ? 'no batch has been loaded into the warehouse yet' : 'the warehouse could not be read, so freshness is unknown') + waiting,
    };
  }
  const breached = seconds > slaSeconds;
  return {
    seconds: slaSeconds,
    breached,
    reason: (breached ? `freshness ${formatAge(seconds)} is past the SLA of ${formatAge(slaSeconds)}` : `freshness ${formatAge(seconds)} is within the SLA of ${formatAge(slaSeconds)}`) + waiting,
  };
}

/** '42s', '5m 03s', '2h 07m', '3d 04h'. */
export function formatAge(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d ${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

function problem(problems: string[], what: string, err: Error): undefined {
  problems.push(`Could not read the ${what}: ${err.message}`);
  return undefined;
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

interface WarehouseState {
  counts: Partial<Record<StarTableName, number>>;
  loaded: BatchRef | null;
}

async function readWarehouse(url: () => Promise<string>, schema: string): Promise<WarehouseState> {
  return withClient(await url(), async (client) => {
    const ledger = await client.query<{ n: string }>('SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2', [schema, 'load_ledger']);
    if (Number(ledger.rows[0].n) === 0) return { counts: {}, loaded: null };
    const counts: Partial<Record<StarTableName, number>> = {};
    for (const table of STAR_TABLES) {
      const res = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualifiedTable(schema, table.name)}`);
      counts[table.name] = Number(res.rows[0].n);
    }
    const last = await client.query<{ batch_id: string; seq: number; loaded_at: Date | null }>(
      `SELECT batch_id, seq, loaded_at FROM ${qualifiedTable(schema, 'load_ledger')} ORDER BY seq DESC LIMIT 1`,
    );
    const row = last.rows[0];
    return { counts, loaded: row ? { batchId: row.batch_id, seq: Number(row.seq), at: row.loaded_at ? new Date(row.loaded_at).toISOString() : null } : null };
  });
}

async function readSource(url: () => Promise<string>): Promise<Partial<Record<SourceTableName, { rows: number; newest: string | null }>>> {
  return withClient(await url(), async (client) => {
    const out: Partial<Record<SourceTableName, { rows: number; newest: string | null }>> = {};
    for (const table of SOURCE_TABLES) {
      // Identifiers come from the table contract only.
      const res = await client.query<{ n: string; newest: string | null }>(
        `SELECT count(*) AS n, to_char(max(last_updated), 'YYYY-MM-DD HH24:MI:SS.MS') AS newest FROM "${table.name}"`,
      );
      out[table.name] = { rows: Number(res.rows[0].n), newest: res.rows[0].newest };
    }
    return out;
  });
}
