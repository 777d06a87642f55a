import type pg from 'pg';
import type { SourceTable } from '../contract/source-tables';
import type { Cursor, SourceSnapshot } from '../lake/manifests';
import { renderedRow, TIMESTAMP_TEXT, type RowRendering } from './extract-window';
import { quoteIdent } from '../sql/sql-text';

/**
 * Capture by commit, not by the writer's clock: the late-commit rescue.
 *
 * The `(last_updated, pk)` window (extract-window.ts) trusts a writer to stamp `last_updated` no
 * earlier than its own transaction's start. A writer whose stamp is earlier (a client clock behind
 * the database, a stamp taken before BEGIN, a retry re-sending an old stamp, a prepared
 * transaction) and that commits after an extract's snapshot can land at or below the cursor, where
 * no window looks again. PostgreSQL knows, without trusting any clock, which versions committed
 * after a snapshot: a version's `xmin` is not visible in it. So every batch records its snapshot
 * ({@link SourceSnapshot}), and the next batch also reads, per table, the versions
 *
 *   (last_updated, pk) <= previous cursor        -- strictly disjoint from the window (> cursor)
 *   AND xmin not visible in the previous snapshot S_prev
 *   AND last_updated >= previous cursor - lookback        (the band: an index range scan)
 *
 * **Exactly once.** Batches read in snapshots S_1 ⊂ S_2 ⊂ … (a version visible in one is visible in
 * every later one). Batch k+1 rescues a version only if S_k does not see it and S_{k+1} does, so at
 * most one batch rescues it: the first whose snapshot sees it. No window reads it too: a window
 * reads above its cursor, the rescue at or below it, and cursors only move forward. And no earlier
 * batch read it: each batch reads only what its snapshot sees.
 *
 * **Below the band.** A version stamped more than the lookback below the cursor is rescued only
 * when its transaction was recorded as *long in flight* at S_prev ({@link LongInFlight}): a
 * transaction older than half the lookback at the snapshot, a prepared transaction, a session whose
 * start this role cannot see, or a session that had no transaction id yet. When one of them has
 * committed (or ended) by the next batch, that batch also scans the whole table for versions below
 * the band that S_prev does not see: the same rule, so still exactly once. A transaction that
 * started less than half the lookback before S_prev stamps within the band unless its stamp is more
 * than half the lookback before its own start: that is the one assumption left on writers' clocks.
 *
 * **Sub-transactions.** A version written inside a savepoint carries the sub-transaction's id, and
 * pg_current_snapshot() lists top-level ids only: pg_visible_in_snapshot() calls an in-flight
 * sub-transaction's id visible. So the snapshot statement also lists the ids between the snapshot's
 * xmin and xmax that are still in progress ({@link captureSnapshot}); `pg_xact_status` answers
 * "in progress" for a sub-transaction while its top-level transaction runs. That is exact for every
 * transaction still running when the statement ends; if one in the snapshot ended in between, its
 * sub-transactions could be missed, so the snapshot is taken again.
 *
 * **Rewritten tables.** A rewrite (ALTER COLUMN … TYPE, a volatile DEFAULT) gives every row a new
 * `xmin`, which then says nothing about when the version committed: rescuing by it would read the
 * whole band again. So the snapshot statement also records each table's relfilenode, as its
 * snapshot sees it, and a table whose relfilenode changed since the previous snapshot is not
 * rescued by that batch (a warning says so): a late commit landing in the same interval as a
 * rewrite of its table is the case left out. VACUUM FULL, CLUSTER and TRUNCATE change it too.
 *
 * **Wraparound.** A row's `xmin` is 32 bits; snapshots are recorded in 64-bit form. A row's id is
 * widened with the epoch of the current snapshot ({@link widenXidSql}); a version the current
 * snapshot sees has an id at most 2^31 behind it (PostgreSQL freezes older ones), so this is exact
 * for every version a rescue can meet: FrozenTransactionId and BootstrapTransactionId are visible
 * to all.
 */

