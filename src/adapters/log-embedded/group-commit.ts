interface Waiter<T> {
  item: T;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit: items submitted while a flush is in flight wait and go together into the
 * next flush, so one write + one fsync serves them all. Flushes run one at a time, in
 * submission order, and every item of a group resolves (in order) only after its flush.
 *
 * Fail-stop: after a failed flush the state on disk is unknown (a failed fsync may have
 * dropped dirty pages), so every waiting and later item is rejected until the owner has
 * repaired the file (cut it back to what was durable) and calls `reset()`.
 */
export class GroupCommitQueue<T> {
  private queue: Waiter<T>[] = [];
  private running: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;

  constructor(private readonly flush: (items: T[]) => Promise<void>) {}

  submit(item: T): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure.error);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.running ??= this.run();
    });
  }

  /** Resolves once everything submitted so far has been flushed (or rejected). */
  async drain(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** the error of the failed flush, while failed */
  get error(): unknown {
    return this.failure?.error;
  }

  /** Accepts items again after a failure, once the owner has repaired what the flush left. */
  reset(): void {
    if (this.running !== undefined) throw new Error('group commit: reset while a flush runs');
    this.failure = undefined;
  }

  private async run(): Promise<void> {
    // let the appends issued in the same tick join the first group
    await null;
    while (this.queue.length > 0) {
      const group = this.queue;
      this.queue = [];
      try {
        await this.flush(group.map((w) => w.item));
      } catch (error) {
        this.failure = { error };
        for (const w of [...group, ...this.queue]) w.reject(error);
        this.queue = [];
        break;
      }
      for (const w of group) w.resolve();
    }
    this.running = undefined;
  }
}
