import type { DuckDBValue } from '@duckdb/node-api';
import type { LocalFiles } from '../../functions/core/ports/object-store';
import { DuckDbSession } from '../../functions/engines/duckdb/client';
import { DuckDbEngine } from '../../functions/engines/duckdb/engine';
import { simulateActivity } from '../../functions/totesys/simulate';
import { openScenario, type Scenario } from './scenario-harness';

/**
 * Issue 14, item 3: in a local cycle (run-cycle.ts) the transform's parsing of a table's raw files
 * starts as soon as the extract has read that table, while the extract reads the others
 * (ExtractOptions `onTableRead` → QueryEngine `prepare`). Each table's files are handed to the
 * engine before the extract publishes its manifest and parsed once in the cycle, and the cycles
 * stay exact (the audit oracle and `verify`).
 */
describe('the extract and the transform overlap in a local cycle', () => {
  let scenario: Scenario;
  /** Everything in order: each call of the engine's prepare (its files), each raw-file parse DuckDB was sent (its files), each extract manifest written. */
  const events: ({ kind: 'prepare' | 'parse'; files: string[] } | { kind: 'manifest'; seq: number })[] = [];
  let restore: () => void;

  beforeAll(async () => {
    scenario = await openScenario('overlap');
    const local = (keys: readonly string[]) => keys.map((key) => (scenario.ctx.ingestion as unknown as LocalFiles).pathOf(key));
    const run = DuckDbSession.prototype.run;
    const runSpy = jest.spyOn(DuckDbSession.prototype, 'run').mockImplementation(function (this: DuckDbSession, sql: string, params: readonly DuckDBValue[], where: string) {
      if (sql.includes('read_json(')) events.push({ kind: 'parse', files: (params[0] as unknown as { items: unknown[] }).items.map(String) });
      return run.call(this, sql, params, where);
    });
    const prepare = DuckDbEngine.prototype.prepare;
    const prepareSpy = jest.spyOn(DuckDbEngine.prototype, 'prepare').mockImplementation(function (this: DuckDbEngine, batch) {
      for (const keys of Object.values(batch)) events.push({ kind: 'prepare', files: local(keys ?? []) });
      return prepare.call(this, batch);
    });
    const put = scenario.ctx.ingestion.put.bind(scenario.ctx.ingestion);
    scenario.ctx.ingestion.put = async (key, body, options) => {
      const done = await put(key, body, options);
      const seq = /^manifests\/extract\/(\d+)\.json$/.exec(key)?.[1];
      if (seq) events.push({ kind: 'manifest', seq: Number(seq) });
      return done;
    };
    restore = () => {
      runSpy.mockRestore();
      prepareSpy.mockRestore();
      scenario.ctx.ingestion.put = put;
    };
  });
  afterAll(async () => {
    restore();
    await scenario.close();
  });

  /** Runs a cycle and checks its parses against its extract manifest. */
  async function cycleWithOverlap(): Promise<void> {
    events.length = 0;
    const cycle = await scenario.cycle();
    expect(cycle.extract.published).toBe(true);
    const manifest = cycle.extract.manifest!;
    const published = events.findIndex((e) => e.kind === 'manifest' && e.seq === manifest.seq);
    expect(published).toBeGreaterThan(-1);
    const calls = (kind: 'prepare' | 'parse') => events.flatMap((e, i) => (e.kind === kind ? [{ ...e, i }] : []));
    const tables = Object.entries(manifest.tables).filter(([, t]) => t.files.length > 0);
    expect(tables.length).toBeGreaterThan(0);
    for (const [name, table] of tables) {
      const files = table.files.map((f) => (scenario.ctx.ingestion as unknown as LocalFiles).pathOf(f.key)).join('\n');
      const prepared = calls('prepare').filter((p) => p.files.join('\n') === files);
      const parsed = calls('parse').filter((p) => p.files.join('\n') === files);
      // Handed to the engine once, before the batch was published (while the extract ran), and
      // parsed once in the whole cycle: the transform's statements read that parse.
      expect({ table: name, prepared: prepared.map((p) => p.i < published) }).toEqual({ table: name, prepared: [true] });
      expect({ table: name, parses: parsed.length }).toEqual({ table: name, parses: 1 });
    }
    expect(calls('parse')).toHaveLength(tables.length);
  }

  it('a first cycle: every table handed to the engine before the batch was published, and parsed once', async () => {
    await cycleWithOverlap();
    expect(await scenario.check()).toEqual([]);
  });

  it('a five-minute batch of business: the same, and the lake and the warehouse stay exact', async () => {
    await simulateActivity(scenario.source.url, { minutes: 5, seed: 14 });
    await cycleWithOverlap();
    expect(await scenario.check()).toEqual([]);
  });
});