/** How far below the cursor the band reaches (seconds); also twice the age that makes a transaction long. */
export const DEFAULT_LATE_COMMIT_LOOKBACK_SECONDS = 300;

/** Attempts at a snapshot in which every in-flight transaction is still running when its statement ends. */
const SNAPSHOT_ATTEMPTS = 20;

/** Widest xmin..xmax range whose ids the snapshot statement checks one by one for sub-transactions. */
const MAX_XID_RANGE = 2_000_000;

/**
 * The 64-bit form of a 32-bit transaction id `xid32` (a bigint SQL expression, 0..2^32-1), in the
 * epoch of `xmax` (the current snapshot's xmax, a bigint SQL expression):
 *   full = (epoch(xmax) << 32) | xid32, minus 2^32 when that exceeds xmax (the id is from the
 *   previous epoch: it cannot be newer than the snapshot that sees its row).
 * 0, 1 and 2 (invalid, bootstrap, frozen) stay as they are: as xid8 they precede every snapshot's
 * xmin, so pg_visible_in_snapshot() calls them visible, which they are.
 * Mirrored by {@link widenXid}, which the unit tests check.
 */
export function widenXidSql(xid32: string, xmax: string): string {
  const full = `((((${xmax}) >> 32) << 32) | (${xid32}))`;
  return `(CASE WHEN (${xid32}) < 3 THEN (${xid32}) WHEN ${full} > (${xmax}) THEN ${full} - 4294967296 ELSE ${full} END)::text::xid8`;
}

/** {@link widenXidSql} in TypeScript. */
export function widenXid(xid32: bigint, xmax: bigint): bigint {
  if (xid32 < 3n) return xid32;
  const full = ((xmax >> 32n) << 32n) | xid32;
  return full > xmax ? full - (1n << 32n) : full;
}

/** The xmin of the row being scanned, as xid8, in the epoch of the transaction's snapshot. */
const ROW_XID = widenXidSql(`"xmin"::text::bigint`, `(SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint)`);

/**
 * The snapshot a later batch compares with, as pg_snapshot text: pg_current_snapshot()'s form
 * with the in-flight sub-transaction ids added to its xip list (ascending, as pg_snapshot requires).
 */
export function snapshotWithSubxids(s: Pick<SourceSnapshot, 'current' | 'subxids'>): string {
  const [xmin, xmax, xip] = s.current.split(':');
  const ids = [...(xip ? xip.split(',') : []), ...s.subxids].map(BigInt);
  ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `${xmin}:${xmax}:${[...new Set(ids)].join(',')}`;
}

export type LongInFlight = SourceSnapshot['longInFlight'][number];

interface SnapshotRow {
  snapshot: string;
  subxids: string[] | null;
  long_xids: string[] | null;
  range_too_wide: boolean;
  standby: boolean;
  filenodes: Record<string, number> | null;
  ended: string[] | null;
}

/**
 * Must be the first statement of the extract's REPEATABLE READ transaction: the snapshot it reads
 * is the transaction's. Returns what the manifest records, or undefined when a transaction of the
 * snapshot ended before the statement finished (the caller starts a new transaction and asks again).
 *
 * In one statement, in this order (a projection evaluates its columns in order):
 *   1. pg_current_snapshot();
 *   2. the ids in [xmin, xmax) outside its xip that are still in progress: sub-transactions of
 *      transactions in flight at the snapshot (an id in progress now and below xmax was assigned
 *      before the snapshot and runs still, so it ran at the snapshot);
 *   3. the xip ids not attributable to a session this role sees whose transaction started at or
 *      after `longSince`: prepared transactions, other roles' hidden sessions, and long ones;
 *   4. the xip ids no longer in progress: if any, step 2 may have missed their sub-transactions.
 */
