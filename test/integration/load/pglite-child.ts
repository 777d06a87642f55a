/**
 * Serves an in-memory PGlite on a local socket from a child process, for the load tests: jest's
 * module sandbox cannot run PGlite in-process without --experimental-vm-modules (PGlite loads its
 * WebAssembly with a dynamic import). Prints `{"url": …}` on stdout once listening; stops when its
 * stdin closes (the parent exited or closed it).
 */
import { IN_MEMORY, startEmbeddedPostgres } from '../../../functions/local/embedded-postgres';

async function main(): Promise<void> {
  const pgl = await startEmbeddedPostgres(IN_MEMORY, 'load test warehouse');
  process.stdout.write(`${JSON.stringify({ url: await pgl.url() })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    void pgl.close().finally(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
