/**
 * Group commit for appends that stand alone (audit rows of reads): callers
 * queue a row and wait until it is committed; while one statement is in
 * flight, rows that arrive meanwhile wait and go together in the next one.
 * One caller alone is written at once (no timer, no added latency); many
 * concurrent callers cost one statement per round trip instead of one each,
 * and nobody is answered before their row is durable.
 *
 * Hand-written: batching libraries (dataloader and the like) batch per tick
 * or per time window; this batches per round trip, which is what bounds the
 * statements without delaying a lone request.
 */
export class GroupWriter<T> {
  private queue: { item: T; resolve(): void; reject(err: unknown): void }[] = [];
  private flushing = false;

  constructor(
    private readonly writeMany: (items: T[]) => Promise<unknown>,
    private readonly maxBatch = 1000,
  ) {}

  write(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        // Let the callers of this tick join the first statement.
        queueMicrotask(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        await this.writeMany(batch.map((b) => b.item));
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.flushing = false;
  }
}