async function snapshotStatement(client: pg.Client, longSince: string, tables: readonly string[]): Promise<SnapshotRow> {
  const res = await client.query<SnapshotRow>(
    `WITH s AS MATERIALIZED (
       SELECT pg_current_snapshot() AS snap,
              pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS lo,
              pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS hi)
     SELECT s.snap::text AS snapshot,
            s.hi - s.lo > $2 AS range_too_wide,
            pg_is_in_recovery() AS standby,
            (SELECT json_object_agg(t.name, c.relfilenode::bigint) FROM unnest($3::text[]) AS t(name)
               JOIN pg_class c ON c.oid = to_regclass(quote_ident(t.name))) AS filenodes,
            (SELECT array_agg(x::text ORDER BY x) FROM generate_series(s.lo, least(s.hi, s.lo + $2) - 1) AS g(x)
              WHERE NOT x::text::xid8 = ANY (ARRAY(SELECT pg_snapshot_xip(s.snap)))
                AND pg_xact_status(x::text::xid8) = 'in progress') AS subxids,
            (SELECT array_agg(x::text) FROM pg_snapshot_xip(s.snap) AS x
              WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                 WHERE a.backend_xid::text = (x::text::numeric % 4294967296)::text
                                   AND a.xact_start AT TIME ZONE 'UTC' >= $1::timestamp)) AS long_xids,
            (SELECT array_agg(x::text) FROM pg_snapshot_xip(s.snap) AS x WHERE pg_xact_status(x) IS DISTINCT FROM 'in progress') AS ended
       FROM s`,
    [longSince, MAX_XID_RANGE, tables],
  );
  return res.rows[0];
}

/** A session in flight at the bound's reading, from pg_stat_activity (see readUpperBound). */
export interface OpenSession {
  pid: number;
  xactStart: string;
  xid: string | null;
}

/**
 * Opens the extract's REPEATABLE READ transaction on `client` and records its snapshot. `sessions`
 * are the long sessions seen *before* the snapshot (readUpperBound's statement): a session with no
 * transaction id yet at the snapshot is long in flight too — it may still write rows stamped at its
 * start — and only a reading before the snapshot is sure to list it.
 */
export async function beginSnapshot(
  client: pg.Client,
  options: { lookbackSeconds: number; snapshotAt: string; longSessions: readonly OpenSession[]; tables: readonly string[]; warn: (message: string) => void },
): Promise<SourceSnapshot> {
  const longSince = shiftSeconds(options.snapshotAt, -options.lookbackSeconds / 2);
  for (let attempt = 1; ; attempt++) {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const row = await snapshotStatement(client, longSince, options.tables);
    if (!row.ended?.length || attempt >= SNAPSHOT_ATTEMPTS) {
      if (row.ended?.length) {
        options.warn(
          `Transaction(s) ${row.ended.join(', ')} ended while the extract recorded its snapshot, ${SNAPSHOT_ATTEMPTS} times in a row; ` +
            'rows they wrote inside savepoints with last_updated below the cursor are not rescued by the next batch',
        );
      }
      if (row.range_too_wide) {
        options.warn(
          `The snapshot ${row.snapshot} spans more than ${MAX_XID_RANGE} transaction ids (a transaction has been open a long time); ` +
            'sub-transactions above that range are not listed, so rows written in savepoints there are rescued only if the long transaction is listed',
        );
      }
      // A hot standby's pg_stat_activity does not list the primary's sessions: no transaction in
      // flight there can be shown to be short, so each counts as long (sub-transactions included).
      const longXids = row.standby ? [...snapshotWithSubxids({ current: row.snapshot, subxids: row.subxids ?? [] }).split(':')[2].split(',').filter(Boolean)] : (row.long_xids ?? []);
      const longInFlight: LongInFlight[] = [
        ...longXids.map((xid) => ({ xid })),
        ...options.longSessions.map((s) => ({ pid: s.pid, xactStart: s.xactStart })),
      ];
      return { current: row.snapshot, subxids: row.subxids ?? [], longInFlight, lookbackSeconds: options.lookbackSeconds, filenodes: row.filenodes ?? {} };
    }
    await client.query('ROLLBACK');
  }
}

