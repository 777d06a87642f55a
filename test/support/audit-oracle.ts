/**
 * The oracle of the scenario suite: the full version history of every totesys row, captured
 * independently of the pipeline by an audit trigger (AFTER INSERT OR UPDATE OR DELETE, FOR EACH
 * ROW) on each of the 11 tables, in a schema `audit` the pipeline never reads. A rolled-back
 * transaction takes its audit rows with it, so the history holds committed versions only.
 *
 * What the lake can be held to: the pipeline sees the versions that exist at extract time, so a
 * row updated twice between two extracts yields one lake version. The comparison is therefore:
 *   every version that was the current version of its row at some published extract's snapshot,
 *   with last_updated before that extract's bound, is in the lake exactly once — and nothing else;
 *   every row deleted before a published extract, and known to the lake, has a deletion marker
 *   (the extract looks for deletions once PostgreSQL's statistics report them, which a session's
 *   end guarantees: scenarios delete in sessions they close, as totesys's application servers'
 *   connections report within seconds; see functions/core/extract/deletions.ts).
 * "Current at a snapshot" is taken from {@link AuditOracle.mark}, which the scenario calls right
 * before each extract (scenarios do not write between a mark and its extract's snapshot).
 */
import { gunzipSync } from 'node:zlib';
import { Client } from 'pg';
import { SOURCE_TABLES, type SourceTableName } from '../../functions/core/contract/source-tables';
import { deletedKeys } from '../../functions/core/extract/deletions';
import { listExtractSeqs, readExtractManifest } from '../../functions/core/lake/manifest-log';
import type { ObjectStore } from '../../functions/core/ports/object-store';

export type VersionKey = string; // `${table}:${pk}@${last_updated}`
interface Newest {
  op: string;
  lastUpdated: string | null;
}
type Mark = Map<string, Newest>; // `${table}:${pk}` → newest committed version

export class AuditOracle {
  /** `seq`: the batch the extract after the mark published; `bound`: what an extract that found nothing new read up to. */
  private readonly marks: { mark: Mark; seq?: number; bound?: string }[] = [];

  private constructor(private readonly url: string) {}

