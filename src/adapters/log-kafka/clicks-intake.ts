/**
 * The ingest role's intake from `<ns>.clicks.in` (SPEC §5, the book's map nodes): JSON clicks
 * written by any Kafka producer are validated, the valid ones produced to `<ns>.clicks` keyed by
 * ad_id, the invalid ones to `<ns>.deadletters` with their Kafka coordinates, exactly once.
 *
 * - The processes form the consumer group `<ns>.ingest` on `<ns>.clicks.in`; each holds some
 *   partitions and reads them by fetching (read_committed) from the group's committed offsets.
 * - A cycle is ONE Kafka transaction: the clicks, the dead letters, and the consumed offsets
 *   committed with the group's generation and member id (KIP-447), so a member that lost a
 *   partition in a rebalance cannot commit for it, and a crash at any point leaves either all
 *   of a cycle or none of it. A failed cycle aborts; positions are read again from the group.
 * - The transactional producer is initialised (producer id −1, epoch −1: a fresh instance)
 *   BEFORE the member joins: an InitProducerId during a rebalance held a whole rebalance
 *   timeout in trials. Its transactional id is unique per process; a dead member's open
 *   transaction is aborted by the broker after the producer's transaction timeout.
 */
import { randomUUID } from 'node:crypto';
import { Admin, Consumer, ListOffsetTimestamps, Producer, type Message } from '@platformatic/kafka';
import type { IntakeMessage, IntakeTransform } from '../../ports/clicks-intake.js';
import { encodeLetter } from '../deadletters-file/letter-codec.js';
import { fetchPartition } from '../kafka/fetch-partition.js';
import { CycleLoop } from '../kafka/cycle-loop.js';
import type { GroupMembership } from '../kafka/membership.js';
import { transactionalMember } from '../kafka/membership.js';
import { forceCloseQuietly, kafkaErrorIds, transactionalRetryDelay } from '../kafka/retry.js';
import { adIdKey } from './kafka-log.js';

export interface IntakeLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface IntakeHealth {
  ok(component: 'intake'): void;
  fail(component: 'intake', err: unknown): void;
}

export interface ClicksIntakeOptions {
  brokers: string[];
  /** `<ns>.clicks.in` */
  inTopic: string;
  /** `<ns>.clicks` */
  clicksTopic: string;
  /** `<ns>.deadletters` (one partition) */
  deadLettersTopic: string;
  /** `<ns>.ingest` */
  groupId: string;
  /** `<ns>.ingest`: each process adds a unique suffix */
  transactionalIdPrefix: string;
  transform: IntakeTransform;
  logger: IntakeLogger;
  health?: IntakeHealth;
  /** wait between cycles that found nothing, ms (default 100) */
  pollIntervalMs?: number;
  /** bytes one cycle fetches per partition (default 1 MiB) */
  maxPartitionBytes?: number;
  /** the group's session timeout (default 6 000: the broker's minimum) and heartbeat */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function groupTiming(o: ClicksIntakeOptions) {
  return {
    sessionTimeout: o.sessionTimeoutMs ?? 6_000,
    heartbeatInterval: o.heartbeatIntervalMs ?? 500,
    rebalanceTimeout: o.rebalanceTimeoutMs ?? 6_000,
  };
}

export class ClicksIntake {
  private producer: Producer;
  /** next offset to read per held partition, in the current generation */
  private readonly positions = new Map<number, number>();
  private generation = -1;
  private readonly loop: CycleLoop;
  private readonly totals = { cycles: 0, messages: 0, clicks: 0, letters: 0, aborted: 0 };

  private constructor(
    private readonly o: ClicksIntakeOptions,
    producer: Producer,
    private readonly membership: GroupMembership,
    private readonly admin: Admin,
    private readonly reader: Consumer,
  ) {
    this.producer = producer;
    this.loop = new CycleLoop({
      cycle: () => this.cycle(),
      waitAfter: (n) => (n > 0 ? 0 : (this.o.pollIntervalMs ?? 100)),
      ok: () => this.o.health?.ok('intake'),
      failed: (err, failures) => {
        this.o.health?.fail('intake', err);
        if (failures === 1) this.o.logger.warn({ err }, 'clicks intake: cycle failed; retrying');
      },
    });
  }

  private static async newProducer(o: ClicksIntakeOptions): Promise<Producer> {
    const id = `${o.transactionalIdPrefix}.${randomUUID()}`;
    const producer = new Producer({
      clientId: id,
      bootstrapBrokers: o.brokers,
      idempotent: true,
      transactionalId: id,
      acks: -1,
      retryDelay: transactionalRetryDelay,
    });
    try {
      // InitProducerId now, as a fresh instance; cancel() ends the empty transaction locally
      const t = await producer.beginTransaction({ producerId: -1n, producerEpoch: -1 });
      await t.cancel();
    } catch (e) {
      await forceCloseQuietly(producer);
      throw e;
    }
    return producer;
  }

  /** Initialises the transactional producer, then joins the group. */
  static async open(o: ClicksIntakeOptions): Promise<ClicksIntake> {
    const producer = await ClicksIntake.newProducer(o);
    const timing = groupTiming(o);
    const admin = new Admin({
      clientId: `${o.transactionalIdPrefix}-admin`,
      bootstrapBrokers: o.brokers,
      retries: 10,
      retryDelay: transactionalRetryDelay,
    });
    const reader = new Consumer({
      clientId: `${o.transactionalIdPrefix}-reader`,
      groupId: `${o.groupId}-reader-unused`, // manual-assignment fetches only
      bootstrapBrokers: o.brokers,
      retryDelay: transactionalRetryDelay,
    });
    let membership: GroupMembership;
    try {
      membership = await transactionalMember({
        role: 'clicks intake',
        logger: o.logger,
        brokers: o.brokers,
        groupId: o.groupId,
        clientId: `${o.transactionalIdPrefix}-member`,
        topic: o.inTopic,
        timing,
      });
    } catch (e) {
      for (const c of [reader, producer]) await forceCloseQuietly(c);
      await admin.close().catch(() => undefined);
      throw e;
    }
    return new ClicksIntake(o, producer, membership, admin, reader);
  }

