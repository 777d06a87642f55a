/**
 * Where the pipeline reports what it does. Powertools structured JSON in Lambda
 * (`aws/powertools-log.ts`); a readable console with progress locally (`local/console-log.ts`).
 */
export interface Log {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** Progress of a long step (rows so far, bytes, elapsed); may be drawn in place on a terminal. */
  progress(step: string, fields: Record<string, unknown>): void;
  /** A numeric measurement (EMF metric in the cloud). */
  metric(name: string, value: number, unit: 'Count' | 'Milliseconds' | 'Seconds' | 'Bytes', dimensions?: Record<string, string>): void;
}

/** A log that drops everything (tests that assert on data, not on log lines). */
export const silentLog: Log = {
  info() {},
  warn() {},
  error() {},
  progress() {},
  metric() {},
};