  /** Installs the audit schema and triggers, and records the rows already there as their first version. */
  static async install(url: string): Promise<AuditOracle> {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`
        CREATE SCHEMA IF NOT EXISTS audit;
        CREATE TABLE IF NOT EXISTS audit.row_version (
          id bigserial PRIMARY KEY, table_name text NOT NULL, op char(1) NOT NULL, pk integer NOT NULL,
          last_updated text, row jsonb NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp(),
          xid xid8 NOT NULL DEFAULT pg_current_xact_id());
        CREATE OR REPLACE FUNCTION audit.capture() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE r jsonb;
        BEGIN
          IF TG_OP = 'DELETE' THEN r := to_jsonb(OLD); ELSE r := to_jsonb(NEW); END IF;
          INSERT INTO audit.row_version (table_name, op, pk, last_updated, row)
          VALUES (TG_TABLE_NAME, left(TG_OP, 1), (r ->> TG_ARGV[0])::integer,
                  CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_char((r ->> 'last_updated')::timestamp, 'YYYY-MM-DD HH24:MI:SS.MS') END, r);
          RETURN NULL;
        END $$;`);
      for (const table of SOURCE_TABLES) {
        await client.query(`DROP TRIGGER IF EXISTS audit_capture ON "${table.name}"`);
        await client.query(
          `CREATE TRIGGER audit_capture AFTER INSERT OR UPDATE OR DELETE ON "${table.name}" FOR EACH ROW EXECUTE FUNCTION audit.capture('${table.primaryKey}')`,
        );
        await client.query(
          `INSERT INTO audit.row_version (table_name, op, pk, last_updated, row)
           SELECT $1, 'S', "${table.primaryKey}", to_char(last_updated, 'YYYY-MM-DD HH24:MI:SS.MS'), to_jsonb(t) FROM "${table.name}" t`,
          [table.name],
        );
      }
    } finally {
      await client.end();
    }
    return new AuditOracle(url);
  }

  /** The newest committed version of every row, now: call right before an extract. */
  async mark(): Promise<void> {
    const client = new Client({ connectionString: this.url });
    await client.connect();
    try {
      const res = await client.query<{ table_name: string; pk: number; op: string; last_updated: string | null }>(
        `SELECT DISTINCT ON (table_name, pk) table_name, pk, op, last_updated FROM audit.row_version ORDER BY table_name, pk, id DESC`,
      );
      const mark: Mark = new Map(res.rows.map((r) => [`${r.table_name}:${r.pk}`, { op: r.op, lastUpdated: r.last_updated }]));
      this.marks.push({ mark });
    } finally {
      await client.end();
    }
  }

  /** After the extract that followed the last mark: binds the mark to the batch it published, if any. */
  async extracted(ingestion: ObjectStore, run?: { published: boolean; reason?: string; upperBound?: string }): Promise<void> {
    const last = this.marks.at(-1);
    if (!last || last.seq !== undefined) return;
    // An extract that found nothing new still promises that every version below its bound is in
    // the lake already: without this, a run that wrongly skips rows (and so publishes nothing) would
    // leave the oracle nothing to check.
    if (run && !run.published && run.reason === 'nothing-new' && run.upperBound) last.bound = run.upperBound;
    const newest = (await listExtractSeqs(ingestion)).at(-1);
    const bound = new Set(this.marks.map((m) => m.seq));
    if (newest !== undefined && !bound.has(newest)) last.seq = newest;
  }

  /** Every version the lake must hold, and the rows it must mark deleted. */
  async expected(ingestion: ObjectStore): Promise<{ versions: Set<VersionKey>; deleted: Set<string> }> {
    const versions = new Set<VersionKey>();
    const known = new Set<string>();
    const deleted = new Set<string>();
    for (const { mark, seq, bound: nothingNewBound } of this.marks) {
      if (seq === undefined && nothingNewBound === undefined) continue;
      const manifest = seq === undefined ? undefined : await readExtractManifest(ingestion, seq);
      for (const [row, newest] of mark) {
        const table = row.split(':')[0] as SourceTableName;
        const bound = manifest ? manifest.tables[table]?.window.upperBound : nothingNewBound;
        if (newest.op === 'D') {
          if (known.has(row)) deleted.add(row);
        } else if (bound && newest.lastUpdated! < bound) {
          versions.add(`${row}@${newest.lastUpdated}`);
          known.add(row);
        }
      }
    }
    return { versions, deleted };
  }

  /** Differences between the lake (raw NDJSON of published batches, deletion markers) and the oracle; empty when they agree. */
  async compareLake(ingestion: ObjectStore): Promise<string[]> {
    const { versions, deleted } = await this.expected(ingestion);
    const { versions: seen, identical } = await lakeVersions(ingestion);
    const sharing = await this.sharedKeys();
    const problems: string[] = [];
    const dup = [...seen].filter(([k, n]) => n > (sharing.get(k) ?? 1)).map(([k, n]) => `${k}×${n}`);
    for (const k of identical) if (!dup.some((d) => d.startsWith(`${k}×`))) dup.push(`${k} (the same row)`);
    if (dup.length) problems.push(`duplicated in the lake: ${dup.slice(0, 10).join(', ')}`);
    const missing = [...versions].filter((v) => !seen.has(v));
    if (missing.length) problems.push(`missing from the lake (${missing.length}): ${missing.slice(0, 10).join(', ')}`);
    const extra = [...seen.keys()].filter((v) => !versions.has(v));
    if (extra.length) problems.push(`in the lake but never current at an extract (${extra.length}): ${extra.slice(0, 10).join(', ')}`);
    const marked = new Set<string>();
    for (const table of SOURCE_TABLES) for (const id of await deletedKeys({ ingestion }, table.name)) marked.add(`${table.name}:${id}`);
    const unmarked = [...deleted].filter((d) => !marked.has(d));
    if (unmarked.length) problems.push(`deleted rows without a deletion marker: ${unmarked.join(', ')}`);
    const wrong = [...marked].filter((d) => !deleted.has(d));
    if (wrong.length) problems.push(`deletion markers for rows not deleted: ${wrong.join(', ')}`);
    return problems;
  }

  /**
   * Keys that two or more written versions share (writes of one row stamped in the same
   * millisecond), with how many: the lake may hold such a key once per version.
   */
  async sharedKeys(): Promise<Map<VersionKey, number>> {
    const client = new Client({ connectionString: this.url });
    await client.connect();
    try {
      const res = await client.query<{ v: string; n: number }>(
        `SELECT table_name || ':' || pk || '@' || last_updated AS v, count(*)::int AS n FROM audit.row_version WHERE op <> 'D' GROUP BY table_name, pk, last_updated HAVING count(*) > 1`,
      );
      return new Map(res.rows.map((r) => [r.v, r.n]));
    } finally {
      await client.end();
    }
  }

  /** Differences between the warehouse facts (every version) and the oracle's fact versions. */
  async compareWarehouse(ingestion: ObjectStore, warehouseUrl: string, schema = 'public'): Promise<string[]> {
    const { versions } = await this.expected(ingestion);
    const problems: string[] = [];
    for (const [source, { fact, got }] of await warehouseFactVersions(warehouseUrl, schema)) {
      const want = [...versions].filter((v) => v.startsWith(`${source}:`));
      if (new Set(got).size !== got.length) problems.push(`${fact} holds a version twice`);
      const gotSet = new Set(got);
      const missing = want.filter((v) => !gotSet.has(v));
      const extra = got.filter((v) => !versions.has(v));
      if (missing.length) problems.push(`${fact} misses ${missing.length} version(s): ${missing.slice(0, 5).join(', ')}`);
      if (extra.length) problems.push(`${fact} has ${extra.length} version(s) the oracle does not: ${extra.slice(0, 5).join(', ')}`);
    }
    return problems;
  }

  /** The source's snapshot now (`pg_current_snapshot()` as text), for {@link AuditOracle.underLoad}. */
  async snapshot(): Promise<string> {
    const client = new Client({ connectionString: this.url });
    await client.connect();
    try {
      return (await client.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s')).rows[0].s;
    } finally {
      await client.end();
    }
  }

  /**
   * What the lake must and may hold when writers commit *during* extracts, so no mark can be taken
   * "right before" a snapshot. Each extract is bracketed by two snapshots of the source taken by
   * the test, `before` (just before the extract started) and `after` (just after it returned); the
   * extract's own snapshot S lies between them. With every version's transaction id (audit xid):
   *   must: v committed before `before` (so S sees it) and its successor not committed before
   *         `after` (so S does not see that): v was current at S. With last_updated below the
   *         batch's bound for its table, the batch must have read it.
   *   may:  v committed before `after` and its successor not before `before`: v may have been
   *         current at S. Anything in the lake outside this set was never current at an extract.
   * The lake must hold every `must` version exactly once and nothing outside `may`. After writers
   * stop and a settling extract runs, every row's final version is a `must`.
   */
  async underLoad(extracts: readonly LoadExtract[]): Promise<UnderLoadExpectation> {
    const client = new Client({ connectionString: this.url });
    await client.connect();
    const must = new Set<VersionKey>();
    const may = new Set<VersionKey>();
    const versionIds = new Map<VersionKey, Set<string>>();
    try {
      for (const e of extracts) {
        const res = await client.query<{ id: string; table_name: SourceTableName; pk: number; last_updated: string; must: boolean }>(
          `WITH v AS (
             SELECT id, table_name, pk, op, last_updated, xid, lead(xid) OVER (PARTITION BY table_name, pk ORDER BY id) AS next_xid
               FROM audit.row_version)
           SELECT id::text AS id, table_name, pk, last_updated,
                  pg_visible_in_snapshot(xid, $1::pg_snapshot) AND (next_xid IS NULL OR NOT pg_visible_in_snapshot(next_xid, $2::pg_snapshot)) AS must
             FROM v
            WHERE op <> 'D' AND pg_visible_in_snapshot(xid, $2::pg_snapshot)
              AND (next_xid IS NULL OR NOT pg_visible_in_snapshot(next_xid, $1::pg_snapshot))`,
          [e.before, e.after],
        );
        for (const r of res.rows) {
          const bound = e.bounds[r.table_name];
          if (!bound || !(r.last_updated < bound)) continue;
          const key = `${r.table_name}:${r.pk}@${r.last_updated}`;
          may.add(key);
          if (r.must) must.add(key);
          if (!versionIds.has(key)) versionIds.set(key, new Set());
          versionIds.get(key)!.add(r.id);
        }
      }
    } finally {
      await client.end();
    }
    const sharing = new Map<VersionKey, number>();
    for (const [key, ids] of versionIds) if (ids.size > 1) sharing.set(key, ids.size);
    return { must, may, sharing };
  }
}