  get counters() {
    return { ...this.totals };
  }

  /** the `<ns>.clicks.in` partitions this member holds in the current generation */
  assignedPartitions(): number[] {
    const mine = (this.membership.consumer.assignments ?? []).find(
      (a) => a.topic === this.o.inTopic,
    );
    return [...(mine?.partitions ?? [])].sort((a, b) => a - b);
  }

  /** The group's committed offset (read as stable: pending transactions decided), or the start. */
  private async startingOffset(p: number): Promise<number> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const res = await this.admin.listConsumerGroupOffsets({
          groups: [
            { groupId: this.o.groupId, topics: [{ name: this.o.inTopic, partitionIndexes: [p] }] },
          ],
          requireStable: true,
        });
        const off = res[0]?.topics[0]?.partitions.find((x) => x.partitionIndex === p);
        const v = off === undefined ? -1 : Number(off.committedOffset);
        if (v >= 0) return v;
        break;
      } catch (e) {
        // a dead member's transaction stays pending until the broker times it out
        if (Date.now() > deadline || !kafkaErrorIds(e).includes('UNSTABLE_OFFSET_COMMIT')) throw e;
        await sleep(50);
      }
    }
    const starts = await this.reader.listOffsets({
      topics: [this.o.inTopic],
      partitions: { [this.o.inTopic]: [p] },
      timestamp: ListOffsetTimestamps.EARLIEST,
    });
    return Number(starts.get(this.o.inTopic)?.[0] ?? 0n);
  }

  /** One cycle over the held partitions, one transaction. Returns the messages consumed. */
  async cycle(): Promise<number> {
    await this.membership.beforeCycle();
    const memberId = this.membership.consumer.memberId;
    const generationId = this.membership.consumer.generationId;
    if (memberId === null) return 0; // (re)joining
    if (generationId !== this.generation) {
      // another member may have committed for a partition since this one last held it
      this.positions.clear();
      this.generation = generationId;
      this.o.logger.info(
        { generationId, partitions: this.assignedPartitions() },
        'clicks intake: group assignment',
      );
    }
    const assigned = this.assignedPartitions();
    for (const p of [...this.positions.keys()]) if (!assigned.includes(p)) this.positions.delete(p);
    const messages: IntakeMessage[] = [];
    const next = new Map<number, number>();
    try {
      for (const p of assigned) {
        let at = this.positions.get(p);
        if (at === undefined) {
          at = await this.startingOffset(p);
          this.positions.set(p, at);
        }
        const f = await fetchPartition(this.reader, {
          topic: this.o.inTopic,
          partition: p,
          offset: BigInt(at),
          maxBytes: this.o.maxPartitionBytes ?? 1 << 20,
        });
        for (const r of f.records) {
          messages.push({
            topic: this.o.inTopic,
            partition: p,
            offset: Number(r.offset),
            value: r.value,
          });
        }
        // past markers and aborted records too
        if (Number(f.nextOffset) > at) next.set(p, Number(f.nextOffset));
      }
    } catch (e) {
      this.positions.clear();
      throw e;
    }
    if (next.size === 0) return 0;
    const out = this.o.transform(messages);
    const produce: Array<{ topic: string; partition: number; key?: Buffer; value: Buffer }> = [];
    for (const c of out.clicks) {
      const key = adIdKey(c.value);
      produce.push({
        topic: this.o.clicksTopic,
        partition: c.partition,
        ...(key === null ? {} : { key }),
        value: c.value,
      });
    }
    for (const l of out.letters) {
      produce.push({
        topic: this.o.deadLettersTopic,
        partition: 0,
        value: Buffer.from(encodeLetter(l).trimEnd(), 'utf8'),
      });
    }
    const txn = await this.producer.beginTransaction();
    try {
      if (produce.length > 0) await txn.send({ messages: produce });
      await txn.addConsumer(this.membership.consumer);
      for (const [p, n] of next) {
        await txn.addOffset({
          topic: this.o.inTopic,
          partition: p,
          offset: BigInt(n) - 1n, // the offset after it is committed
          metadata: {
            consumer: {
              groupId: this.o.groupId,
              generationId,
              memberId,
              coordinatorId: this.membership.consumer.coordinatorId,
            },
          },
        } as unknown as Message);
      }
      await txn.commit();
    } catch (e) {
      this.positions.clear();
      this.totals.aborted++;
      try {
        await txn.abort();
      } catch {
        // the producer is in an unknown state: a fresh one (the broker times the old one out)
        const old = this.producer;
        this.producer = await ClicksIntake.newProducer(this.o);
        await forceCloseQuietly(old);
      }
      throw e;
    }
    for (const [p, n] of next) this.positions.set(p, n);
    this.totals.cycles++;
    this.totals.messages += messages.length;
    this.totals.clicks += out.clicks.length;
    this.totals.letters += out.letters.length;
    return messages.length;
  }

  start(): void {
    this.loop.start();
  }

  /** Stops after the current cycle, leaves the group, closes the clients. */
  async close(): Promise<void> {
    await this.loop.stop();
    await this.membership.close();
    await forceCloseQuietly(this.producer);
    await forceCloseQuietly(this.reader);
    await this.admin.close().catch(() => undefined);
  }
}
