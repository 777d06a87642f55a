import { sourceTable, type SourceTableName } from '../contract/source-tables';
import { LINEAGE_COLUMNS, STAR_TABLES } from '../contract/star-tables';
import { CHANGES_PREFIX } from '../lake/lake-layout';
import { listExtractSeqs, listTransformSeqs } from '../lake/manifest-log';
import type { TransformManifest } from '../lake/manifests';
import { silentLog } from '../ports/log';
import type { QueryEngine, QueryStats, RelationBindings, RenderedStatement, StatementRenderer, WriteTarget } from '../ports/query-engine';
import type { PipelineContext } from '../pipeline-context';
import { FACT_SOURCES, runDataTests } from './data-tests';
import { findRejectedVersions } from './input-checks';
import { checkModelVersions } from './model-versions';
import { loadSqlFiles, type SqlFile } from './sql-files';
import { readBatchInputs, stageBatch } from './transform';

/**
 * `totes compile`: the SQL the transform would send for the next batch, rendered and not run.
 *
 * It plans the batch with the transform's own code: the same inputs (`readBatchInputs`: extract
 * manifest N, transform manifest N−1), the same model-version check, the same input-check query, the
 * same staging (`stageBatch`: current states with `dim_date`'s count, the facts and by-key change
 * sets, then the other SQL files, change sets) and the same data tests (`runDataTests`) — with an engine that hands each
 * write and query to the engine's renderer ({@link StatementRenderer}, beside each engine in
 * `functions/engines/<engine>/engine.ts`, sharing its statement generator) instead of running it. So
 * every statement is the text the engine would send, in the order it would send it; nothing is
 * written and nothing runs on an engine.
 *
 * The batch: the first extracted batch without a transform manifest (what the next `totes run`
 * transforms). When none is pending, the newest extracted batch as the transform ran it, over the
 * transform manifest before it: re-running a batch rewrites the same locations with the same
 * statements, so that is exactly what its run sent (and what a new batch's will look like).
 *
 * Where the transform decides from a statement's result, the rendering takes the path of a batch that
 * goes through (the notes say so): no rejected input versions (else the statements that read
 * `batch_<t>` filter them out, input-checks.ts `readAcceptedOnly`); every write produces rows; every
 * data test passes (a failing one adds a query for its sample rows); a calendar that only grows
 * (`dim_date`) is rebuilt — the transform first counts its rows and carries the previous one forward
 * when the count is unchanged.
 */

/** One statement the engine would send, with what the transform sends it for. */
export interface CompiledStatement {
  /** Which of the transform's engine calls (a write or a query, counted from 1) the statement is part of: a write sends several. */
  call: number;
  /** The tables it builds or checks: a star table, `current_<source table>`, or several (input checks, fact row counts). */
  tables: string[];
  /** What the transform runs it for, e.g. `current-state delta` or `fact partition (sql/transform/fact_sales_order.sql)`. */
  step: string;
  /** The model file (`sql/transform/<table>.sql`) or `generated`, and the sha256 recorded as its version. */
  origin?: string;
  sqlHash?: string;
  /** Where a write puts its output (processed store key prefix). */
  prefix?: string;
  /** The lineage columns of a write: appended by the engine (with their values), or produced by the SELECT. */
  lineage?: string;
  /** What the engine sends it for (its role in the write or query) and the text as sent. */
  role: string;
  sql: string;
  params?: string[];
}

export interface CompiledBatch {
  engine: QueryEngine['name'];
  seq: number;
  batchId: string;
  /** True when the batch is the next the transform runs; false when none is pending (the newest batch, as it ran). */
  pending: boolean;
  /** What the reader should know: no batch pending, a changed model, the assumptions above. */
  notes: string[];
  statements: CompiledStatement[];
}

/** No lake yet, or a batch that cannot be planned now: the message says what to run. */
export class NothingToCompileError extends Error {
  override name = 'NothingToCompileError';
}

export type CompileContext = Pick<PipelineContext, 'ingestion' | 'processed' | 'sqlRoot' | 'compaction'>;

/** A write or a query the transform asked of its engine, with what the renderer made of it. */
type Recorded =
  | { kind: 'write'; select: string; bindings: RelationBindings; target: WriteTarget; phase: Phase; statements: RenderedStatement[] }
  | { kind: 'query'; sql: string; phase: Phase; statements: RenderedStatement[] };

type Phase = 'input checks' | 'stage' | 'data tests';