/** What batch k+1 reads below its cursors, planned from the snapshot batch k recorded. */
export interface RescuePlan {
  /** The previous snapshot (with sub-transactions), as pg_snapshot text. */
  previous: string;
  lookbackSeconds: number;
  /** Also scan below the band (a whole-table scan): a long-in-flight transaction has ended. */
  full?: { reason: string; fromXid: string };
  /** The batch's own recorded snapshot when this attempt reads in a later one (a resumed batch). */
  batchSnapshot?: string;
  /** Tables not rescued by this batch, and why (rewritten since the previous snapshot). */
  skip: Map<string, string>;
}

/**
 * Which of the previous snapshot's long-in-flight transactions have ended by this batch's
 * snapshot. Runs inside this batch's snapshot. A transaction id counts when this snapshot sees it
 * committed; a session (pid and transaction start) when pg_stat_activity no longer shows it now,
 * after the snapshot: it may have ended after the snapshot too, which costs one scan that finds
 * nothing of it, while the next batch still lists it (the bound's reading, before this snapshot,
 * saw it open).
 */
export async function endedLongInFlight(client: pg.Client, long: readonly LongInFlight[]): Promise<LongInFlight[]> {
  const xids = long.filter((l) => l.xid !== undefined).map((l) => l.xid!);
  const sessions = long.filter((l) => l.pid !== undefined);
  if (!xids.length && !sessions.length) return [];
  const res = await client.query<{ xids: string[] | null; pids: number[] | null }>(
    `SELECT (SELECT array_agg(x::text) FROM unnest($1::xid8[]) AS x
              WHERE pg_visible_in_snapshot(x, pg_current_snapshot()) AND pg_xact_status(x) = 'committed') AS xids,
            (SELECT array_agg(s.pid) FROM unnest($2::int[], $3::text[]) AS s(pid, xact_start)
              WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                 WHERE a.pid = s.pid AND to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') = s.xact_start)) AS pids`,
    [xids, sessions.map((s) => s.pid), sessions.map((s) => s.xactStart)],
  );
  const endedXids = new Set(res.rows[0].xids ?? []);
  const endedPids = new Set(res.rows[0].pids ?? []);
  return long.filter((l) => (l.xid !== undefined ? endedXids.has(l.xid) : endedPids.has(l.pid!)));
}

/** The lowest id a row of an ended long-in-flight transaction can carry (sessions without an id: the previous xmax). */
export function lowestXidOf(previous: SourceSnapshot, ended: readonly LongInFlight[]): string {
  const xmax = BigInt(previous.current.split(':')[1]);
  let lowest = xmax;
  for (const e of ended) if (e.xid !== undefined && BigInt(e.xid) < lowest) lowest = BigInt(e.xid);
  return lowest.toString();
}

/** Session settings the rescue query reads (values bound with set_config, as for the window). */
export const RESCUE_SETTINGS = {
  cursorTs: 'totes.rescue_cursor_ts',
  cursorId: 'totes.rescue_cursor_id',
  bandFrom: 'totes.rescue_band_from',
  previous: 'totes.rescue_previous_snapshot',
  fromXid: 'totes.rescue_from_xid',
  batchSnapshot: 'totes.batch_snapshot',
  /** 'on' when this batch rescues the table (a plan, and the table not skipped): the repair leaves those versions to it. */
  rescues: 'totes.rescue_applies',
  /** 'on' when the rescue also reads below the band (plan.full). */
  full: 'totes.rescue_full',
  /** The keys the repair reads (repair.ts), as an integer[] literal. */
  repairIds: 'totes.repair_ids',
} as const;

const setting = (name: string, type: string): string => `(SELECT current_setting('${name}')::${type})`;

