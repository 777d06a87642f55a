import type { QueryEngine, QueryStats, RelationBindings, WriteTarget } from '../../../functions/core/ports/query-engine';
import { countQueries, QueryTally } from '../../../functions/core/transform/query-tally';

/**
 * The count of a batch's engine round trips (functions/core/transform/query-tally.ts): statements,
 * critical path (statements in flight together share a level) and bytes scanned.
 */

const bindings: RelationBindings = { batch: {}, current: {}, star: {} };
const target = (table: string): WriteTarget => ({ table, prefix: `star/${table}/`, columns: [], batchId: 'b', sqlHash: 'h', origin: 'test' });

/** An engine whose every call waits until the test releases it by name. */
function gatedEngine(options: { measuresScan?: boolean; statements?: Record<string, number> } = {}) {
  const waiting = new Map<string, { release: () => void; fail: (err: Error) => void }>();
  const gate = (name: string) =>
    new Promise<void>((resolve, reject) => {
      waiting.set(name, { release: resolve, fail: reject });
    });
  const stats = (table: string): QueryStats => ({ rows: 1, bytesScanned: 100, elapsedMs: 1, files: [], ...(options.statements?.[table] ? { statements: options.statements[table] } : {}) });
  const engine: QueryEngine = {
    name: options.measuresScan ? 'athena' : 'duckdb',
    ...(options.measuresScan ? { measuresScan: true } : {}),
    write: async (_sql, _b, t) => {
      await gate(t.table);
      return stats(t.table);
    },
    query: async (sql) => {
      await gate(sql);
      return [{ sql }];
    },
    ...(options.measuresScan
      ? {
          select: async (sql: string) => {
            await gate(sql);
            return { rows: [{ sql }], bytesScanned: 10 };
          },
        }
      : {}),
    close: async () => undefined,
  };
  /** Lets the named call finish, and waits until its caller has seen it. */
  const release = async (name: string) => {
    await new Promise((r) => setImmediate(r));
    waiting.get(name)!.release();
    await new Promise((r) => setImmediate(r));
  };
  const fail = async (name: string) => {
    await new Promise((r) => setImmediate(r));
    waiting.get(name)!.fail(new Error(`${name} failed`));
    await new Promise((r) => setImmediate(r));
  };
  return { engine, release, fail };
}

describe('countQueries', () => {
  it('counts statements awaited one after another as a chain as long as their number', async () => {
    const { engine, release } = gatedEngine();
    const tally = new QueryTally(false);
    const counted = countQueries(engine, tally);
    for (const name of ['a', 'b', 'c']) {
      const call = counted.query(name, bindings);
      await release(name);
      await call;
    }
    expect(tally.counts()).toEqual({ queries: 3, criticalPath: 3, bytesScanned: null });
  });

  it('puts statements in flight together on one level', async () => {
    const { engine, release } = gatedEngine();
    const tally = new QueryTally(false);
    const counted = countQueries(engine, tally);
    // Level 1: a, b and the write of t1, sent together.
    const first = [counted.query('a', bindings), counted.query('b', bindings), counted.write('x', bindings, target('t1'))];
    await release('a');
    // c is sent after a finished (b and t1 still running): level 2.
    const c = counted.query('c', bindings);
    await release('b');
    await release('t1');
    await release('c');
    await Promise.all([...first, c]);
    expect(tally.counts()).toEqual({ queries: 4, criticalPath: 2, bytesScanned: null });
    // d, sent after everything finished: level 3.
    const d = counted.query('d', bindings);
    await release('d');
    await d;
    expect(tally.counts()).toEqual({ queries: 5, criticalPath: 3, bytesScanned: null });
  });

  it('a statement sent while a long one runs is not after it: two chains side by side make the longer path', async () => {
    const { engine, release } = gatedEngine();
    const tally = new QueryTally(false);
    const counted = countQueries(engine, tally);
    const long = counted.query('long', bindings);
    const a1 = counted.query('a1', bindings);
    await release('a1');
    await a1;
    const a2 = counted.query('a2', bindings);
    await release('a2');
    await a2;
    const a3 = counted.query('a3', bindings);
    await release('a3');
    await a3;
    await release('long');
    await long;
    expect(tally.counts()).toEqual({ queries: 4, criticalPath: 3, bytesScanned: null });
  });

  it("counts a write's own statements one after another, and sums the bytes an engine that measures them reports", async () => {
    const { engine, release } = gatedEngine({ measuresScan: true, statements: { partitioned: 3 } });
    const tally = new QueryTally(engine.measuresScan === true);
    const counted = countQueries(engine, tally);
    expect(counted.measuresScan).toBe(true);
    const w = counted.write('x', bindings, target('partitioned'));
    await release('partitioned');
    await w;
    const q = counted.query('q', bindings);
    await release('q');
    expect(await q).toEqual([{ sql: 'q' }]);
    // 3 statements of the write (100 bytes) and the query (10 bytes, through the engine's select).
    expect(tally.counts()).toEqual({ queries: 4, criticalPath: 4, bytesScanned: 110 });
  });

  it('keeps at most `limit` statements in flight: the next is sent, and counted, once one finished, in the order asked', async () => {
    const { engine, release, fail } = gatedEngine();
    const sent: string[] = [];
    const watched: QueryEngine = { ...engine, query: (sql, b) => (sent.push(sql), engine.query(sql, b)) };
    const tally = new QueryTally(false);
    const counted = countQueries(watched, tally, 2);
    const calls = ['a', 'b', 'c', 'd'].map((name) => counted.query(name, bindings));
    const failed = expect(calls[0]).rejects.toThrow('a failed');
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual(['a', 'b']);
    await fail('a');
    // a's slot went to c (a failure frees it too), the first waiting; d still waits.
    expect(sent).toEqual(['a', 'b', 'c']);
    await release('b');
    expect(sent).toEqual(['a', 'b', 'c', 'd']);
    await release('c');
    await release('d');
    await failed;
    await Promise.all(calls.slice(1));
    // a and b on level 1; c and d, sent after one of them finished, on level 2.
    expect(tally.counts()).toEqual({ queries: 4, criticalPath: 2, bytesScanned: null });
    expect(() => countQueries(engine, tally, 0)).toThrow('at least 1, got 0');
  });

  it('counts a call that failed', async () => {
    const { engine, fail, release } = gatedEngine();
    const tally = new QueryTally(false);
    const counted = countQueries(engine, tally);
    const bad = counted.write('x', bindings, target('t'));
    await fail('t');
    await expect(bad).rejects.toThrow('t failed');
    const next = counted.query('after', bindings);
    await release('after');
    await next;
    expect(tally.counts()).toEqual({ queries: 2, criticalPath: 2, bytesScanned: null });
  });
});
