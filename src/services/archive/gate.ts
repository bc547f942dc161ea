/**
 * Readers of the log's tail (raw queries, reconcile) against retention, which deletes
 * segments: a reader plans its tail from the archive's progress and then reads it, so
 * segments must not vanish between the two. Readers share the gate; a deletion waits for the
 * readers in flight and holds new ones back until it is done. In-process only: other
 * processes never read a log they do not own.
 */
export class TailGate {
  private readers = 0;
  private drained: (() => void) | undefined;
  private deleting: Promise<void> | undefined;

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.deleting !== undefined) await this.deleting;
    this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      if (this.readers === 0) this.drained?.();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.deleting !== undefined) await this.deleting;
    let done!: () => void;
    this.deleting = new Promise<void>((resolve) => (done = resolve));
    try {
      if (this.readers > 0) {
        await new Promise<void>((resolve) => (this.drained = resolve));
        this.drained = undefined;
      }
      return await fn();
    } finally {
      this.deleting = undefined;
      done();
    }
  }
}
