/**
 * A consumer group member as its role sees it (the aggregators, the clicks intake), and its
 * repair: the consumer is replaced by a fresh one that joins again.
 *
 * The client rejoins by itself when a heartbeat says the group moved on, but not always:
 * - when that rejoin fails (its few retries spent while the broker is away or the coordinator
 *   still loads) it emits 'error', which with no listener ends the process (or makes close()
 *   throw), and it no longer heartbeats;
 * - its heartbeat stopped for good after any non-group heartbeat error (@platformatic/kafka
 *   1.35, patched in patches/), and after a broker killed with SIGKILL a member was seen
 *   never to heartbeat successfully again, cycling with a dead generation, every transaction
 *   refused (ILLEGAL_GENERATION).
 * So no successful heartbeat (nor join) for longer than the session and rebalance timeouts
 * together, or a failed rejoin, and `beforeCycle` replaces the consumer, with a log line saying
 * why; a failed join fails the cycle, which the role's loop retries with backoff.
 */
import { Base, Consumer, FetchIsolationLevels } from '@platformatic/kafka';
import { transactionalRetryDelay } from './retry.js';

/**
 * Leaves the group and closes the consumer; when the leave fails (a broker away, a member it
 * no longer knows) the client stays open, its sockets holding the process: its connections are
 * closed all the same.
 */
export async function closeConsumer(c: Consumer): Promise<void> {
  const failed = await new Promise<unknown>((resolve) => c.close(true, (e) => resolve(e)));
  if (failed === null || failed === undefined) return;
  const baseClose = Base.prototype.close as (this: unknown, cb: () => void) => void;
  await new Promise<void>((resolve) => baseClose.call(c, () => resolve()));
}

export interface MembershipLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface GroupMembershipOptions {
  role: string;
  logger: MembershipLogger;
  /** a new consumer of the group (not joined) */
  create: () => Consumer;
  /** joins the group with the role's timing */
  join: (c: Consumer) => Promise<unknown>;
  /** how long a member may go without a successful heartbeat or join */
  silenceLimitMs: number;
}

/** the group timing as the client names it (ms) */
export interface MemberTiming {
  sessionTimeout: number;
  heartbeatInterval: number;
  rebalanceTimeout: number;
}

/**
 * The membership of a transactional role (aggregators, clicks intake): a read_committed member
 * without autocommit (offsets go with the role's transaction), tracking `topic`, joined with
 * `timing`, silent for at most the session and rebalance timeouts together.
 */
export function transactionalMember(o: {
  role: string;
  logger: MembershipLogger;
  brokers: string[];
  groupId: string;
  clientId: string;
  topic: string;
  timing: MemberTiming;
}): Promise<GroupMembership> {
  return GroupMembership.open({
    role: o.role,
    logger: o.logger,
    create: () => {
      const c = new Consumer({
        clientId: o.clientId,
        groupId: o.groupId,
        bootstrapBrokers: o.brokers,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        autocommit: false,
        ...o.timing,
        retryDelay: transactionalRetryDelay,
      });
      c.topics.track(o.topic);
      return c;
    },
    join: (c) => c.joinGroup(o.timing),
    silenceLimitMs: o.timing.sessionTimeout + o.timing.rebalanceTimeout,
  });
}

export class GroupMembership {
  private current: Consumer;
  /** why the next cycle must replace the consumer */
  private lost: string | undefined;
  private lastAlive = Date.now();
  private heartbeatFailing = false;
  private closing = false;

  private constructor(
    consumer: Consumer,
    private readonly o: GroupMembershipOptions,
  ) {
    this.current = consumer;
    this.watch(consumer);
  }

  /** A new consumer, joined. */
  static async open(o: GroupMembershipOptions): Promise<GroupMembership> {
    const c = o.create();
    try {
      await o.join(c);
    } catch (e) {
      await closeConsumer(c);
      throw e;
    }
    return new GroupMembership(c, o);
  }

  get consumer(): Consumer {
    return this.current;
  }

  private watch(c: Consumer): void {
    const o = this.o;
    const mine = () => c === this.current && !this.closing;
    c.on('error', (err: unknown) => {
      if (!mine()) return;
      this.lost ??= 'the client gave up rejoining the group';
      o.logger.warn({ err }, `${o.role}: ${this.lost}`);
    });
    c.on('consumer:heartbeat:error', (p: { error?: unknown } | undefined) => {
      if (!mine() || this.heartbeatFailing) return;
      this.heartbeatFailing = true;
      o.logger.warn({ err: p?.error }, `${o.role}: group heartbeat failing`);
    });
    c.on('consumer:heartbeat:end', () => {
      if (!mine()) return;
      this.lastAlive = Date.now();
      if (!this.heartbeatFailing) return;
      this.heartbeatFailing = false;
      o.logger.info({}, `${o.role}: group heartbeat back`);
    });
    c.on('consumer:group:join', () => {
      if (mine()) this.lastAlive = Date.now();
    });
  }

  /** Before a cycle: a fresh consumer joins when this one was lost or went silent. */
  async beforeCycle(now = Date.now()): Promise<void> {
    const silent = now - this.lastAlive;
    if (this.lost === undefined && silent > this.o.silenceLimitMs) {
      this.lost = `no successful group heartbeat for ${silent} ms`;
      this.o.logger.warn({}, `${this.o.role}: ${this.lost}`);
    }
    if (this.lost === undefined) return;
    const why = this.lost;
    const old = this.current;
    // the old one's leave may wait on a broker that is away: not for long
    await Promise.race([closeConsumer(old), new Promise((r) => setTimeout(r, 2_000))]);
    const c = this.o.create();
    this.current = c;
    this.watch(c);
    this.heartbeatFailing = false;
    try {
      await this.o.join(c);
    } catch (e) {
      // tried again with another fresh one next cycle
      this.o.logger.warn({ err: e, why }, `${this.o.role}: joining the group again failed`);
      throw e;
    }
    this.lost = undefined;
    this.lastAlive = Date.now();
    this.o.logger.info(
      { why, generationId: c.generationId, memberId: c.memberId },
      `${this.o.role}: a fresh consumer joined the group`,
    );
  }

  /** Leaves the group and closes the consumer. */
  async close(): Promise<void> {
    this.closing = true;
    await closeConsumer(this.current);
  }
}
