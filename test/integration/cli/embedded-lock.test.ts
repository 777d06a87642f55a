import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Embedded PGlite databases serve one process at a time: a second `totes` process pointed at the
 * same folder must stop with a clear message rather than open (and corrupt) the same data.
 */
const CLI = path.resolve(__dirname, '../../../functions/cli/totes.cjs');

it('refuses a second process on the same embedded databases, and frees them on exit', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'totes-lock-'));
  const lake = path.join(root, 'lake');
  const first = spawn(process.execPath, [CLI, 'run', '--every', '1h', '--lake', lake], { stdio: 'ignore' });
  try {
    const deadline = Date.now() + 60_000;
    while (!existsSync(path.join(root, 'warehouse.lock')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(path.join(root, 'totesys.lock'))).toBe(true);

    const second = spawnSync(process.execPath, [CLI, 'simulate', '--lake', lake], { encoding: 'utf8' });
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(/embedded PostgreSQL "totesys" in .* is in use by another totes process \(pid \d+\)/);
  } finally {
    first.kill('SIGTERM');
    await new Promise((r) => first.once('exit', r));
  }
  expect(existsSync(path.join(root, 'totesys.lock'))).toBe(false);
  expect(existsSync(path.join(root, 'warehouse.lock'))).toBe(false);
});
