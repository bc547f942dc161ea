/**
 * A background job that runs `run` every `intervalMs` until stopped: the next run is timed from
 * the end of the last one (runs never overlap), a failure goes to `onError` and the job goes on
 * at the next interval, and the timer does not hold the process open.
 */
export class Periodic {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly o: {
      run: () => Promise<unknown>;
      onError: (err: unknown) => void;
      /** the run in flight (one started by the timer or by a caller), awaited by stop() */
      inFlight: () => Promise<unknown> | undefined;
    },
  ) {}

  start(intervalMs: number): void {
    if (this.timer !== undefined || this.stopped) return;
    const tick = () => {
      this.timer = setTimeout(() => {
        this.o
          .run()
          .catch(this.o.onError)
          .finally(() => {
            if (!this.stopped) tick();
          });
      }, intervalMs);
      this.timer.unref();
    };
    tick();
  }

  /** Stops the timer and waits for a run in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.o.inFlight()?.catch(() => undefined);
  }
}
