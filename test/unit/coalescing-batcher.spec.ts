import { CoalescingBatcher, ItemFailure } from '../../src/common/coalescing-batcher';

describe('CoalescingBatcher', () => {
  it('runs a lone item at once, and gathers the items pushed while a run is in flight', async () => {
    const runs: number[][] = [];
    let release = () => {};
    const batcher = new CoalescingBatcher<number, number>(async (items) => {
      runs.push(items);
      if (runs.length === 1) await new Promise<void>((resolve) => (release = resolve));
      return items.map((n) => n * 10);
    });
    const first = batcher.push(1);
    const rest = [batcher.push(2), batcher.push(3), batcher.push(4)];
    expect(runs).toEqual([[1]]);
    release();
    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30, 40]);
    expect(runs).toEqual([[1], [2, 3, 4]]);
  });

  it('fails only the items `run` marks failed, and the whole batch when it throws', async () => {
    let throwAll = false;
    const batcher = new CoalescingBatcher<number, number>(async (items) => {
      if (throwAll) throw new Error('down');
      return items.map((n) => (n < 0 ? new ItemFailure(new Error(`bad ${n}`)) : n));
    });
    const outcomes = await Promise.allSettled([batcher.push(1), batcher.push(-2), batcher.push(3)]);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual([1, 'bad -2', 3]);
    throwAll = true;
    await expect(Promise.all([batcher.push(4), batcher.push(5)])).rejects.toThrow('down');
    throwAll = false;
    expect(await batcher.push(6)).toBe(6);
  });

  it('splits what gathered into runs of at most maxBatch items', async () => {
    const sizes: number[] = [];
    const batcher = new CoalescingBatcher<number, null>(async (items) => {
      sizes.push(items.length);
      await new Promise((resolve) => setImmediate(resolve));
      return items.map(() => null);
    }, 3);
    await Promise.all(Array.from({ length: 8 }, (_, i) => batcher.push(i)));
    expect(sizes).toEqual([1, 3, 3, 1]);
  });
});
