/**
 * Where everything lives in the two stores. Every key the pipeline reads or writes is built here,
 * and every key read back is parsed here (the `parse*` functions); the stack's IAM grants
 * (cdktf/access/stage-permissions.ts) take their prefixes from the `*_PREFIX` constants.
 *
 * Ingestion store (immutable; nothing is overwritten or deleted):
 *   raw/<table>/dt=YYYY-MM-DD/<batch_id>.ndjson.gz      raw row versions of one batch
 *   deletions/<table>/dt=YYYY-MM-DD/<batch_id>.ndjson.gz deletion markers of one batch (core/extract/deletions.ts)
 *   manifests/extract/<seq>.json                         batch manifest, written last, If-None-Match
 *   progress/extract/<seq>/<attempt>.json                an unfinished batch's progress (long first loads)
 * Processed store:
 *   current/<table>/<batch_id>/                          current state after a batch (a base or a delta)
 *   star/<dimension>/<batch_id>/                         a dimension rebuilt by a batch
 *   star/<fact>/batch_id=<batch_id>/                     a fact's new versions from a batch
 *   changes/<dimension>/<batch_id>/                      rows of a rebuilt dimension that changed
 *   manifests/transform/<seq>.json                       transform manifest, written last
 *   catalog/<table>.json                                 local catalog pointers (Glue in the cloud)
 *   leases/<stage>/<seq>/<attempt>[-released].json      which run is working on a batch (stage-lease.ts)
 *   quarantine/<batch_id>.json                           why a batch was not published (data-tests.ts)
 *   runs/<YYYYMMDDTHHMMSS.mmmZ>-<batch_id|noop>.json     one record per cycle or stage run
 *   heartbeats/extract/<seq>.json                        newest extract that found nothing new after batch <seq> (overwritten)
 *   models/<star table>.json                             the SQL version a backfill published for a star table (transform/model-versions.ts)
 *   backfills/<fact>/<sql hash>.json                     a backfill's progress (transform/backfill.ts)
 *   star/<fact>/sql=<hash12>/from=<batch_id>/batch_id=<batch_id>/  a fact's batch rebuilt by a backfill with that SQL version (in groups)
 *   star/<fact>/compacted=<through batch>-<inputs hash8>/created_month=YYYY-MM/  a fact's versions of one month of
 *                                                        created_date, written by a compaction (transform/fact-compaction.ts)
 *
 * Sequence numbers are zero-padded so that key order is batch order.
 */

const SEQ_WIDTH = 10;

/** A batch id: `<seq>-<UTC time>-<nonce>`, e.g. `0000000042-20261125T204100Z-3f9a`. */
export const BATCH_ID_PATTERN = /^(\d{10})-(\d{8}T\d{6}Z)-([0-9a-f]{4})$/;

export function padSeq(seq: number): string {
  if (!Number.isInteger(seq) || seq < 1) throw new Error(`Batch sequence must be a positive integer, got ${seq}`);
  return String(seq).padStart(SEQ_WIDTH, '0');
}

export function newBatchId(seq: number, now: Date, nonce: string): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const id = `${padSeq(seq)}-${stamp}-${nonce}`;
  if (!BATCH_ID_PATTERN.test(id)) throw new Error(`Malformed batch id ${id}`);
  return id;
}

export function parseBatchId(batchId: string): { seq: number; stamp: string } {
  const m = BATCH_ID_PATTERN.exec(batchId);
  if (!m) throw new Error(`"${batchId}" is not a batch id (expected <seq>-<YYYYMMDDTHHMMSSZ>-<nonce>)`);
  return { seq: Number(m[1]), stamp: m[2] };
}

/** The UTC date partition of a batch: the day its extract started. */
export function batchDate(batchId: string): string {
  const { stamp } = parseBatchId(batchId);
  return `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}`;
}

export const RAW_PREFIX = 'raw/';
export const rawPrefix = (table: string): string => `${RAW_PREFIX}${table}/`;
/**
 * A raw file of a batch. A table read in one piece is `<batch_id>.ndjson.gz`; a table read in
 * chunks (long first loads) adds the part number and the nonce of the invocation that wrote it,
 * so a resumed batch never writes a key twice.
 */