/**
 * The rescue's SELECT for one table, rendering rows as the window does (`rendering`), in
 * `(last_updated, pk)` order. `part` 'band' reads `[cursor - lookback, cursor]` (the
 * `(last_updated, pk)` index bounds it); 'below' reads under the band, only versions of ids from
 * the ended long transactions on (a whole-table scan: only when one ended). 'repair' reads the keys
 * the repair found missing from the lake (repair.ts), at or below the cursor, except the versions
 * this batch's rescue reads (band or below): so no version is read twice by one batch.
 * `keysOnly`: the same rows' keys only, in key order.
 */
export function rescueSelect(
  table: SourceTable,
  part: 'band' | 'below' | 'repair',
  options: { batchSnapshot: boolean; keysOnly?: boolean; rendering?: RowRendering },
): string {
  const t = table;
  const pk = quoteIdent(t.primaryKey);
  const columns = t.columns.map((c) => quoteIdent(c.name)).join(', ');
  const bandFrom = setting(RESCUE_SETTINGS.bandFrom, 'timestamp(3)');
  const notSeenBefore = notVisibleInSql(setting(RESCUE_SETTINGS.previous, 'pg_snapshot'));
  const fromEndedLong = `${ROW_XID} >= ${setting(RESCUE_SETTINGS.fromXid, 'xid8')}`;
  const parts = {
    band: [`"last_updated" >= ${bandFrom}`, notSeenBefore],
    below: [`"last_updated" < ${bandFrom}`, notSeenBefore, fromEndedLong],
    repair: [
      `${pk} = ANY (current_setting('${RESCUE_SETTINGS.repairIds}')::integer[])`,
      `NOT (${setting(RESCUE_SETTINGS.rescues, 'boolean')} AND ${notSeenBefore} AND ("last_updated" >= ${bandFrom} OR (${setting(RESCUE_SETTINGS.full, 'boolean')} AND ${fromEndedLong})))`,
    ],
  };
  const where = [
    `("last_updated", ${pk}) <= (${setting(RESCUE_SETTINGS.cursorTs, 'timestamp(3)')}, ${setting(RESCUE_SETTINGS.cursorId, 'integer')})`,
    ...parts[part],
    ...(options.batchSnapshot ? [batchSnapshotFilter()] : []),
  ];
  if (options.keysOnly) return `SELECT ${pk} AS id FROM ${quoteIdent(t.name)} WHERE ${where.join(' AND ')} ORDER BY ${pk}`;
  return (
    `SELECT ${renderedRow(t, options.rendering ?? 'json')} FROM (` +
    `SELECT ${columns} FROM ${quoteIdent(t.name)} WHERE ${where.join(' AND ')} ORDER BY "last_updated", ${pk}` +
    `) AS r ORDER BY "last_updated", ${pk}`
  );
}

/**
 * Whether the scanned row's version is NOT visible in `snapshot` (a pg_snapshot SQL expression
 * evaluated once, e.g. an initplan). Checked first by a cheap necessary condition: a version the
 * snapshot does not see was written by a transaction at or after the snapshot's xmin, so its
 * 32-bit `xmin` is no older than that xmin's low 32 bits — `age()` compares them modulo 2^32 in one
 * integer subtraction (exact while the snapshot is less than 2^31 transactions old; frozen and
 * bootstrap ids have the greatest age, and are visible to every snapshot). Most versions in a
 * rescue's band committed before the previous snapshot, and skip the widening and the visibility
 * check (about 0.7 µs a row) this way.
 */
export function notVisibleInSql(snapshot: string): string {
  const xmin32 = `(SELECT (pg_snapshot_xmin(${snapshot})::text::bigint % 4294967296)::text::xid)`;
  return `(age("xmin") <= age(${xmin32}) AND NOT pg_visible_in_snapshot(${ROW_XID}, ${snapshot}))`;
}

