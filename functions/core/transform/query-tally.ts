import type { EngineQueries } from '../lake/manifests';
import type { QueryAnswer, QueryEngine, QueryStats, RelationBindings, WriteTarget } from '../ports/query-engine';
import { ENGINE_CONCURRENCY } from './concurrently';

/**
 * The engine round trips of one batch's transform, counted in one place for every engine: the
 * transform wraps the context's engine in {@link countQueries} for the batch, so every `write` and
 * `query` the planner sends passes through here, whichever engine runs it (issue 14: few Athena
 * round trips, measured on DuckDB and Trino too, since the same planner decides for all three).
 *
 * What counts is what the planner asks the engine for, which is what Athena sends: a `query` is
 * one statement; a `write` is one statement (a CTAS on Athena and Trino, a COPY on DuckDB) unless
 * the engine reports more in {@link QueryStats.statements} (a partitioned write split by 100
 * partitions, after a query listing them). An engine's own housekeeping is not counted: DuckDB's
 * scratch copy of a batch's raw files (and the DESCRIBE naming a write's columns when they are not
 * the target's), Trino's DDL registering tables and schemas
 * (Glue API calls on Athena, not queries).
 *
 * The critical path is the longest chain of statements each sent only after the previous one
 * finished: a statement's depth is its call's statements plus the greatest depth among the
 * statements that had finished when it was sent (0 if none). Statements in flight together
 * therefore share a level; statements sent one after another each add one. With every call
 * awaited in turn, the critical path equals the count. It measures what happened: where more
 * independent statements wait than run at once (concurrently.ts, or a slot here), a waiting one is sent after
 * whichever finished first, so on an engine that runs them together it can vary a little.
 *
 * The bound on statements in flight is kept here too ({@link countQueries}' `limit`): chains run at
 * once (concurrently.ts) may each send more than one statement together (a small dimension and its
 * change set), so bounding the chains alone would not bound the statements. A call waits for a slot
 * before it is marked sent, so waiting is not counted as being in flight.
 *
 * Bytes scanned are the engine's own figures (Athena's `DataScannedInBytes`, Trino's physical
 * input bytes), summed; null for an engine that does not measure them (DuckDB): unknown, not 0.
 */

export class QueryTally {
  private queries = 0;
  /** The greatest depth among the statements finished so far. */
  private finishedDepth = 0;
  private bytes = 0;

  constructor(private readonly measured: boolean) {}

  /**
   * Marks a call as sent, now; the function returned marks it finished, with the statements it
   * took (one after another) and the bytes they scanned. A call that failed still counts.
   */
  sent(): (statements: number, bytesScanned: number) => void {
    const after = this.finishedDepth;
    let done = false;
    return (statements, bytesScanned) => {
      if (done) return;
      done = true;
      this.queries += statements;
      this.finishedDepth = Math.max(this.finishedDepth, after + statements);
      this.bytes += bytesScanned;
    };
  }

  /** The counts so far (calls still in flight are not in them). */
  counts(): EngineQueries {
    return { queries: this.queries, criticalPath: this.finishedDepth, bytesScanned: this.measured ? this.bytes : null };
  }
}

/**
 * At most `limit` calls at once: `run` waits for a free slot (callers are served in the order they
 * asked) and gives it back when the call settles.
 */
class Slots {
  private busy = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`Engine statements in flight: the bound must be a whole number of at least 1, got ${limit}`);
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    if (this.busy >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.busy += 1;
    try {
      return await call();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next caller, or is freed.
      if (next) next();
      else this.busy -= 1;
    }
  }
}

/**
 * `engine`, with every call it is sent counted in `tally`, and at most `limit` calls in flight
 * ({@link ENGINE_CONCURRENCY} by default: within the account's quota of active Athena DML queries,
 * running and queued, which every other user of the account shares).
 */
export function countQueries(engine: QueryEngine, tally: QueryTally, limit = ENGINE_CONCURRENCY): QueryEngine {
  const slots = new Slots(limit);
  /** Runs `call` once a slot is free, counted from then: its statements and bytes as `measured` reads them off its result (none if it failed). */
  const send = <T>(call: () => Promise<T>, measured: (result: T | undefined) => [statements: number, bytesScanned: number]): Promise<T> =>
    slots.run(async () => {
      const finished = tally.sent();
      let result: T | undefined;
      try {
        result = await call();
        return result;
      } finally {
        finished(...measured(result));
      }
    });
  const select = engine.select?.bind(engine);
  const counted: QueryEngine = {
    name: engine.name,
    ...(engine.measuresScan ? { measuresScan: true } : {}),
    write: (sql: string, bindings: RelationBindings, target: WriteTarget): Promise<QueryStats> =>
      send(() => engine.write(sql, bindings, target), (stats) => [stats?.statements ?? 1, stats?.bytesScanned ?? 0]),
    async query(sql: string, bindings?: RelationBindings): Promise<Record<string, unknown>[]> {
      if (select) return (await counted.select!(sql, bindings)).rows;
      return send(() => engine.query(sql, bindings), () => [1, 0]);
    },
    close: () => engine.close(),
  };
  if (select) {
    counted.select = (sql: string, bindings?: RelationBindings): Promise<QueryAnswer> => send(() => select(sql, bindings), (answer) => [1, answer?.bytesScanned ?? 0]);
  }
  return counted;
}
