/**
 * One scenario's world: a seeded totesys with the audit oracle installed, an empty warehouse (both
 * on a real PostgreSQL server when one is available, PGlite otherwise), a lake folder, DuckDB, and
 * `cycle()` = oracle mark → extract → transform → load. `check()` ends every scenario: the oracle
 * comparison of the lake and the warehouse, then a clean `verify`.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import type { Log } from '../../functions/core/ports/log';
import { runCycle, type CycleResult } from '../../functions/core/run-cycle';
import { formatVerifyReport, verify } from '../../functions/core/verify/verify';
import { openFolderPipeline, REPO_ROOT } from '../../functions/local/folder-pipeline';
import { seedTotesys } from '../../functions/totesys/seed';
import { AuditOracle } from '../support/audit-oracle';
import { testDatabase, type TestDatabase } from '../support/test-postgres';

export { REPO_ROOT };

/** Records warnings and errors, so a scenario can assert that something was reported. */
export class RecordingLog implements Log {
  readonly lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  info(message: string, fields?: Record<string, unknown>): void { this.lines.push({ level: 'info', message, fields }); }
  warn(message: string, fields?: Record<string, unknown>): void { this.lines.push({ level: 'warn', message, fields }); }
  error(message: string, fields?: Record<string, unknown>): void { this.lines.push({ level: 'error', message, fields }); }
  progress(): void {}
  metric(): void {}
  text(level?: string): string {
    return this.lines.filter((l) => !level || l.level === level).map((l) => l.message).join('\n');
  }
}

export interface Scenario {
  source: TestDatabase;
  warehouse: TestDatabase;
  lakeDir: string;
  ctx: PipelineContext;
  log: RecordingLog;
  oracle: AuditOracle;
  /** Runs SQL on totesys (one short connection). */
  sql<T extends Record<string, unknown> = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs SQL on the warehouse (one short connection). */
  warehouseSql<T extends Record<string, unknown> = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Oracle mark, then one pipeline cycle on `ctx` (default: the scenario's). */
  cycle(ctx?: PipelineContext): Promise<CycleResult>;
  /** Oracle mark before an extract run some other way; call `extracted()` after it. */
  beforeExtract(): Promise<void>;
  extracted(): Promise<void>;
  /** A second context on the same lake, databases and engine kind (its own DuckDB). */
  context(overrides?: Partial<PipelineContext>): Promise<PipelineContext>;
  /** The closing check: oracle vs lake and warehouse, and a clean verify. Returns the problems (empty = clean). */
  check(): Promise<string[]>;
  close(): Promise<void>;
}

export interface ScenarioOptions {
  /** Compaction policy of the scenario's contexts (default: the product's). */
  compaction?: PipelineContext['compaction'];
}

export async function openScenario(name: string, options: ScenarioOptions = {}): Promise<Scenario> {
  const source = await testDatabase(`${name}_src`);
  const warehouse = await testDatabase(`${name}_wh`);
  await seedTotesys(source.url, { scale: 0.005, seed: 7, asOf: new Date('2024-06-01T00:00:00Z') });
  const oracle = await AuditOracle.install(source.url);
  const lakeDir = await fs.mkdtemp(path.join(os.tmpdir(), `totes-scenario-${name}-`));
  const log = new RecordingLog();
  const pipelines: { close(): Promise<void> }[] = [];
  const context = async (overrides: Partial<PipelineContext> = {}): Promise<PipelineContext> => {
    const pipeline = await openFolderPipeline({ lake: lakeDir, source: source.url, warehouse: warehouse.url, log, compaction: options.compaction, ...overrides });
    pipelines.push(pipeline);
    return pipeline.ctx;
  };
  const ctx = await context();
  const scenario: Scenario = {
    source, warehouse, lakeDir, ctx, log, oracle,
    sql: <T extends Record<string, unknown>>(text: string, params: unknown[] = []) => runSql<T>(source.url, text, params),
    warehouseSql: <T extends Record<string, unknown>>(text: string, params: unknown[] = []) => runSql<T>(warehouse.url, text, params),
    async cycle(on = ctx) {
      await oracle.mark();
      let result: CycleResult | undefined;
      try {
        result = await runCycle(on);
        return result;
      } finally {
        await oracle.extracted(ctx.ingestion, result?.extract);
      }
    },
    beforeExtract: () => oracle.mark(),
    extracted: () => oracle.extracted(ctx.ingestion),
    context,
    async check() {
      const problems = [...(await oracle.compareLake(ctx.ingestion)), ...(await oracle.compareWarehouse(ctx.ingestion, warehouse.url))];
      const report = await verify(ctx);
      if (!report.ok) problems.push(formatVerifyReport(report));
      return problems;
    },
    async close() {
      for (const pipeline of pipelines) await pipeline.close();
      await warehouse.close().catch(() => undefined);
      await source.close().catch(() => undefined);
      await fs.rm(lakeDir, { recursive: true, force: true });
    },
  };
  return scenario;
}

async function runSql<T extends Record<string, unknown>>(url: string, text: string, params: unknown[]): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** The database clock in UTC at totesys precision, as SQL. */
export const NOW = `(now() AT TIME ZONE 'UTC')::timestamp(3)`;
