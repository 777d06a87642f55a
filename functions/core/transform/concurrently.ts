/**
 * Independent engine statements of a batch, sent together (issue 14: few Athena round trips). On
 * Athena each statement waits one to two seconds however small, so statements that do not read
 * each other's outputs run at once: the batch waits for the longest chain, not the sum
 * (transform/query-tally.ts counts both). At most {@link ENGINE_CONCURRENCY} are in flight: the
 * chains sent together here, and the statements themselves at the one place every statement of a
 * batch passes (query-tally.ts `countQueries`), since a chain may send two at once (a small
 * dimension and its change set). DuckDB runs them at once too, each on a connection of its own to
 * its one instance (engines/duckdb/client.ts).
 */

/**
 * Statements of one batch in flight at once, at most. Ten: a five-minute batch sends ten together in
 * its first wave (the input check, four current-state deltas, `dim_date`'s count, three fact
 * partitions and `dim_transaction`'s change set: transform.ts stageFacts, stageByKeyChanges), and a
 * bound below that sends one of them a level later, a second or more on Athena; a batch in which two
 * small dimensions changed (an address edit) sends four more in its star wave (each dimension and its
 * change set: BENCHMARKS.md, "Small dimensions changed: a level fewer"). Within an account's
 * quota of active Athena DML queries (running and queued, shared with every other user; AWS's
 * example is 25), beyond which Athena answers TooManyRequestsException (retried:
 * engines/athena/client.ts).
 */
export const ENGINE_CONCURRENCY = 10;

/**
 * Runs `work` for every item, at most `limit` at once, and returns the results in the items'
 * order. It waits for every item before throwing the first failure (in the items' order), so
 * nothing is still running, or writing, when the caller reports it.
 */
export async function concurrently<T, R>(items: readonly T[], work: (item: T, index: number) => Promise<R>, limit = ENGINE_CONCURRENCY): Promise<R[]> {
  const settled: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      try {
        settled[index] = { status: 'fulfilled', value: await work(items[index], index) };
      } catch (reason) {
        settled[index] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}
