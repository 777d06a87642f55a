/**
 * Small helpers the bench scripts share (test/bench/*.ts): a server URL pointed at another
 * database, one statement on a connection of its own, medians and rotation of interleaved runs.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';

/** `url` with its database replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Runs one statement on a connection of its own (named `application`), then closes it. */
export async function sqlOnce(url: string, text: string, application = 'totes-bench'): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url, application_name: application });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** `xs` rotated left by `k`: interleaved alternatives start with a different one each repeat. */
export const rotate = <T>(xs: readonly T[], k: number): T[] => xs.map((_, i) => xs[(i + k) % xs.length]);

/** `x` with `d` decimals, '–' when not finite. */
export const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '–');

/** A connection to `url`, named `application` in pg_stat_activity. */
export async function connectAs(url: string, application: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, application_name: application });
  await c.connect();
  return c;
}

/** CPU seconds (user + system) a process, or one of its threads, has used so far; NaN once it is gone. */
export function procCpuSeconds(pid: number, thread?: number): number {
  try {
    const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, clock ticks (100/s)
  } catch {
    return NaN;
  }
}
