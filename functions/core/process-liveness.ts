/**
 * Whether a process with this pid exists on this machine. Used to take over what a dead process
 * held: an embedded database's lock file, a transform lease written from this host.
 * EPERM means it exists but belongs to another user: alive.
 */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
