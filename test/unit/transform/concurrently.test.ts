import { concurrently } from '../../../functions/core/transform/concurrently';

/** Independent statements sent together (functions/core/transform/concurrently.ts). */

const tick = () => new Promise((r) => setImmediate(r));

describe('concurrently', () => {
  it('runs at most `limit` at once and returns results in the items’ order', async () => {
    let running = 0;
    let most = 0;
    const results = await concurrently([5, 1, 4, 2, 3, 0], async (n) => {
      running++;
      most = Math.max(most, running);
      for (let i = 0; i < n; i++) await tick();
      running--;
      return n * 10;
    }, 3);
    expect(results).toEqual([50, 10, 40, 20, 30, 0]);
    expect(most).toBe(3);
  });

  it('waits for every item before throwing the first failure, so nothing is left running', async () => {
    const finished: number[] = [];
    const run = concurrently([0, 1, 2], async (n) => {
      if (n === 0) throw new Error('first failed');
      for (let i = 0; i < 5; i++) await tick();
      finished.push(n);
      return n;
    });
    await expect(run).rejects.toThrow('first failed');
    expect(finished.sort()).toEqual([1, 2]);
  });

  it('takes no time for no items', async () => {
    expect(await concurrently([], async () => 1)).toEqual([]);
  });
});
