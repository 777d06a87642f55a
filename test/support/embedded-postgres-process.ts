/**
 * Runs `startEmbeddedPostgres` in a process of its own, for tests.
 *
 * Jest runs test code in a VM context where PGlite's dynamic `import()` of Node modules fails
 * (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING_FLAG) unless node has --experimental-vm-modules; a child
 * process sidesteps that, and keeps PGlite's WebAssembly work off the test's event loop.
 *
 * Protocol: prints one JSON line `{"url": …, "description": …}` once serving; closes the database
 * (flushing the data directory) and exits 0 when its stdin ends or it receives SIGTERM.
 *
 *   tsx test/support/embedded-postgres-process.ts <dataDir|memory://> <label>
 */
import { startEmbeddedPostgres } from '../../functions/local/embedded-postgres';

async function main(): Promise<void> {
  const [dataDir, label = 'test'] = process.argv.slice(2);
  if (!dataDir) throw new Error('usage: embedded-postgres-process.ts <dataDir|memory://> <label>');
  const db = await startEmbeddedPostgres(dataDir, label);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= db.close().then(
      () => process.exit(0),
      (error: Error) => {
        process.stderr.write(`closing ${db.description} failed: ${error.message}\n`);
        process.exit(1);
      },
    ));
  process.on('SIGTERM', () => void stop());
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ url: await db.url(), description: db.description })}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
