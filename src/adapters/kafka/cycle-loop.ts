/**
 * The retrying loop of a Kafka role (the aggregator group, the writer, the clicks intake): a
 * cycle, then the wait its result asks for; after a failure, a backoff from 100 ms doubling to
 * 5 s. stop() cuts a wait short and resolves once the cycle under way has ended.
 */
export interface CycleLoopOptions {
  /** one cycle; returns how much it did */
  cycle: () => Promise<number>;
  /** ms to wait after a cycle that did `n` (0: go on at once) */
  waitAfter: (n: number) => number;
  ok: () => void;
  /** `failures`: how many cycles in a row have failed, this one included */
  failed: (err: unknown, failures: number) => void;
}

export class CycleLoop {
  private running = false;
  private done: Promise<void> | undefined;
  private cancelWait: (() => void) | undefined;

  constructor(private readonly o: CycleLoopOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.cancelWait?.();
    await this.done;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      let wait: number;
      try {
        const n = await this.o.cycle();
        failures = 0;
        this.o.ok();
        wait = this.o.waitAfter(n);
      } catch (err) {
        failures++;
        this.o.failed(err, failures);
        wait = Math.min(5_000, 100 * 2 ** Math.min(failures - 1, 6));
      }
      if (wait > 0 && this.running) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          this.cancelWait = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.cancelWait = undefined;
      }
    }
  }
}
