/**
 * A consumer group member's membership as its role sees it (the aggregators, the clicks
 * intake), and its repair.
 *
 * The client rejoins by itself when a heartbeat says the group moved on, but when that rejoin
 * fails (its few retries spent while the broker is away or the coordinator still loads) it
 * emits 'error', which with no listener ends the process, and no longer heartbeats: the
 * member would go on cycling with a dead generation, every transaction refused. Its heartbeat
 * can also stop for good on its own (@platformatic/kafka 1.35 after any non-group heartbeat
 * error, patched in patches/; the watchdog is there should an install lack the patch).
 * Either way `beforeCycle` joins again, with a log line saying why; a failed join fails the
 * cycle, which the role's loop retries with backoff.
 */
import type { Consumer } from '@platformatic/kafka';

export interface MembershipLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export class GroupMembership {
  /** why the next cycle must join again */
  private lost: string | undefined;
  /** since when the member has been without a running heartbeat */
  private inactiveSince: number | undefined;
  private heartbeatFailing = false;
  private closing = false;

  constructor(
    private readonly consumer: Consumer,
    private readonly o: {
      role: string;
      logger: MembershipLogger;
      join: () => Promise<unknown>;
      /** how long a member may be without a running heartbeat (a join under way) */
      inactiveLimitMs: number;
    },
  ) {
    consumer.on('error', (err: unknown) => {
      if (this.closing) return;
      this.lost = 'the client gave up rejoining the group';
      o.logger.warn({ err }, `${o.role}: ${this.lost}; joining again`);
    });
    consumer.on('consumer:heartbeat:error', (p: { error?: unknown } | undefined) => {
      if (this.heartbeatFailing || this.closing) return;
      this.heartbeatFailing = true;
      o.logger.warn({ err: p?.error }, `${o.role}: group heartbeat failing`);
    });
    consumer.on('consumer:heartbeat:end', () => {
      if (!this.heartbeatFailing) return;
      this.heartbeatFailing = false;
      o.logger.info({}, `${o.role}: group heartbeat back`);
    });
  }

  /** Before a cycle: joins again when the membership was lost or stopped heartbeating. */
  async beforeCycle(now = Date.now()): Promise<void> {
    if (this.consumer.isActive()) this.inactiveSince = undefined;
    else this.inactiveSince ??= now;
    if (
      this.lost === undefined &&
      this.inactiveSince !== undefined &&
      now - this.inactiveSince > this.o.inactiveLimitMs
    ) {
      this.lost = `no group heartbeat for ${now - this.inactiveSince} ms`;
      this.o.logger.warn({}, `${this.o.role}: ${this.lost}; joining again`);
    }
    if (this.lost === undefined) return;
    const why = this.lost;
    await this.o.join();
    this.lost = undefined;
    this.inactiveSince = undefined;
    this.o.logger.info(
      { why, generationId: this.consumer.generationId },
      `${this.o.role}: joined the group again`,
    );
  }

  /** closing: the client's errors from here on are the shutdown's */
  close(): void {
    this.closing = true;
  }
}
