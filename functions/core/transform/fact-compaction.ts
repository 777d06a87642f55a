import { promises as fs } from 'node:fs';
import path from 'node:path';
import { LINEAGE_COLUMNS, STAR_TABLES, lakeTrinoType, type StarTable } from '../contract/star-tables';
import { FACT_MONTH_COLUMN, TRANSFORM_MANIFEST_PREFIX, factCompactionJournalKey, factCompactionPrefix, factMonthPrefix } from '../lake/lake-layout';
import { newestManifestSeq, readTransformManifest, transformSeqsAfter } from '../lake/manifest-log';
import { acquireLease } from '../lake/stage-lease';
import type { TableLocation } from '../ports/catalog';
import { ObjectNotFoundError, getText } from '../ports/object-store';
import type { RelationBindings, WriteTarget } from '../ports/query-engine';
import type { PipelineContext } from '../pipeline-context';
import { batchStart } from './current-compaction';
import { sha256 } from './sql-files';

/**
 * Compaction of the facts into their date layout: the partitions `batch_id=<batch>` the transform
 * adds every five minutes are rewritten, with the compacted months they add versions to, into one
 * partition per month of `created_date` (`star/<fact>/compacted=<through>-<hash>/created_month=YYYY-MM/`,
 * lake-layout.ts `factCompactionPrefix`, `factMonthPrefix`), by `sql/compaction/<fact>.sql`. A year
 * of batches is then ~13 month partitions and the batches of the last hour, not ~105,000 partitions,
 * and a query bounded on `created_month` reads only its months (README, "Querying the lake").
 *
 * When: the transform calls {@link compactFacts} after its batches (transform.ts `transformPending`),
 * and a fact is compacted once the oldest batch partition not compacted yet started
 * `compactAfterMs` (an hour) before the newest transformed batch — the decision depends only on the
 * catalog and the manifests, like current-compaction.ts's, so there is nothing else to schedule.
 * Only batches with a transform manifest are compacted, so a batch whose re-run is pending (its
 * partition added, its manifest lost) is never taken; and a batch's own partition files are never
 * rewritten or deleted, so the load, which reads the files its transform manifest lists, finds every
 * batch's rows whether or not it was compacted before the load ran.
 *
 * As safe as a batch, step by step (each named to {@link FactCompactionOptions.onStep}):
 *  1. `planned`: under the transform lease of the next batch (stage-lease.ts, as the backfill
 *     takes it: no batch is published meanwhile), the fact's published partitions: the batches to
 *     compact, then the months they touch (one query) and the published locations of those months;
 *  2. `written`: the SQL file over exactly those partitions, written partitioned by month beside
 *     everything published, under a prefix named by the newest batch and a hash of its inputs, so a
 *     re-run rewrites the same unpublished folder;
 *  3. `checked`: per month, row count, sum of the key and number of batches of what was written
 *     equal those of what it replaces; otherwise it stops, nothing published;
 *  4. `published`: `Catalog.publishCompaction`, one step readers see whole (the folder catalog's one
 *     pointer write; on Glue one UpdateTable of the fact's view, aws/fact-view.ts), refused if the
 *     partitions it replaces changed meanwhile.
 * Nothing is deleted before 4: the replaced files stay where they are. A crash before 4 leaves the
 * catalog as it was and a re-run plans the same compaction again; after 4 the compaction is done.
 *  5. `expired`: the months it replaced are marked superseded (`ObjectStore.expire`: the store removes
 *     them after a grace period, so a query already reading them finishes). A journal
 *     (lake-layout.ts `factCompactionJournalKey`), written before step 2 and removed after 5, lists
 *     what the compaction writes and replaces; the next compaction of the fact expires whatever of it
 *     is no longer published — the replaced months after a crash between 4 and 5, the written ones
 *     after a crash before 4 — unless it writes there itself. A batch's own partition is never
 *     expired: the load reads it from its transform manifest.
 */

