import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * `totes backfill` at the edge: a usage mistake exits 64 before anything opens, locally and with
 * `--aws` (the whole backfill runs in test/scenarios/changed-model.test.ts; on the offline cloud in
 * test/cloud/backfill.cloud.ts, its Glue publish in test/cloud/fact-view.cloud.ts).
 */
const CLI = path.resolve(__dirname, '../../../functions/cli/totes.cjs');
const totes = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });

it('needs a star table, and names one that is not', () => {
  const lake = path.join(mkdtempSync(path.join(os.tmpdir(), 'totes-backfill-')), 'lake');
  const none = totes('backfill', '--lake', lake);
  expect(none.status).toBe(64);
  expect(none.stderr).toContain('Name the star table(s) to backfill');
  const wrong = totes('backfill', 'fact_sales', '--lake', lake);
  expect(wrong.status).toBe(64);
  expect(wrong.stderr).toContain('Not a star table: fact_sales');
  expect(() => readdirSync(lake)).toThrow(); // nothing was created
});

it('--aws checks its arguments before opening the deployment, then names what it cannot read', () => {
  const outputs = path.join(mkdtempSync(path.join(os.tmpdir(), 'totes-backfill-')), 'outputs.json');
  const none = totes('backfill', '--aws', '--stack-outputs', outputs);
  expect(none.status).toBe(64);
  expect(none.stderr).toContain('Name the star table(s) to backfill');
  const wrong = totes('backfill', 'fact_sales', '--aws', '--stack-outputs', outputs);
  expect(wrong.status).toBe(64);
  expect(wrong.stderr).toContain('Not a star table: fact_sales');
  const missing = totes('backfill', 'fact_sales_order', '--aws', '--stack-outputs', outputs);
  expect(missing.status).toBe(1);
  expect(missing.stderr).toMatch(/Cannot read the stack outputs in .*outputs\.json/);
});