/**
 * What the lake must and may hold under write load (AuditOracle.underLoad). A version is named by
 * its key `table:pk@last_updated`; two writes of one row stamped in the same millisecond are two
 * versions with one key, and `sharing` counts them (only keys of more than one version that may
 * have been current at an extract): the lake may hold that key up to that many times, each with
 * different values.
 */
export interface UnderLoadExpectation {
  must: Set<VersionKey>;
  may: Set<VersionKey>;
  sharing: Map<VersionKey, number>;
}

/** One extract of a write-load run, bracketed by source snapshots (see {@link AuditOracle.underLoad}). */
export interface LoadExtract {
  before: string;
  after: string;
  /** Upper bound per table the extract read below: its manifest's windows, or a nothing-new run's bound for every table. */
  bounds: Partial<Record<SourceTableName, string>>;
}

/**
 * The versions `got` holds more often than they may: a key more often than the versions of it that
 * were current at some extract (`sharing`; once each with `oneEach`), and a key whose identical row
 * occurs twice (`identical`), each named once.
 */
export function duplicatedVersions(got: Map<VersionKey, number>, expected: UnderLoadExpectation, options: { oneEach?: boolean; identical?: readonly VersionKey[] } = {}): string[] {
  const allowed = (k: VersionKey): number => (options.oneEach ? 1 : (expected.sharing.get(k) ?? 1));
  const dup = [...got].filter(([k, n]) => n > allowed(k)).map(([k, n]) => `${k}×${n}`);
  for (const k of options.identical ?? []) if (!dup.some((d) => d.startsWith(`${k}×`))) dup.push(`${k} (the same row)`);
  return dup;
}