export interface FactCompactionPolicy {
  /** Compact a fact once its oldest batch partition started this long before the newest transformed batch. */
  compactAfterMs: number;
  /** Most batch partitions one compaction takes (a lake compacted for the first time catches up over several). */
  maxBatches: number;
  /** Most compactions of one fact in one run. */
  maxRounds: number;
}

export const DEFAULT_FACT_COMPACTION: FactCompactionPolicy = {
  compactAfterMs: 60 * 60_000,
  maxBatches: 288,
  maxRounds: 4,
};

export const SQL_COMPACTION_DIR = path.join('sql', 'compaction');

export type FactCompactionStep = 'planned' | 'written' | 'checked' | 'published' | 'expired';

export interface FactCompactionOptions {
  /** Compact every fact with batch partitions now, due or not (tests, `totes` operators). */
  force?: boolean;
  /** Told each step as it completes (the scenarios crash here). */
  onStep?: (step: FactCompactionStep, fields: { table: string; prefix: string; months: string[]; batches: number }) => Promise<void> | void;
  /**
   * A transform manifest the caller just published (the transform run before it): the newest is
   * then it or one listed after it, so the log is listed from there instead of whole (on S3 one
   * LIST per 1,000 batches; issue 14, item 1).
   */
  published?: { seq: number; batchId: string };
}

export interface FactCompactionResult {
  table: string;
  outcome: 'compacted' | 'not-due' | 'nothing' | 'busy' | 'unsupported' | 'mixed-versions';
  /** Batch partitions compacted, months rewritten and where (outcome `compacted`). */
  batches?: number;
  months?: string[];
  prefix?: string;
  /** Files of replaced (or abandoned) months marked superseded, for the store to expire. */
  expired?: number;
}

/** A fact's compaction, planned from its published partitions. */
export interface FactCompactionPlan {
  table: string;
  /** Batch partitions to compact, oldest first. */
  batches: TableLocation[];
  /** The fact's published compacted months. */
  months: TableLocation[];
  sqlHash: string;
}

/** The facts: the tables the compaction lays out by month. */
const FACTS: readonly StarTable[] = STAR_TABLES.filter((t) => t.kind === 'fact');

/**
 * Which batch partitions of a fact to compact now, or why none: the published batches up to the
 * newest transformed one, oldest first, at most `maxBatches`, all of one SQL version (a changed model
 * waits for its backfill, which replaces every partition anyway).
 */
export function planFactCompaction(
  table: string,
  partitions: readonly TableLocation[],
  newestBatchId: string,
  policy: FactCompactionPolicy,
  force = false,
): FactCompactionPlan | 'nothing' | 'not-due' | 'mixed-versions' {
  const batches = partitions.filter((p) => p.month === undefined && p.batchId <= newestBatchId).sort((a, b) => (a.batchId < b.batchId ? -1 : a.batchId > b.batchId ? 1 : 0));
  if (!batches.length) return 'nothing';
  if (!force && batchStart(newestBatchId) - batchStart(batches[0].batchId) < policy.compactAfterMs) return 'not-due';
  const sqlHash = batches[0].sqlHash;
  const months = partitions.filter((p) => p.month !== undefined);
  if (months.some((m) => m.sqlHash !== sqlHash)) return 'mixed-versions';
  const taken: TableLocation[] = [];
  for (const batch of batches.slice(0, policy.maxBatches)) {
    if (batch.sqlHash !== sqlHash) break;
    taken.push(batch);
  }
  return { table, batches: taken, months, sqlHash };
}

/**
 * Compacts every fact that is due (see the module comment), under the transform lease of the next
 * batch. Returns what it did per fact; `busy` when a batch is being transformed (the next run does it).
 */
