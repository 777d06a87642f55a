import { readAhead } from '../../../functions/core/load/load';

/** A source that records when each item is produced and whether it was ended. */
function source(items: number, failAt?: number): { gen: AsyncGenerator<number>; produced: number[]; ended: () => boolean } {
  const produced: number[] = [];
  let finished = false;
  const gen = (async function* () {
    try {
      for (let i = 0; i < items; i++) {
        await new Promise((r) => setImmediate(r));
        if (i === failAt) throw new Error(`item ${i} failed`);
        produced.push(i);
        yield i;
      }
    } finally {
      finished = true;
    }
  })();
  return { gen, produced, ended: () => finished };
}

describe('readAhead', () => {
  it('yields every item in order while requesting up to `depth` ahead of the consumer', async () => {
    const s = source(10);
    const seen: number[] = [];
    for await (const item of readAhead(s.gen, 2)) {
      seen.push(item);
      // While the consumer holds item i, the items up to i + 2 are produced (or the source is done):
      // waited for, not timed, since a busy machine may take longer than any fixed pause. Without the
      // read-ahead nothing asks the source for them, and the wait ends with the count still short.
      const wanted = Math.min(10, item + 3);
      for (const deadline = Date.now() + 2_000; s.produced.length < wanted && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 1));
      expect(s.produced.length).toBeGreaterThanOrEqual(wanted);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(s.ended()).toBe(true);
  });

  it('with depth 0 requests one item at a time, as a plain loop does', async () => {
    const s = source(5);
    const seen: number[] = [];
    for await (const item of readAhead(s.gen, 0)) {
      await new Promise((r) => setTimeout(r, 2));
      expect(s.produced.length).toBe(item + 1);
      seen.push(item);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it('surfaces a failure when the consumer reaches it, after the items before it', async () => {
    const s = source(10, 4);
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const item of readAhead(s.gen, 3)) seen.push(item);
      })(),
    ).rejects.toThrow('item 4 failed');
    expect(seen).toEqual([0, 1, 2, 3]);
  });

  it('ends the source when the consumer stops early', async () => {
    const s = source(100);
    for await (const item of readAhead(s.gen, 2)) if (item === 3) break;
    expect(s.ended()).toBe(true);
    expect(s.produced.length).toBeLessThanOrEqual(7);
  });
});