/**
 * Compares versions (lake or warehouse: how many rows each key has) with the expectation; empty
 * when it agrees. A key may occur as often as distinct versions share it (`expected.sharing`), or
 * once (`oneEach`: the warehouse keeps one row per key, the later version). `identical`: keys of
 * which the same row (same values) occurs more than once — a version read twice, whatever else
 * shares its key.
 */
export function compareUnderLoad(
  what: string,
  got: Map<VersionKey, number>,
  expected: UnderLoadExpectation,
  options: { tables?: readonly SourceTableName[]; oneEach?: boolean; identical?: readonly VersionKey[] } = {},
): string[] {
  const { tables } = options;
  const inScope = (v: VersionKey) => !tables || tables.includes(v.split(':')[0] as SourceTableName);
  const problems: string[] = [];
  const dup = duplicatedVersions(got, expected, options);
  if (dup.length) problems.push(`${what}: duplicated (${dup.length}): ${dup.slice(0, 10).join(', ')}`);
  const missing = [...expected.must].filter((v) => inScope(v) && !got.has(v));
  if (missing.length) problems.push(`${what}: missing (${missing.length}): ${missing.slice(0, 10).join(', ')}`);
  const extra = [...got.keys()].filter((v) => !expected.may.has(v));
  if (extra.length) problems.push(`${what}: never current at an extract (${extra.length}): ${extra.slice(0, 10).join(', ')}`);
  return problems;
}

/**
 * Every row version in the raw lake (published batches only), with how often its key occurs, and
 * the keys of which one row (same values) occurs more than once.
 */
export async function lakeVersions(ingestion: ObjectStore): Promise<{ versions: Map<VersionKey, number>; identical: VersionKey[] }> {
  const seen = new Map<VersionKey, number>();
  const lines = new Set<string>();
  const identical = new Set<VersionKey>();
  for (const seq of await listExtractSeqs(ingestion)) {
    const manifest = await readExtractManifest(ingestion, seq);
    for (const table of SOURCE_TABLES) {
      for (const file of manifest.tables[table.name]?.files ?? []) {
        const text = gunzipSync(await ingestion.get(file.key)).toString('utf8');
        for (const line of text.split('\n')) {
          if (!line) continue;
          const row = JSON.parse(line) as Record<string, unknown>;
          const key = `${table.name}:${String(row[table.primaryKey])}@${String(row.last_updated)}`;
          seen.set(key, (seen.get(key) ?? 0) + 1);
          const whole = `${table.name}:${line}`;
          if (lines.has(whole)) identical.add(key);
          lines.add(whole);
        }
      }
    }
  }
  return { versions: seen, identical: [...identical] };
}

/** The source tables whose every version the warehouse keeps, with their fact tables. */
export const FACT_SOURCES: readonly [SourceTableName, string, string][] = [
  ['sales_order', 'fact_sales_order', 'sales_order_id'],
  ['purchase_order', 'fact_purchase_order', 'purchase_order_id'],
  ['payment', 'fact_payment', 'payment_id'],
];

/** The version keys each warehouse fact table holds (a list: a duplicate shows twice). */
export async function warehouseFactVersions(warehouseUrl: string, schema = 'public'): Promise<Map<SourceTableName, { fact: string; got: VersionKey[] }>> {
  const client = new Client({ connectionString: warehouseUrl });
  await client.connect();
  const out = new Map<SourceTableName, { fact: string; got: VersionKey[] }>();
  try {
    for (const [source, fact, key] of FACT_SOURCES) {
      const res = await client.query<{ v: string }>(
        `SELECT $1 || ':' || "${key}" || '@' || to_char(last_updated_date, 'YYYY-MM-DD') || ' ' || to_char(last_updated_time, 'HH24:MI:SS.MS') AS v FROM "${schema}"."${fact}"`,
        [source],
      );
      out.set(source, { fact, got: res.rows.map((r) => r.v) });
    }
  } finally {
    await client.end();
  }
  return out;
}
