import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';

/**
 * Runs a command as a child process and measures it from the outside: wall time, and peak RSS of
 * the child and all its descendants (sampled from /proc every `sampleMs`). Benchmarks only: peak
 * RSS of a stage is the maximum resident memory of the process while the stage runs, native
 * memory (DuckDB, pyarrow) included.
 */
export interface Measured {
  wallMs: number;
  peakRssMb: number;
  stdout: string;
  stderr: string;
  code: number | null;
}

export interface MeasureOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  sampleMs?: number;
  /** Reject when the exit code is not 0 (default true). */
  check?: boolean;
}

export async function runMeasured(command: string, args: readonly string[], options: MeasureOptions = {}): Promise<Measured> {
  const started = process.hrtime.bigint();
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let peakKb = 0;
  let sampling = false;
  const sample = async (): Promise<void> => {
    if (sampling || child.pid === undefined) return;
    sampling = true;
    try {
      peakKb = Math.max(peakKb, await treeRssKb(child.pid));
    } finally {
      sampling = false;
    }
  };
  const timer = setInterval(() => void sample(), options.sampleMs ?? 50);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c));
  });
  clearInterval(timer);
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const result = { wallMs, peakRssMb: peakKb / 1024, stdout, stderr, code };
  if ((options.check ?? true) && code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${stderr.slice(-4000)}\n${stdout.slice(-2000)}`);
  }
  return result;
}

/** Sum of VmRSS (kB) of a process and its descendants; 0 once it is gone. */
async function treeRssKb(pid: number): Promise<number> {
  let total = 0;
  const seen = new Set<number>();
  const visit = async (p: number): Promise<void> => {
    if (seen.has(p)) return;
    seen.add(p);
    try {
      const status = await fs.readFile(`/proc/${p}/status`, 'utf8');
      const m = /VmRSS:\s+(\d+) kB/.exec(status);
      if (m) total += Number(m[1]);
      for (const tid of await fs.readdir(`/proc/${p}/task`)) {
        const children = await fs.readFile(`/proc/${p}/task/${tid}/children`, 'utf8').catch(() => '');
        for (const c of children.split(/\s+/).filter(Boolean)) await visit(Number(c));
      }
    } catch {
      // the process ended between two reads
    }
  };
  await visit(pid);
  return total;
}

/** Peak RSS of this process so far (VmHWM), in MB: what a child reports about itself at exit. */
export async function ownPeakRssMb(): Promise<number> {
  const status = await fs.readFile('/proc/self/status', 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : 0;
}

/** The last line of a child's stdout that parses as a JSON object (its report). */
export function lastJsonLine<T>(stdout: string): T {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    if (line.startsWith('{')) {
      try {
        return JSON.parse(line) as T;
      } catch {
        // not the report line
      }
    }
  }
  throw new Error(`No JSON report in the child's output:\n${stdout.slice(-2000)}`);
}