/** What {@link newVersionsProbe} asks of one table. */
export interface NewVersionsAsk {
  table: SourceTable;
  /** The window's lower end (exclusive): the previous cursor; none when no batch has read a row of the table yet. */
  cursor?: Cursor;
  /** The rescue band's lower end, when this batch rescues the table. */
  bandFrom?: string;
}

/**
 * One statement asking, of several tables, which might have a version for this batch: column
 * `t<i>` is false only when `asks[i].table` has no row after its cursor (`(last_updated, pk) >
 * cursor`, the window's condition without its upper bound; no row at all without a cursor) and,
 * when the table is rescued, no row in its band (from {@link rescueBandFrom}) that `previous` (the
 * previous snapshot, pg_snapshot text) does not see (the band's condition, {@link rescueSelect}
 * 'band', without the cursor as its upper end).
 * So a false table's window and band are empty, and the extract need not read it (extract.ts
 * `quietTables`). EXISTS stops at the first such row; a NULL `last_updated` is in neither, as in
 * the window and the band. Values are bind parameters: `previous` first when a table is rescued.
 */
export function newVersionsProbe(asks: readonly NewVersionsAsk[], previous: string | undefined): { text: string; values: string[] } {
  if (!asks.length) throw new Error('newVersionsProbe: no table to ask about');
  const values: string[] = [];
  const param = (value: string): string => `$${values.push(value)}`;
  const previousSnapshot = asks.some((a) => a.bandFrom !== undefined) ? `${param(previous ?? '')}::pg_snapshot` : undefined;
  if (previousSnapshot && previous === undefined) throw new Error('newVersionsProbe: a rescued table needs the previous snapshot');
  const columns = asks.map((ask, i) => {
    const inWindow = ask.cursor && `("last_updated", ${quoteIdent(ask.table.primaryKey)}) > (${param(ask.cursor.lastUpdated)}::timestamp(3), ${param(String(ask.cursor.id))}::integer)`;
    const inBand = ask.bandFrom === undefined ? undefined : `("last_updated" >= ${param(ask.bandFrom)}::timestamp(3) AND ${notVisibleInSql(previousSnapshot!)})`;
    if (inBand && !inWindow) throw new Error(`newVersionsProbe: ${ask.table.name} has a rescue band but no cursor`);
    const where = inWindow ? ` WHERE ${inBand ? `${inWindow} OR ${inBand}` : inWindow}` : '';
    return `EXISTS (SELECT 1 FROM ${quoteIdent(ask.table.name)}${where}) AS t${i}`;
  });
  return { text: `SELECT ${columns.join(', ')}`, values };
}

/** Whether the scanned row's version is visible in `snapshot` (a pg_snapshot SQL expression). */
export function rowVisibleInSql(snapshot: string): string {
  return `pg_visible_in_snapshot(${ROW_XID}, ${snapshot})`;
}

/**
 * The condition that keeps a resumed batch's reads to what its first snapshot saw: a later
 * attempt reads in a newer snapshot, and a version committed in between belongs to the next
 * batch's rescue (which compares with this batch's recorded, first, snapshot), not to this batch.
 */
export function batchSnapshotFilter(): string {
  return rowVisibleInSql(setting(RESCUE_SETTINGS.batchSnapshot, 'pg_snapshot'));
}

/**
 * Binds the rescue settings for one table (parameterized; the SELECT holds no value). The planner
 * cannot see the band's bounds (they are read from settings), so it guesses many rows and may start
 * parallel workers, whose start-up (~15 ms a table) costs more than a band of a few thousand rows:
 * the rescue runs without them. Returns the setting to put back with {@link unbindRescue}.
 * `options.rescues`: whether this batch rescues the table (the repair leaves those versions to the
 * rescue); `repairIds`: the keys the repair reads; `batchSnapshot`: a resumed batch's first
 * snapshot when there is no rescue plan.
 */