export const rawKey = (table: string, batchId: string, part?: { index: number; nonce: string }): string =>
  `${rawPrefix(table)}dt=${batchDate(batchId)}/${batchId}${part ? `-p${String(part.index).padStart(4, '0')}-${part.nonce}` : ''}.ndjson.gz`;

/** Dt partition and batch id of a raw key of `table`; throws if the key is not one {@link rawKey} builds. */
export function parseRawKey(table: string, key: string): { dt: string; batchId: string } {
  const m = /^raw\/([a-z_]+)\/dt=(\d{4}-\d{2}-\d{2})\/([^/]+?)(-p\d{4}-[0-9a-f]{4})?\.ndjson\.gz$/.exec(key);
  if (!m || m[1] !== table) throw new Error(`"${key}" is not a raw key of table ${table} (expected raw/${table}/dt=YYYY-MM-DD/<batch id>.ndjson.gz)`);
  if (!BATCH_ID_PATTERN.test(m[3])) throw new Error(`"${m[3]}" in raw key "${key}" is not a batch id`);
  return { dt: m[2], batchId: m[3] };
}

export const DELETIONS_PREFIX = 'deletions/';
export const deletionsPrefix = (table: string): string => `${DELETIONS_PREFIX}${table}/`;
/** The deletion markers one batch found for `table` (core/extract/deletions.ts): one file, never chunked. */
export const deletionKey = (table: string, batchId: string): string => `${deletionsPrefix(table)}dt=${batchDate(batchId)}/${batchId}.ndjson.gz`;

/** Table, dt partition and batch id of a deletion-marker key ({@link deletionKey}), or undefined for any other key. */
export function parseDeletionKey(key: string): { table: string; dt: string; batchId: string } | undefined {
  const m = /^deletions\/([a-z_]+)\/dt=(\d{4}-\d{2}-\d{2})\/([^/]+)\.ndjson\.gz$/.exec(key);
  return m && BATCH_ID_PATTERN.test(m[3]) ? { table: m[1], dt: m[2], batchId: m[3] } : undefined;
}

/** The key of manifest `seq` in a manifest log (`manifests/<stage>/`): the seq zero-padded, so key order is batch order. */
export const manifestKey = (logPrefix: string, seq: number): string => `${logPrefix}${padSeq(seq)}.json`;

export const EXTRACT_MANIFEST_PREFIX = 'manifests/extract/';
export const extractManifestKey = (seq: number): string => manifestKey(EXTRACT_MANIFEST_PREFIX, seq);

export const EXTRACT_PROGRESS_PREFIX = 'progress/extract/';
export const extractProgressPrefix = (seq: number): string => `${EXTRACT_PROGRESS_PREFIX}${padSeq(seq)}/`;
export const extractProgressKey = (seq: number, attempt: number): string => `${extractProgressPrefix(seq)}${String(attempt).padStart(4, '0')}.json`;

/**
 * The heartbeat of the newest extract that found nothing new after batch `seq` (extract-heartbeat.ts).
 * In the processed store, not the ingestion store: it is overwritten by every quiet tick, and the
 * ingestion store keeps every object (and, in S3, every locked version) for a year.
 */
export const EXTRACT_HEARTBEAT_PREFIX = 'heartbeats/extract/';
export const extractHeartbeatKey = (seq: number): string => `${EXTRACT_HEARTBEAT_PREFIX}${padSeq(seq)}.json`;

export const TRANSFORM_MANIFEST_PREFIX = 'manifests/transform/';
export const transformManifestKey = (seq: number): string => manifestKey(TRANSFORM_MANIFEST_PREFIX, seq);

/** Sequence number encoded in a manifest key ({@link manifestKey}), or undefined for a key that is not one. */
export function manifestSeq(key: string): number | undefined {
  const m = /\/(\d{10})\.json$/.exec(key);
  return m ? Number(m[1]) : undefined;
}

export const CURRENT_PREFIX = 'current/';
export const currentPrefix = (table: string, batchId: string): string => `${CURRENT_PREFIX}${table}/${batchId}/`;

/** Table and batch of a current-state output prefix ({@link currentPrefix}); throws on anything else. */
export function parseCurrentPrefix(prefix: string): { table: string; batchId: string } {
  const m = /^current\/([a-z_]+)\/([^/]+)\/$/.exec(prefix);
  if (!m || !BATCH_ID_PATTERN.test(m[2])) throw new Error(`"${prefix}" is not a current-state prefix (expected current/<table>/<batch id>/)`);
  return { table: m[1], batchId: m[2] };
}

