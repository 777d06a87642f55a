/**
 * Retries an AWS call that failed for a reason worth waiting out (throttling, a transient service
 * error), with exponential backoff and full jitter.
 *
 * The SDK clients already retry each HTTP request (see {@link AWS_CLIENT_RETRY}); this is for the
 * longer waits the SDK's few quick attempts do not cover: Athena's concurrent-query limit
 * (TooManyRequestsException) and whole queries that fail with a retryable error.
 */
export interface BackoffOptions {
  /** Total attempts, the first included. */
  attempts: number;
  /** Delay before the second attempt; doubled each time up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Injectable for tests (no real waiting). */
  sleep?: (ms: number) => Promise<void>;
  /** Called before each wait, for logging. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** SDK client retry settings shared by every AWS adapter: adaptive mode backs off under throttling. */
export const AWS_CLIENT_RETRY = { maxAttempts: 5, retryMode: 'adaptive' } as const;

/** The delay before attempt `attempt + 1` (1-based `attempt`): exponential, capped, with full jitter. */
export function backoffDelay(attempt: number, options: Pick<BackoffOptions, 'baseDelayMs' | 'maxDelayMs'>, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export async function retryWithBackoff<T>(fn: (attempt: number) => Promise<T>, isRetryable: (err: unknown) => boolean, options: BackoffOptions): Promise<T> {
  const wait = options.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= options.attempts || !isRetryable(err)) throw err;
      const delay = backoffDelay(attempt, options);
      options.onRetry?.(err, attempt, delay);
      await wait(delay);
    }
  }
}

/** The error name (SDK v3 sets `name` to the service's error code). */
export function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

/** HTTP status of an SDK error, when the service answered. */
export function httpStatus(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata;
  return meta?.httpStatusCode;
}
