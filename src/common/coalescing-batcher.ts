/** What `run` gives an item that failed on its own, while the rest of its batch went through. */
export class ItemFailure {
  constructor(readonly error: unknown) {}
}

/**
 * Runs the items of concurrent callers together: while one run is in flight the next items
 * gather, and go in one run (one round trip) as soon as it returns. A lone item runs at once, so
 * this adds no delay when the bridge is quiet, and batches grow by themselves under load.
 */
export class CoalescingBatcher<T, R> {
  private pending: Array<{ item: T; resolve: (result: R) => void; reject: (error: unknown) => void }> = [];
  private running = false;

  /** `run` answers one result per item, in order; throwing fails the whole batch. */
  constructor(
    private readonly run: (items: T[]) => Promise<Array<R | ItemFailure>>,
    private readonly maxBatch = 500,
  ) {}

  push(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.pending.length) {
      const batch = this.pending.splice(0, this.maxBatch);
      try {
        const results = await this.run(batch.map((entry) => entry.item));
        batch.forEach((entry, i) => {
          const result = results[i];
          if (result instanceof ItemFailure) entry.reject(result.error);
          else entry.resolve(result);
        });
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    this.running = false;
  }
}
