/**
 * The source is totesys, read-only to us: a PostgreSQL connection string.
 *
 * In the cloud it comes from Secrets Manager (`aws/secrets-locator.ts`); locally it is any URL, or an
 * embedded PGlite database served on a local socket (`local/embedded-postgres.ts`). The pipeline
 * talks to it with `pg`, one connection per run.
 */
export interface DatabaseLocator {
  /** A `postgres://` URL the pipeline can connect to. */
  url(): Promise<string>;
  /** Stops whatever `url()` started (the embedded server); a no-op for a plain URL. */
  close(): Promise<void>;
  /** For messages: never contains a password. */
  readonly description: string;
}