export async function bindRescue(
  client: pg.Client,
  plan: RescuePlan | undefined,
  cursor: Cursor,
  options: { rescues: boolean; repairIds?: readonly number[]; batchSnapshot?: string } = { rescues: true },
): Promise<string> {
  const res = await client.query<{ workers: string }>(
    `SELECT current_setting('max_parallel_workers_per_gather') AS workers, set_config('max_parallel_workers_per_gather', '0', true),
            set_config($1, $2, true), set_config($3, $4, true), set_config($5, $6, true), set_config($7, $8, true), set_config($9, $10, true),
            set_config($11, $12, true), set_config($13, $14, true), set_config($15, $16, true), set_config($17, $18, true)`,
    [
      RESCUE_SETTINGS.cursorTs, cursor.lastUpdated,
      RESCUE_SETTINGS.cursorId, String(cursor.id),
      RESCUE_SETTINGS.bandFrom, rescueBandFrom(cursor, plan),
      RESCUE_SETTINGS.previous, plan?.previous ?? '1:1:',
      RESCUE_SETTINGS.fromXid, plan?.full?.fromXid ?? '0',
      RESCUE_SETTINGS.batchSnapshot, plan?.batchSnapshot ?? options.batchSnapshot ?? '1:1:',
      RESCUE_SETTINGS.rescues, plan && options.rescues ? 'on' : 'off',
      RESCUE_SETTINGS.full, plan?.full ? 'on' : 'off',
      RESCUE_SETTINGS.repairIds, `{${(options.repairIds ?? []).join(',')}}`,
    ],
  );
  return res.rows[0].workers;
}

/** Where a table's rescue band starts: its previous cursor minus the plan's lookback (the cursor itself without a plan). */
export function rescueBandFrom(cursor: Cursor, plan: Pick<RescuePlan, 'lookbackSeconds'> | undefined): string {
  return shiftSeconds(cursor.lastUpdated, -(plan?.lookbackSeconds ?? 0));
}

/** Puts back what {@link bindRescue} changed for the rest of the extract's transaction. */
export async function unbindRescue(client: pg.Client, workers: string): Promise<void> {
  await client.query(`SELECT set_config('max_parallel_workers_per_gather', $1, true)`, [workers]);
}

/** 'YYYY-MM-DD HH:MM:SS.mmm' (UTC) moved by `seconds`, same form (millisecond precision). */
export function shiftSeconds(text: string, seconds: number): string {
  if (!TIMESTAMP_TEXT.test(text)) throw new Error(`"${text}" is not a timestamp of the form YYYY-MM-DD HH:MM:SS.mmm`);
  const ms = Date.parse(`${text.replace(' ', 'T')}Z`) + Math.round(seconds * 1000);
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/**
 * Of `ids` (rows whose current source version the lake lacks), those the next batch's band rescue
 * will read: at or below the newest batch's cursor, within its lookback, committed after the
 * snapshot it will compare with. For `totes verify`, in the verifying transaction's snapshot.
 */
export async function rescuedByNextRun(client: pg.Client, table: SourceTable, ids: readonly number[], previous: { source: SourceSnapshot; cursor: Cursor }): Promise<Set<number>> {
  if (!ids.length) return new Set();
  const pk = quoteIdent(table.primaryKey);
  const res = await client.query<{ id: number }>(
    `SELECT ${pk} AS id FROM ${quoteIdent(table.name)}
      WHERE ${pk} = ANY ($1::integer[]) AND ("last_updated", ${pk}) <= ($2::timestamp(3), $3::integer) AND "last_updated" >= $4::timestamp(3)
        AND ${notVisibleInSql('$5::pg_snapshot')}`,
    [ids, previous.cursor.lastUpdated, previous.cursor.id, shiftSeconds(previous.cursor.lastUpdated, -previous.source.lookbackSeconds), snapshotWithSubxids(previous.source)],
  );
  return new Set(res.rows.map((r) => r.id));
}