export const STAR_PREFIX = 'star/';
export const dimensionPrefix = (table: string, batchId: string): string => `${STAR_PREFIX}${table}/${batchId}/`;
export const CHANGES_PREFIX = 'changes/';
/** Rows of a rebuilt dimension that differ from the version it replaces (what the load upserts). */
export const dimensionChangesPrefix = (table: string, batchId: string): string => `${CHANGES_PREFIX}${table}/${batchId}/`;
/** Dimension and batch of a dimension's build prefix ({@link dimensionPrefix}), or undefined for any other prefix. */
export function parseDimensionPrefix(prefix: string): { table: string; batchId: string } | undefined {
  const m = /^star\/([a-z_]+)\/([^/]+)\/$/.exec(prefix);
  return m && BATCH_ID_PATTERN.test(m[2]) ? { table: m[1], batchId: m[2] } : undefined;
}

/** Dimension and batch of a change-set prefix ({@link dimensionChangesPrefix}); throws on anything else. */
export function parseDimensionChangesPrefix(prefix: string): { table: string; batchId: string } {
  const m = /^changes\/([a-z_]+)\/([^/]+)\/$/.exec(prefix);
  if (!m || !BATCH_ID_PATTERN.test(m[2])) throw new Error(`"${prefix}" is not a dimension change-set prefix (expected changes/<dimension>/<batch id>/)`);
  return { table: m[1], batchId: m[2] };
}
export const factTablePrefix = (table: string): string => `${STAR_PREFIX}${table}/`;
export const factBatchPrefix = (table: string, batchId: string): string => `${factTablePrefix(table)}batch_id=${batchId}/`;

/** Table and batch of a fact's batch prefix ({@link factBatchPrefix}), or undefined for any other prefix. */
export function parseFactBatchPrefix(prefix: string): { table: string; batchId: string } | undefined {
  const m = /^star\/([a-z_]+)\/batch_id=([^/]+)\/$/.exec(prefix);
  return m ? { table: m[1], batchId: m[2] } : undefined;
}

/**
 * The partition column of a fact's compacted layout: the month of `created_date`, 'YYYY-MM'
 * (transform/fact-compaction.ts). Analysts bound a query by date with it (README, "Querying the lake").
 */
export const FACT_MONTH_COLUMN = 'created_month';
const MONTH_PATTERN = /^\d{4}-(0[1-9]|1[0-2])$/;

/**
 * Where one compaction of a fact writes (transform/fact-compaction.ts): named by the newest batch it
 * holds and a hash of exactly what it read, so a re-run of the same compaction rewrites the same
 * unpublished folder and a different one never touches it. It holds a `created_month=YYYY-MM/`
 * folder per month it rewrote ({@link factMonthPrefix}), each one partition of the fact once published.
 */
export const factCompactionPrefix = (table: string, throughBatchId: string, inputsHash: string): string => {
  if (!BATCH_ID_PATTERN.test(throughBatchId)) throw new Error(`"${throughBatchId}" is not a batch id`);
  if (!/^[0-9a-f]{8,}$/.test(inputsHash)) throw new Error(`"${inputsHash}" is not a hex hash`);
  return `${factTablePrefix(table)}compacted=${throughBatchId}-${inputsHash.slice(0, 8)}/`;
};
export const factMonthPrefix = (compactionPrefix: string, month: string): string => {
  if (!MONTH_PATTERN.test(month)) throw new Error(`"${month}" is not a month (YYYY-MM)`);
  return `${compactionPrefix}${FACT_MONTH_COLUMN}=${month}/`;
};

/** Table, compaction and month of a compacted month's prefix ({@link factMonthPrefix}), or undefined for any other prefix. */
export function parseFactMonthPrefix(prefix: string): { table: string; throughBatchId: string; month: string } | undefined {
  const m = /^star\/([a-z_]+)\/compacted=(\d{10}-\d{8}T\d{6}Z-[0-9a-f]{4})-[0-9a-f]{8}\/created_month=(\d{4}-\d{2})\/$/.exec(prefix);
  return m && MONTH_PATTERN.test(m[3]) ? { table: m[1], throughBatchId: m[2], month: m[3] } : undefined;
}

