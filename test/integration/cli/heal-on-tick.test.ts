import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { acquireLease } from '../../../functions/core/lake/stage-lease';
import type { PipelineStatus } from '../../../functions/core/operate/pipeline-status';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';
import { testDatabase, type TestDatabase } from '../../support/test-postgres';

/**
 * `totes run --every` heals on its next tick, as a user sees it through the CLI. A transform is
 * left stuck (another process holds its batch's lease, as a run that hangs would): the ticks go on,
 * the source goes quiet, and `totes status --sla` exits 2 naming the waiting batch. Once the lease
 * is given back, the next tick transforms and loads the batch, and the quiet ticks after it keep
 * `totes status --sla 1m` at 0.
 */
const ROOT = path.resolve(__dirname, '../../..');
const CLI = path.join(ROOT, 'functions/cli/totes.cjs');
jest.setTimeout(240_000);

let root = '';
let lake = '';
let warehouse: TestDatabase | undefined;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'totes-heal-'));
  lake = path.join(root, 'lake');
  warehouse = await testDatabase('totes_heal');
});

afterAll(async () => {
  await warehouse?.close();
  if (root) await fs.rm(root, { recursive: true, force: true });
});

function totes(...args: string[]): { code: number; stdout: string; stderr: string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TOTES_')));
  const r = spawnSync(process.execPath, [CLI, ...args, '--lake', lake, '--warehouse-url', warehouse!.url], { cwd: ROOT, env, encoding: 'utf8', timeout: 200_000 });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

const statusOf = (sla: string) => {
  const r = totes('status', '--json', '--skip-source', '--sla', sla);
  return { code: r.code, status: JSON.parse(r.stdout) as PipelineStatus };
};

it('a stuck transform resumes on the next `totes run --every` tick; status exits 2 meanwhile, 0 after', async () => {
  expect(totes('seed', '--scale', '0.02').code).toBe(0);
  expect(totes('run').code).toBe(0);
  expect(statusOf('1m').code).toBe(0);
  expect(totes('simulate', '--minutes', '5', '--seed', '3').code).toBe(0);

  // Batch 2 will be held by this test process, as by a run that hangs.
  const processed = new FolderObjectStore(path.join(lake, 'processed'));
  const held = await acquireLease(processed, 'transform', 2, { ttlMs: 10 * 60_000, now: () => new Date() });
  if (!('lease' in held)) throw new Error('could not take the lease');

  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TOTES_')));
  const every = spawn(process.execPath, [CLI, 'run', '--every', '2s', '--lake', lake, '--warehouse-url', warehouse!.url], { cwd: ROOT, env });
  let log = '';
  every.stderr.on('data', (d: Buffer) => void (log += d.toString()));
  every.stdout.on('data', (d: Buffer) => void (log += d.toString()));
  const waitFor = async (pattern: RegExp, what: string) => {
    const deadline = Date.now() + 120_000;
    while (!pattern.test(log)) {
      if (Date.now() > deadline || every.exitCode !== null) throw new Error(`Timed out waiting for ${what}; the --every log:\n${log.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  try {
    await waitFor(/being transformed by another run/, 'the tick that finds batch 2 held');
    await waitFor(/Cycle done — extract nothing new[\s\S]*Cycle done — extract nothing new/, 'two quiet ticks after it');
    const stuck = statusOf('1s');
    expect(stuck.code).toBe(2);
    expect(stuck.status.freshness).toMatchObject({ seq: 1 });
    expect(stuck.status.backlog).toMatchObject({ batches: 1, next: { seq: 2 }, state: 'to-transform' });
    expect(stuck.status.sla.reason).toMatch(/1 batch\(es\) extracted but not loaded, the oldest 0000000002-\S+ not transformed yet/);

    await held.lease.release();
    await waitFor(/transformed 1, loaded 1 batch/, 'the tick that resumes batch 2');
    await waitFor(/transformed 1, loaded 1 batch[\s\S]*Cycle done — extract nothing new; transformed 0, loaded 0 batch/, 'a quiet tick after it');
    const healed = statusOf('1m');
    expect(healed.code).toBe(0);
    expect(healed.status.freshness).toMatchObject({ seq: 2, via: 'heartbeat' });
    expect(healed.status.backlog).toMatchObject({ batches: 0 });
  } finally {
    every.kill('SIGINT');
    await new Promise((r) => (every.exitCode !== null ? r(undefined) : every.once('exit', r)));
  }
});