export async function compactFacts(ctx: PipelineContext, options: FactCompactionOptions = {}): Promise<FactCompactionResult[]> {
  const policy: FactCompactionPolicy = { ...DEFAULT_FACT_COMPACTION, ...ctx.factCompaction };
  if (!ctx.catalog.publishCompaction) {
    ctx.log.info('Fact compaction: this catalog cannot publish a compaction in one step; the facts keep their batch partitions');
    return FACTS.map((f) => ({ table: f.name, outcome: 'unsupported' }));
  }
  const { published } = options;
  // The newest transformed batch, found from the one just published or the newest this process saw (never by listing the log: manifest-log.ts).
  const newestSeq = published ? ((await transformSeqsAfter(ctx.processed, published.seq)).at(-1) ?? published.seq) : await newestManifestSeq(ctx.processed, TRANSFORM_MANIFEST_PREFIX);
  if (newestSeq === undefined) return FACTS.map((f) => ({ table: f.name, outcome: 'nothing' }));
  const newestBatchId = newestSeq === published?.seq ? published.batchId : (await readTransformManifest(ctx.processed, newestSeq)).batchId;
  // Decided before taking the lease, so a run with nothing due leaves no lease behind.
  const first = await Promise.all(FACTS.map(async (f) => planFactCompaction(f.name, await ctx.catalog.partitions(f.name), newestBatchId, policy, options.force)));
  if (!first.some((p) => typeof p === 'object')) {
    return FACTS.map((f, i) => ({ table: f.name, outcome: first[i] as Exclude<(typeof first)[number], FactCompactionPlan> }));
  }
  const nextSeq = newestSeq + 1;
  const outcome = await acquireLease(ctx.processed, 'transform', nextSeq, { ttlMs: 16 * 60_000, now: ctx.now });
  if ('busy' in outcome) {
    ctx.log.info(`Fact compaction: batch seq ${nextSeq} is being transformed by another run (${outcome.busy.holder.host} pid ${outcome.busy.holder.pid}); compacting later`, { seq: nextSeq });
    return FACTS.map((f) => ({ table: f.name, outcome: 'busy' }));
  }
  try {
    // Asked again under the lease: a run that published a batch before we took it moved the newest on.
    if ((await transformSeqsAfter(ctx.processed, newestSeq)).length) return FACTS.map((f) => ({ table: f.name, outcome: 'busy' }));
    const results: FactCompactionResult[] = [];
    for (const fact of FACTS) {
      let result: FactCompactionResult = { table: fact.name, outcome: 'nothing' };
      for (let round = 0; round < policy.maxRounds; round++) {
        const plan = planFactCompaction(fact.name, await ctx.catalog.partitions(fact.name), newestBatchId, policy, options.force);
        if (typeof plan !== 'object') {
          if (round === 0) result = { table: fact.name, outcome: plan };
          if (plan === 'mixed-versions') ctx.log.warn(`Fact compaction: ${fact.name} has partitions of two SQL versions (a backfill is due: totes backfill ${fact.name}); not compacted until it runs`, { table: fact.name });
          break;
        }
        const done = await compactFact(ctx, fact, plan, options);
        result = round === 0 ? done : { ...done, batches: (result.batches ?? 0) + (done.batches ?? 0), months: [...new Set([...(result.months ?? []), ...(done.months ?? [])])].sort(), expired: (result.expired ?? 0) + (done.expired ?? 0) };
      }
      results.push(result);
    }
    return results;
  } finally {
    await outcome.lease.release().catch(() => undefined);
  }
}

/** The compaction SQL of a fact (`sql/compaction/<fact>.sql`) and its version. */
export async function loadCompactionSql(sqlRoot: string, table: string): Promise<{ sql: string; sqlHash: string; origin: string }> {
  const origin = path.join(SQL_COMPACTION_DIR, `${table}.sql`).split(path.sep).join('/');
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(path.join(sqlRoot, origin));
  } catch (err) {
    throw new Error(`Fact compaction of ${table} needs ${origin} under ${sqlRoot} (${(err as Error).message}); restore the file from the repository`, { cause: err });
  }
  return { sql: bytes.toString('utf8'), sqlHash: sha256(bytes), origin };
}