/** The engine compile gives the transform's code: every call rendered and recorded, none run. */
class RenderingEngine implements QueryEngine {
  readonly name: QueryEngine['name'];
  readonly recorded: Recorded[] = [];
  phase: Phase = 'input checks';

  constructor(private readonly renderer: StatementRenderer) {
    this.name = renderer.name;
  }

  async write(select: string, bindings: RelationBindings, target: WriteTarget): Promise<QueryStats> {
    const statements = await this.renderer.renderWrite(select, bindings, target);
    this.recorded.push({ kind: 'write', select, bindings, target, phase: this.phase, statements });
    // Every write is taken to produce rows (a by-key change set then counts its new keys, as it does when it has rows).
    return { rows: 1, bytesScanned: 0, elapsedMs: 0, files: [] };
  }

  async query(sql: string, bindings?: RelationBindings): Promise<Record<string, unknown>[]> {
    const statements = await this.renderer.renderQuery(sql, bindings);
    this.recorded.push({ kind: 'query', sql, phase: this.phase, statements });
    // No rows: no rejected input, no failing data test, no unknown currency, an unknown count.
    return [];
  }

  async close(): Promise<void> {}
}

/** Which batch the transform runs next (or, none pending, the newest as it ran). Reads only the two manifest logs. */
async function nextBatch(ctx: CompileContext): Promise<{ seq: number; pending: boolean }> {
  const extracted = await listExtractSeqs(ctx.ingestion);
  if (!extracted.length) {
    throw new NothingToCompileError(`No extracted batch in ${ctx.ingestion.name} yet: run \`totes run\` (or \`npm start\`) first, then compile`);
  }
  const transformed = new Set(await listTransformSeqs(ctx.processed));
  const pending = extracted.find((seq) => !transformed.has(seq));
  if (pending === undefined) return { seq: extracted.at(-1)!, pending: false };
  if (pending > 1 && !transformed.has(pending - 1)) {
    throw new NothingToCompileError(
      `Batch ${pending} waits: batch ${pending - 1} has no transform manifest (its extract manifest is missing or its transform has not succeeded), so the statements of batch ${pending} depend on a state that does not exist yet; \`totes status\` says why`,
    );
  }
  return { seq: pending, pending: true };
}

/** Renders every statement the transform would send for the next batch (see the top of this file). */
export async function compileNextBatch(ctx: CompileContext, renderer: StatementRenderer): Promise<CompiledBatch> {
  const { seq, pending } = await nextBatch(ctx);
  const { extract, previous } = await readBatchInputs(ctx, seq);
  const sqlFiles = await loadSqlFiles(ctx.sqlRoot);
  const notes: string[] = [];
  if (!pending) {
    notes.push(
      `No batch is waiting to be transformed: this is batch ${extract.batchId} (seq ${seq}, the newest extracted) as the transform ran it over ${previous ? `transform manifest ${seq - 1}` : 'an empty lake'}; re-running a batch sends these same statements, and the next batch's differ only in the batch id, its files and the locations it reads`,
    );
  }
  const models = await checkModelVersions({ processed: ctx.processed, log: silentLog }, extract, previous, sqlFiles);
  for (const change of models.changes) {
    notes.push(`${change.origin} changed since it built the published ${change.table} (version ${change.published.slice(0, 12)}, the file is now ${change.file.slice(0, 12)}): ${change.action === 'rebuilt' ? 'the batch rebuilds the dimension whole' : 'the batch waits'}`);
  }
  if (models.waiting) notes.push(`The transform would not run this batch now (it waits, quarantined): ${models.waiting}. Below is what it runs once it goes through.`);
  const engine = new RenderingEngine(renderer);
  const stageCtx = { engine, log: silentLog, compaction: ctx.compaction };
  await findRejectedVersions(stageCtx, extract);
  engine.phase = 'stage';
  const staged = await stageBatch(stageCtx, extract, previous, sqlFiles, [], models);
  engine.phase = 'data tests';
  await runDataTests(stageCtx, extract, staged.star, [], [...staged.carried, ...staged.unwritten]);
  const counted = sqlFiles.filter((f) => f.table.growsOnly && engine.recorded.some((c) => c.kind === 'query' && c.phase === 'stage' && c.sql.includes(f.sql)));
  notes.push(
    'Rendered for a batch that goes through: no rejected input versions, every write producing rows, every data test passing' +
      (counted.length ? `; ${counted.map((f) => f.table.name).join(', ')} rebuilt after its row count (the transform carries it forward instead when the count is unchanged: the calendar did not grow)` : ''),
  );
  for (const name of staged.carried) notes.push(`${name} is carried forward from ${staged.star[name].builtBy}: none of its sources changed, so the batch sends nothing for it`);
  for (const name of staged.unwritten) notes.push(`${name} has no versions in this batch: the batch writes no partition of it and sends nothing for it`);

  return { engine: renderer.name, seq, batchId: extract.batchId, pending, notes, statements: engine.recorded.flatMap((call, i) => describe(call, i + 1, previous, sqlFiles)) };
}