export const COMPACTIONS_PREFIX = 'compactions/';
/**
 * The journal of a fact's last compaction (transform/fact-compaction.ts): what it writes and what it
 * replaces, written before it writes and removed once what it replaced is expired, so a crash at any
 * step leaves the next compaction a list of what to expire (`ObjectStore.expire`). Overwritten.
 */
export const factCompactionJournalKey = (table: string): string => `${COMPACTIONS_PREFIX}${table}.json`;

export const LEASES_PREFIX = 'leases/';
/** Every lease of one stage's batches (`leases/<stage>/`): what a run of that stage, or a backfill holding the transform's, writes. */
export const stageLeasePrefix = (stage: string): string => `${LEASES_PREFIX}${stage}/`;
export const leasePrefix = (stage: string, seq: number): string => `${stageLeasePrefix(stage)}${padSeq(seq)}/`;
export const leaseKey = (stage: string, seq: number, attempt: number, released = false): string =>
  `${leasePrefix(stage, seq)}${String(attempt).padStart(4, '0')}${released ? '-released' : ''}.json`;

/** Attempt number of a lease key ({@link leaseKey}) and whether it marks a release; undefined for any other key. */
export function parseLeaseKey(key: string): { attempt: number; released: boolean } | undefined {
  const m = /\/(\d{4})(-released)?\.json$/.exec(key);
  return m ? { attempt: Number(m[1]), released: Boolean(m[2]) } : undefined;
}

export const QUARANTINE_PREFIX = 'quarantine/';
/** The report of a batch whose staged outputs failed their data tests (core/transform/data-tests.ts). */
export const quarantineKey = (batchId: string): string => `${QUARANTINE_PREFIX}${batchId}.json`;

export const MODELS_PREFIX = 'models/';
/** The SQL version a backfill published for a star table (transform/model-versions.ts): overwritten by each backfill. */
export const modelVersionKey = (table: string): string => `${MODELS_PREFIX}${table}.json`;

export const BACKFILLS_PREFIX = 'backfills/';
/** The progress of every backfill of one fact (`backfills/<fact>/`). */
export const backfillProgressPrefix = (table: string): string => `${BACKFILLS_PREFIX}${table}/`;
/** A backfill's progress: one per (fact, SQL version), rewritten as batches are rebuilt, so a crashed backfill resumes. */
export const backfillKey = (table: string, sqlHash: string): string => `${backfillProgressPrefix(table)}${sqlHash}.json`;
/**
 * Where a backfill writes a fact rebuilt with SQL version `sqlHash`: beside the partitions the batches
 * wrote (`star/<fact>/batch_id=…/`), in its own folder until the catalog is repointed at it, so readers
 * never see a mix. Batches are rebuilt in groups, one statement each: a group's folder is named by its
 * first batch, and holds a `batch_id=<batch>/` folder per batch (a Hive partition), each one of the
 * fact's partitions once published.
 */
export const backfillGroupPrefix = (table: string, sqlHash: string, firstBatchId: string): string =>
  `${backfillRebuildPrefix(table)}${sqlHash.slice(0, 12)}/from=${firstBatchId}/`;
/** What every backfill of a fact writes starts with (`star/<fact>/sql=`): the backfill operator policy's grant. */
export const backfillRebuildPrefix = (table: string): string => `${factTablePrefix(table)}sql=`;
export const backfillFactPrefix = (table: string, sqlHash: string, firstBatchId: string, batchId: string): string =>
  `${backfillGroupPrefix(table, sqlHash, firstBatchId)}batch_id=${batchId}/`;

export const catalogKey = (table: string): string => `catalog/${table}.json`;

export const RUNS_PREFIX = 'runs/';
/**
 * Key of one run record: the run's start time first, so key order is time order and a listing's
 * tail is the latest runs; then the batch it extracted, or `noop` when it extracted none.
 */
export function runRecordKey(startedAt: Date, batchId: string | undefined): string {
  return `${runRecordsFrom(startedAt)}-${batchId ?? 'noop'}.json`;
}

/** `runs/<stamp>`: sorts before the key of every run started at `startedAt` or later, after every earlier one. */
export function runRecordsFrom(startedAt: Date): string {
  return `${RUNS_PREFIX}${startedAt.toISOString().replace(/[-:]/g, '')}`;
}
