import type { Log } from '../core/ports/log';

/**
 * The local Log: readable lines with progress drawn in place on a terminal, and one JSON object
 * per line when stderr is not a terminal (CI, pipes), so machines can read it too.
 *
 * Progress on a terminal is one status line, redrawn where it stands (`\r` + erase line), e.g.
 *   ⠹ extract  sales_order  7,000 rows  1.1 MB  3.2 s
 *   ⠸ transform  #2  [9/11] fact_sales_order  0.8 s
 * and erased before the next ordinary line, so logs never interleave with it. Redraws are
 * throttled (a fast loop must not spend its time writing to the terminal). Without a terminal,
 * progress is quiet: one JSON record per update with --verbose, nothing otherwise.
 */
export class ConsoleLog implements Log {
  private progressShown = false;
  private lastDraw = 0;
  private lastKey = '';
  private frame = 0;
  private readonly started = Date.now();

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly json = !stream.isTTY,
    private readonly verbose = false,
    /** Minimum milliseconds between two redraws of the same step (a new table or file always draws). */
    private readonly throttleMs = 80,
  ) {}

  info(message: string, fields?: Record<string, unknown>): void {
    this.line('info', message, fields);
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.line('warn', message, fields);
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.line('error', message, fields);
  }

  progress(step: string, fields: Record<string, unknown>): void {
    if (this.json) {
      if (this.verbose) this.write({ level: 'progress', step, ...fields });
      return;
    }
    const key = `${step}/${String(fields.table ?? fields.step ?? '')}/${String(fields.file ?? '')}`;
    const now = Date.now();
    if (key === this.lastKey && now - this.lastDraw < this.throttleMs) return;
    this.lastKey = key;
    this.lastDraw = now;
    const spinner = SPINNER[this.frame++ % SPINNER.length];
    const text = `${spinner} ${renderProgress(step, fields)}`;
    this.stream.write(`\r\x1b[2K\x1b[36m${text.slice(0, (this.stream.columns ?? 120) - 1)}\x1b[0m`);
    this.progressShown = true;
  }

  metric(name: string, value: number, unit: string, dimensions?: Record<string, string>): void {
    if (this.json && this.verbose) this.write({ level: 'metric', name, value, unit, ...dimensions });
  }

  /** Erases a progress line still on screen (call before writing to stdout after a long step). */
  clearProgress(): void {
    if (this.progressShown) this.stream.write('\r\x1b[2K');
    this.progressShown = false;
  }

  private line(level: string, message: string, fields?: Record<string, unknown>): void {
    if (this.json) {
      this.write({ level, message, ...fields });
      return;
    }
    this.clearProgress();
    const elapsed = `\x1b[2m${((Date.now() - this.started) / 1000).toFixed(1).padStart(6)}s\x1b[0m `;
    const prefix = level === 'info' ? '' : level === 'warn' ? '\x1b[33mWARN\x1b[0m ' : '\x1b[31mERROR\x1b[0m ';
    const detail = fields && Object.keys(fields).length ? `  \x1b[2m(${formatFields(fields)})\x1b[0m` : '';
    this.stream.write(`${elapsed}${prefix}${message}${detail}\n`);
  }

  private write(record: Record<string, unknown>): void {
    this.stream.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
  }
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** One progress update as a short line: the step, what it is working on, then counts in human units. */
export function renderProgress(step: string, fields: Record<string, unknown>): string {
  const rest = { ...fields };
  const take = (k: string): unknown => {
    const v = rest[k];
    delete rest[k];
    return v;
  };
  const parts: string[] = [step.padEnd(9)];
  const batchId = take('batchId');
  if (typeof batchId === 'string') parts.push(`#${Number(batchId.slice(0, 10)) || batchId}`);
  const file = take('file');
  const of = take('of');
  if (typeof file === 'number' && typeof of === 'number') parts.push(`[${file}/${of}]`);
  for (const k of ['table', 'step']) {
    const v = take(k);
    if (v !== undefined) parts.push(String(v).padEnd(20));
  }
  const rows = take('rows');
  if (typeof rows === 'number') parts.push(`${rows.toLocaleString('en-GB').padStart(9)} rows`);
  const bytes = take('bytes');
  if (typeof bytes === 'number') parts.push(humanBytes(bytes).padStart(8));
  const files = take('files');
  if (typeof files === 'number') parts.push(`${files} file${files === 1 ? '' : 's'}`);
  const elapsed = take('elapsedMs');
  if (typeof elapsed === 'number') parts.push(`${(elapsed / 1000).toFixed(1)} s`);
  if (Object.keys(rest).length) parts.push(formatFields(rest));
  return parts.join('  ');
}

export function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function formatFields(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}