/** The columns a compaction writes: the fact's, its lineage kept as data, then the month it is partitioned by. */
export function compactionColumns(fact: StarTable): WriteTarget['columns'] {
  return [
    ...fact.columns.map((c) => ({ name: c.name, trinoType: lakeTrinoType(c.type) })),
    ...LINEAGE_COLUMNS.map((name) => ({ name, trinoType: 'varchar' })),
    { name: FACT_MONTH_COLUMN, trinoType: 'varchar' },
  ];
}

/**
 * One compaction of one fact: plan the months, write, check, publish (see the module comment). The
 * caller holds the transform lease of the next batch ({@link compactFacts} does; the year bench,
 * test/bench/year-lake.ts, compacts a lake no transform runs on).
 */
export async function compactFact(ctx: PipelineContext, fact: StarTable, plan: FactCompactionPlan, options: FactCompactionOptions): Promise<FactCompactionResult> {
  const file = await loadCompactionSql(ctx.sqlRoot, fact.name);
  const through = plan.batches.at(-1)!.batchId;
  const batchPrefixes = plan.batches.map((b) => b.prefix);
  const touched = (await ctx.engine.query(`SELECT DISTINCT ${FACT_MONTH_COLUMN} AS month FROM (\n${file.sql}\n) AS compacted ORDER BY 1`, starOnly(fact.name, batchPrefixes)))
    .map((r) => String(r.month));
  const bad = touched.filter((m) => !/^\d{4}-\d{2}$/.test(m));
  if (bad.length) throw new Error(`Fact compaction of ${fact.name}: ${file.origin} gives month(s) ${bad.join(', ')}, not 'YYYY-MM'; nothing was written`);
  const replacedMonths = plan.months.filter((m) => touched.includes(m.month!));
  const inputs = [...replacedMonths.map((m) => m.prefix), ...batchPrefixes];
  const prefix = factCompactionPrefix(fact.name, through, sha256(JSON.stringify({ sql: file.sqlHash, inputs })));
  const fields = { table: fact.name, prefix, months: touched, batches: plan.batches.length };
  const settled = await settleCompactionJournal(ctx, fact.name, plan.months, prefix);
  const journal: CompactionJournal = { table: fact.name, prefix, months: touched.map((m) => factMonthPrefix(prefix, m)), replaced: replacedMonths.map((m) => m.prefix) };
  await ctx.processed.put(factCompactionJournalKey(fact.name), `${JSON.stringify(journal, null, 2)}\n`);
  await options.onStep?.('planned', fields);

  const target: WriteTarget = {
    table: fact.name,
    prefix,
    columns: compactionColumns(fact),
    batchId: through,
    sqlHash: file.sqlHash,
    origin: file.origin,
    partitionedBy: [FACT_MONTH_COLUMN],
  };
  const written = await ctx.engine.write(file.sql, starOnly(fact.name, inputs), target);
  await options.onStep?.('written', fields);

  const monthPrefixes = touched.map((m) => factMonthPrefix(prefix, m));
  await checkCompaction(ctx, fact, file.origin, prefix, monthPrefixes, inputs, written.files);
  await options.onStep?.('checked', fields);

  const to: TableLocation[] = touched.map((month) => ({ prefix: factMonthPrefix(prefix, month), batchId: through, sqlHash: plan.sqlHash, month }));
  await ctx.catalog.publishCompaction!(fact.name, [...plan.batches, ...replacedMonths], to);
  await options.onStep?.('published', fields);

  const expired = settled + (await expirePrefixes(ctx, journal.replaced));
  await ctx.processed.delete([factCompactionJournalKey(fact.name)]);
  await options.onStep?.('expired', fields);
  ctx.log.info(`Fact compaction: ${fact.name}: ${plan.batches.length} batch partition(s) through ${through} and ${replacedMonths.length} month(s) rewritten into ${touched.length} month partition(s) under ${prefix}`, {
    table: fact.name,
    batches: plan.batches.length,
    months: touched,
    rows: written.rows,
    prefix,
    expired,
  });
  return { table: fact.name, outcome: 'compacted', batches: plan.batches.length, months: touched, prefix, expired };
}

