import type { Log } from '../core/ports/log';

/**
 * The local Log: readable lines with progress drawn in place on a terminal, and one JSON object
 * per line when stderr is not a terminal (CI, pipes), so machines can read it too.
 */
export class ConsoleLog implements Log {
  private progressShown = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly json = !stream.isTTY,
    private readonly verbose = false,
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
    const text = `  ${step}: ${formatFields(fields)}`;
    this.stream.write(`\r\x1b[2K${text.slice(0, (this.stream.columns ?? 120) - 1)}`);
    this.progressShown = true;
  }

  metric(name: string, value: number, unit: string, dimensions?: Record<string, string>): void {
    if (this.json && this.verbose) this.write({ level: 'metric', name, value, unit, ...dimensions });
  }

  private line(level: string, message: string, fields?: Record<string, unknown>): void {
    if (this.json) {
      this.write({ level, message, ...fields });
      return;
    }
    this.clearProgress();
    const prefix = level === 'info' ? '' : `${level.toUpperCase()}: `;
    this.stream.write(`${prefix}${message}${fields && Object.keys(fields).length ? `  (${formatFields(fields)})` : ''}\n`);
  }

  private clearProgress(): void {
    if (this.progressShown) this.stream.write('\r\x1b[2K');
    this.progressShown = false;
  }

  private write(record: Record<string, unknown>): void {
    this.stream.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
  }
}

function formatFields(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}
