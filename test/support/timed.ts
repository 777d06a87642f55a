/** Named wall-clock timings for a test file's report: `timed('trino start', () => startTrino())`. */
export function stopwatch(): { timings: Record<string, number>; timed<T>(label: string, work: () => Promise<T>): Promise<T> } {
  const timings: Record<string, number> = {};
  return {
    timings,
    async timed<T>(label: string, work: () => Promise<T>): Promise<T> {
      const started = Date.now();
      try {
        return await work();
      } finally {
        timings[label] = Date.now() - started;
      }
    },
  };
}