/** Each rendered statement of a recorded call, with what the transform sends it for. */
function describe(call: Recorded, index: number, previous: TransformManifest | undefined, sqlFiles: readonly SqlFile[]): CompiledStatement[] {
  const about = call.kind === 'write' ? describeWrite(call, previous) : describeQuery(call, sqlFiles);
  return call.statements.map((s) => ({ call: index, ...about, role: s.role, sql: s.sql, ...(s.params?.length ? { params: s.params } : {}) }));
}

function describeWrite(call: Extract<Recorded, { kind: 'write' }>, previous: TransformManifest | undefined): Omit<CompiledStatement, 'call' | 'role' | 'sql'> {
  const { target, bindings } = call;
  const listed = new Set(target.columns.map((c) => c.name));
  const lineage = LINEAGE_COLUMNS.map((name) =>
    listed.has(name) ? `${name} from the SELECT` : `${name} = '${name === '_batch_id' ? target.batchId : target.sqlHash}' appended by the engine`,
  ).join('; ');
  const common = { origin: target.origin, sqlHash: target.sqlHash, prefix: target.prefix, lineage };
  const current = /^current_(.+)$/.exec(target.table)?.[1] as SourceTableName | undefined;
  if (current) {
    const pk = sourceTable(current).primaryKey;
    const step = bindings.previous?.[current] !== undefined
      ? `current-state merge: the base, its deltas and this batch's versions compacted into a new base (latest version per ${pk}, generated from the table contract)`
      : previous?.current[current] !== undefined
        ? `current-state delta: this batch's latest version of each ${pk} (generated from the table contract)`
        : `current-state base: the batch's latest version of each ${pk} (generated from the table contract)`;
    return { tables: [target.table], step, ...common };
  }
  const star = STAR_TABLES.find((t) => t.name === target.table);
  const changes = target.prefix.startsWith(CHANGES_PREFIX);
  const step =
    target.origin === 'generated'
      ? `dimension change set: the rows new or changed since the version it replaces (generated), what the load upserts`
      : changes
        ? `by-key change set: ${target.origin} over the source's delta only, the latest version of each key among the batch's rows (the dimension is its base plus change sets)`
        : star?.kind === 'fact'
          ? `fact partition of this batch: ${target.origin}`
          : `dimension rebuilt whole: ${target.origin}`;
  return { tables: [target.table], step, ...common };
}

function describeQuery(call: Extract<Recorded, { kind: 'query' }>, sqlFiles: readonly SqlFile[]): Omit<CompiledStatement, 'call' | 'role' | 'sql'> {
  const { sql, phase } = call;
  if (phase === 'input checks') return { tables: [...new Set(sqlFiles.flatMap((f) => f.table.sources))].sort(), step: "input checks: date texts of the batch's rows that do not parse (input-checks.ts)" };
  if (phase === 'data tests') {
    // One query tests several tables (data-tests.ts): each table's unique-key test, each fact's count of the batch's versions.
    const tables = STAR_TABLES.filter((t) => sql.includes(`count(*) AS copies FROM ${t.name} GROUP BY`) || sql.includes(`AS ${t.name} GROUP BY`) || (FACT_SOURCES[t.name] && sql.includes(`) AS v_${FACT_SOURCES[t.name]}`))).map((t) => t.name);
    return {
      tables,
      step: `data tests of ${tables.length ? tables.join(', ') : 'a star table'} on what the batch staged: unique key, not null, relationships, accepted values, each fact's rows = the distinct versions the batch extracted, and the keys a by-key change set adds (data-tests.ts)`,
    };
  }
  const counted = sqlFiles.find((f) => sql.includes(f.sql) && /\) AS built$/.test(sql));
  if (counted) return { tables: [counted.table.name], step: `row count of ${counted.origin} (a table that only grows is carried forward when it is unchanged)`, origin: counted.origin, sqlHash: counted.sqlHash };
  if (/\bcurrency_name IS NULL\b/.test(sql)) return { tables: ['dim_currency'], step: 'report: currencies without an ISO 4217 name' };
  return { tables: [], step: 'query' };
}