/** What one compaction writes and replaces (month prefixes), kept until what it replaced is expired. */
interface CompactionJournal {
  table: string;
  prefix: string;
  months: string[];
  replaced: string[];
}

/**
 * Expires what the fact's last compaction journal names that is no longer published and that the
 * compaction about to write under `prefix` neither reads nor writes (see the module comment, step 5).
 * Returns the number of objects marked.
 */
async function settleCompactionJournal(ctx: PipelineContext, table: string, publishedMonths: readonly TableLocation[], prefix: string): Promise<number> {
  let journal: CompactionJournal;
  try {
    journal = JSON.parse(await getText(ctx.processed, factCompactionJournalKey(table))) as CompactionJournal;
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return 0;
    throw err;
  }
  const published = new Set(publishedMonths.map((m) => m.prefix));
  const stale = [...journal.months, ...journal.replaced].filter((p) => !published.has(p) && !p.startsWith(prefix));
  const marked = await expirePrefixes(ctx, stale);
  if (marked) ctx.log.info(`Fact compaction: ${table}: ${marked} file(s) of ${journal.prefix}'s compaction are no longer published; marked superseded`, { table, prefix: journal.prefix, files: marked });
  return marked;
}

/** Marks every object under the prefixes superseded (`ObjectStore.expire`); returns how many. */
async function expirePrefixes(ctx: PipelineContext, prefixes: readonly string[]): Promise<number> {
  const keys: string[] = [];
  for (const p of prefixes) for await (const o of ctx.processed.list(p)) keys.push(o.key);
  await ctx.processed.expire(keys);
  return keys.length;
}

/** Bindings naming only the fact, at the given prefixes. */
function starOnly(table: string, prefixes: readonly string[]): RelationBindings {
  return { batch: {}, current: {}, star: { [table]: [...prefixes] } };
}

/**
 * Step 3: what was written holds, month by month, the same rows as what it replaces (count, sum of
 * the fact's id, number of batches), and files only under the months planned. Throws otherwise.
 */
async function checkCompaction(
  ctx: PipelineContext,
  fact: StarTable,
  origin: string,
  prefix: string,
  monthPrefixes: readonly string[],
  inputs: readonly string[],
  files: readonly string[],
): Promise<void> {
  const stray = files.filter((f) => !monthPrefixes.some((m) => f.startsWith(m)));
  const where = `Fact compaction of ${fact.name} (${origin}) wrote ${prefix}`;
  if (stray.length) throw new Error(`${where} with file(s) outside the months planned (${stray.slice(0, 3).join(', ')}); nothing was published`);
  const [id] = fact.key;
  const tally = (relation: string, side: string): string =>
    `SELECT '${side}' AS side, substr(CAST(created_date AS varchar), 1, 7) AS month, count(*) AS n, sum(CAST(${id} AS bigint)) AS ids, count(DISTINCT _batch_id) AS batches FROM ${relation} GROUP BY substr(CAST(created_date AS varchar), 1, 7)`;
  const rows = await ctx.engine.query(`${tally(fact.name, 'written')}\nUNION ALL\n${tally(`previous_${fact.name}`, 'replaced')}`, {
    batch: {},
    current: {},
    star: { [fact.name]: [...monthPrefixes] },
    previousStar: { [fact.name]: [...inputs] },
  });
  const sides = { written: new Map<string, string>(), replaced: new Map<string, string>() };
  for (const r of rows) sides[String(r.side) as keyof typeof sides].set(String(r.month), `${String(r.n)} rows, id sum ${String(r.ids)}, ${String(r.batches)} batches`);
  const problems: string[] = [];
  for (const month of new Set([...sides.written.keys(), ...sides.replaced.keys()])) {
    const written = sides.written.get(month) ?? 'nothing';
    const replaced = sides.replaced.get(month) ?? 'nothing';
    if (written !== replaced) problems.push(`${month}: ${written} written, ${replaced} replaced`);
  }
  if (problems.length) throw new Error(`${where} but it does not hold what it replaces (${problems.slice(0, 5).join('; ')}); nothing was published`);
}
