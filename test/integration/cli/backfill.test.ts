import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * `totes backfill` at the edge: a usage mistake exits 64 before anything opens, and `--aws` refuses
 * with the reason (the whole backfill runs in test/scenarios/changed-model.test.ts).
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

it('refuses --aws, saying why, and changes nothing', () => {
  const r = totes('backfill', 'fact_sales_order', '--aws');
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/totes backfill --aws is refused, nothing was changed: publishing a rebuilt fact replaces every partition of its table in one step, and the Glue catalog changes partitions one call at a time/);
});
