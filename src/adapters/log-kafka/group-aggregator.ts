/**
 * The aggregator role of the distributed mode: any number of processes in one consumer group
 * on `<ns>.clicks`, exactly once (SPEC §5, book ch. 6).
 *
 * - Each assigned partition has an operator of its own (the same core operator, one partition
 *   wide): an ad lives in one partition, so the partitions' outputs never overlap.
 * - A cycle feeds every assigned partition what is readable (read_committed), advances each
 *   one's watermark, and commits ONE Kafka transaction: the cycle's records on
 *   `<ns>.aggregates` (rows, late records, then a `cycle` record: offsets, watermark, the
 *   partition's top lists) and the consumed offsets with the group's generation and member id
 *   (KIP-447): a process that lost a partition in a rebalance cannot commit for it any more.
 * - After the transaction, a partition's state is snapshotted now and then into PostgreSQL
 *   with the position it reflects (clicks offset, cycle number). A process that gets the
 *   partition restores the snapshot and replays the committed cycles after it, read back from
 *   `<ns>.aggregates` with their offsets and watermarks: the operator is a deterministic
 *   function of them, so it reaches the committed state exactly and emits nothing twice (a
 *   replayed cycle's output was committed already and is dropped).
 * - A failed cycle (a rebalance, a broker error) aborts its transaction; every partition is
 *   then restored before the next cycle, as after kill -9.
 */
import { randomUUID } from 'node:crypto';
import { Admin, Consumer, Producer, type Message, type ProduceResult } from '@platformatic/kafka';
import { ClickAggregator, type AggregatorConfig } from '../../core/operator/aggregator.js';
import { MINUTE_MS, minuteOf } from '../../core/window/minute.js';
import type { Clock } from '../../ports/clock.js';
import type { EventLog } from '../../ports/event-log.js';
import { toLateRecord } from '../../ports/aggregates.js';
import type { PartitionCycle, PartitionSnapshotStore } from '../../ports/partitioned-aggregates.js';
import { fetchPartition } from '../kafka/fetch-partition.js';
import { CycleLoop } from '../kafka/cycle-loop.js';
import type { GroupMembership } from '../kafka/membership.js';
import { transactionalMember } from '../kafka/membership.js';
import { forceCloseQuietly, kafkaErrorIds, transactionalRetryDelay } from '../kafka/retry.js';
import { decodeAggregates, encodeCycle } from './aggregates-topic.js';

export interface RoleLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** where a failing cycle is reported, and its recovery (readiness); the HealthBoard fits */
export interface RoleHealth {
  ok(component: 'aggregator' | 'writer'): void;
  fail(component: 'aggregator' | 'writer', err: unknown): void;
}

/** what the metrics hear of (wired by the composition root) */
export interface GroupObserver {
  /** after a committed cycle: its transaction's duration, its counters, the partitions held */
  cycle(o: {
    transactionMs: number;
    stats: { events: number; duplicates: number; late: number };
    partitions: GroupPartitionStatus[];
  }): void;
  /** after a partition was restored (snapshot + replay) */
  restore(o: { partition: number; ms: number }): void;
}

export interface GroupTiming {
  /** the broker drops a silent member after this (its minimum is 6 000 by default) */
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
}

export const DEFAULT_GROUP_TIMING: GroupTiming = {
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 500,
  rebalanceTimeoutMs: 10_000,
};

export interface GroupAggregatorOptions {
  brokers: string[];
  clicksTopic: string;
  aggregatesTopic: string;
  groupId: string;
  /** each process adds a random suffix: one transactional id per process (KIP-447) */
  transactionalIdPrefix: string;
  /** the clicks topic, for reads and its ends */
  log: EventLog;
  snapshots: PartitionSnapshotStore;
  operator: AggregatorConfig;
  commitIntervalMs: number;
  /** aggregation.memoryBudgetMiB: over it, ingest here refuses new records */
  memoryBudgetMiB: number;
  snapshotIntervalMs: number;
  snapshotMaxRecords: number;
  maxBatchRecords: number;
  clock: Clock;
  logger: RoleLogger;
  group?: GroupTiming;
  health?: RoleHealth;
  observer?: GroupObserver;
  /** cap on the records of one cycle, over all assigned partitions */
  maxCycleRecords?: number;
}

interface PartState {
  op: ClickAggregator;
  /** next clicks offset to read */
  offset: number;
  /** number of the last committed cycle of the partition */
  cycle: number;
  /** base offset on the aggregates partition of this process's last committed cycle */
  aggregatesBase: number | undefined;
  lastSnapshotAt: number;
  sinceSnapshot: number;
}

export interface GroupPartitionStatus {
  partition: number;
  committedOffset: number;
  endOffset: number;
  lag: number;
  cycle: number;
  watermark: number | null;
  maxEventTime: number | null;
  idle: boolean;
}

const SNAPSHOT_CHUNK = 32 << 20;

function groupJoinOptions(t: GroupTiming) {
  return {
    sessionTimeout: t.sessionTimeoutMs,
    heartbeatInterval: t.heartbeatIntervalMs,
    rebalanceTimeout: t.rebalanceTimeoutMs,
  };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class GroupAggregator {
  private readonly parts = new Map<number, PartState>();
  private generation = -1;
  private producer: Producer;
  private readonly loop: CycleLoop;
  private readonly maxCycleRecords: number;
  private totals = { events: 0, duplicates: 0, late: 0, cycles: 0, restores: 0 };
  /** the operators' state after the last committed cycle, all partitions held */
  private stateBytes = 0;

  private constructor(
    private readonly o: GroupAggregatorOptions,
    producer: Producer,
    private readonly membership: GroupMembership,
    private readonly admin: Admin,
    private readonly reader: Consumer,
  ) {
    this.producer = producer;
    this.maxCycleRecords = o.maxCycleRecords ?? 200_000;
    this.loop = new CycleLoop({
      cycle: () => this.cycle(),
      waitAfter: (n) => (n >= this.maxCycleRecords / 2 ? 0 : this.o.commitIntervalMs),
      ok: () => this.o.health?.ok('aggregator'),
      failed: (err, failures) => {
        this.o.health?.fail('aggregator', err);
        if (failures === 1) this.o.logger.warn({ err }, 'aggregator cycle failed; retrying');
      },
    });
  }

  private static async newProducer(o: GroupAggregatorOptions): Promise<Producer> {
    const id = `${o.transactionalIdPrefix}.${randomUUID()}`;
    const producer = new Producer({
      clientId: id,
      bootstrapBrokers: o.brokers,
      idempotent: true,
      transactionalId: id,
      retryDelay: transactionalRetryDelay,
    });
    // InitProducerId before anything else: a producer initialised while the group rebalances
    // stalled a whole rebalance timeout in trials. cancel() ends the empty transaction locally.
    const t = await producer.beginTransaction({ producerId: -1n, producerEpoch: -1 });
    await t.cancel();
    return producer;
  }

  /** Initialises the transactional producer, then joins the group. */
  static async open(o: GroupAggregatorOptions): Promise<GroupAggregator> {
    const producer = await GroupAggregator.newProducer(o);
    const timing = o.group ?? DEFAULT_GROUP_TIMING;
    const admin = new Admin({
      clientId: `${o.transactionalIdPrefix}-admin`,
      bootstrapBrokers: o.brokers,
      retries: 10,
      retryDelay: transactionalRetryDelay,
    });
    const reader = new Consumer({
      clientId: `${o.transactionalIdPrefix}-replay`,
      groupId: `${o.groupId}-replay-unused`, // manual-assignment fetches only
      bootstrapBrokers: o.brokers,
      retryDelay: transactionalRetryDelay,
    });
    const membership = await transactionalMember({
      role: 'aggregator',
      logger: o.logger,
      brokers: o.brokers,
      groupId: o.groupId,
      clientId: `${o.transactionalIdPrefix}-member`,
      topic: o.clicksTopic,
      timing: groupJoinOptions(timing),
    });
    return new GroupAggregator(o, producer, membership, admin, reader);
  }

  /** the clicks partitions this member holds in the current generation */
  assignedPartitions(): number[] {
    const mine = (this.membership.consumer.assignments ?? []).find(
      (a) => a.topic === this.o.clicksTopic,
    );
    return [...(mine?.partitions ?? [])].sort((a, b) => a - b);
  }

  get counters() {
    return { ...this.totals };
  }

  /**
   * Why ingest here should refuse new records now: the state of the partitions held was over
   * aggregation.memoryBudgetMiB after the last cycle (as the embedded runner says it).
   */
  overMemoryBudget(): string | undefined {
    const budget = this.o.memoryBudgetMiB * 2 ** 20;
    if (this.stateBytes <= budget) return undefined;
    const mib = (b: number) => Math.round(b / 2 ** 20);
    return (
      `the aggregator's state is ${mib(this.stateBytes)} MiB, over its budget of ` +
      `${this.o.memoryBudgetMiB} MiB (aggregation.memoryBudgetMiB); retry later`
    );
  }

  /** records of the assigned partitions not yet committed */
  lag(): number {
    let lag = 0;
    for (const [p, st] of this.parts) lag += Math.max(0, this.o.log.endOffset(p) - st.offset);
    return lag;
  }

  partitionStatus(): GroupPartitionStatus[] {
    const now = this.o.clock.now();
    return [...this.parts].map(([p, st]) => {
      const s = st.op.partitionStatus(now)[0];
      const end = this.o.log.endOffset(p);
      return {
        partition: p,
        committedOffset: st.offset,
        endOffset: end,
        lag: Math.max(0, end - st.offset),
        cycle: st.cycle,
        watermark: Number.isFinite(st.op.watermark) ? st.op.watermark : null,
        maxEventTime: s?.maxEventTime ?? null,
        idle: s?.idle ?? true,
      };
    });
  }

  /** The group's committed offset of a partition, read as stable (pending transactions decided). */
  private async committedOffset(p: number): Promise<number | undefined> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const res = await this.admin.listConsumerGroupOffsets({
          groups: [
            {
              groupId: this.o.groupId,
              topics: [{ name: this.o.clicksTopic, partitionIndexes: [p] }],
            },
          ],
          requireStable: true,
        });
        const off = res[0]?.topics[0]?.partitions.find((x) => x.partitionIndex === p);
        const v = off === undefined ? -1 : Number(off.committedOffset);
        return v < 0 ? undefined : v;
      } catch (e) {
        // a killed member's transaction stays pending until the broker times it out
        if (Date.now() > deadline || !kafkaErrorIds(e).includes('UNSTABLE_OFFSET_COMMIT')) throw e;
        await sleep(100);
      }
    }
  }

  /** Feeds partition p's operator from its offset up to `to` (not included). */
  private async feed(p: number, st: PartState, to: number, now: number): Promise<number> {
    let fed = 0;
    while (st.offset < to) {
      const r = await this.o.log.read(
        p,
        st.offset,
        Math.min(to - st.offset, this.o.maxBatchRecords),
      );
      if (r.nextOffset <= st.offset)
        throw new Error(`clicks partition ${p} ends at ${st.offset}, expected ${to}`);
      if (r.count > 0) st.op.onRecords(0, r.data, r.fromOffset, now);
      st.offset = r.nextOffset;
      fed += r.count;
    }
    return fed;
  }

  /**
   * Partition p as committed: its snapshot, then the cycles committed after it replayed from
   * `<ns>.aggregates` (their output dropped), until the aggregates partition has no open
   * transaction left and the replay reached the group's committed offset.
   */
  private async restore(p: number): Promise<PartState> {
    const started = Date.now();
    const committed = await this.committedOffset(p);
    const snap = await this.o.snapshots.loadSnapshot(p);
    const now = this.o.clock.now();
    const st: PartState = {
      op:
        snap === undefined
          ? new ClickAggregator(this.o.operator, 1, now)
          : ClickAggregator.restore(this.o.operator, 1, Buffer.concat(snap.chunks), now),
      offset: snap?.clicksOffset ?? this.o.log.startOffset(p),
      cycle: snap?.cycle ?? 0,
      aggregatesBase: undefined,
      lastSnapshotAt: this.o.clock.now(),
      sinceSnapshot: 0,
    };
    let from = BigInt(snap?.aggregatesOffset ?? 0);
    let replayed = 0;
    let cycles = 0;
    const deadline = Date.now() + 90_000;
    for (;;) {
      const f = await fetchPartition(this.reader, {
        topic: this.o.aggregatesTopic,
        partition: p,
        offset: from,
        maxBytes: 4 << 20,
      });
      for (const r of f.records) {
        const rec = decodeAggregates(r.value);
        if (rec.kind !== 'cycle' || rec.cycle <= st.cycle) continue;
        if (rec.cycle !== st.cycle + 1 || rec.from !== st.offset) {
          throw new Error(
            `partition ${p}: cycle ${rec.cycle} from ${rec.from} does not follow cycle ${st.cycle} at ${st.offset}`,
          );
        }
        replayed += await this.feed(p, st, rec.to, now);
        st.op.onWatermark(rec.watermark);
        st.op.takeOutput(); // committed by the cycle being replayed
        st.cycle = rec.cycle;
        cycles++;
      }
      from = f.nextOffset > from ? f.nextOffset : from;
      const atEnd = from >= f.lastStableOffset;
      // no transaction open on it (a dead member's is aborted by the broker's timeout)
      if (atEnd && f.lastStableOffset >= f.highWatermark) break;
      if (Date.now() > deadline)
        throw new Error(`partition ${p}: a transaction on ${this.o.aggregatesTopic} stays open`);
      if (atEnd) await sleep(50);
    }
    if (committed !== undefined && committed !== st.offset) {
      throw new Error(
        `partition ${p}: the replay reached clicks offset ${st.offset}, the group committed ${committed}`,
      );
    }
    st.sinceSnapshot = replayed;
    this.totals.restores++;
    this.o.observer?.restore({ partition: p, ms: Date.now() - started });
    this.o.logger.info(
      { partition: p, snapshotCycle: snap?.cycle ?? 0, cycles, replayed, ms: Date.now() - started },
      'aggregator partition restored',
    );
    return st;
  }

  /** The group's offset commit of partition p inside the transaction, with this generation. */
  private offsetOf(p: number, next: number, generationId: number, memberId: string): Message {
    return {
      topic: this.o.clicksTopic,
      partition: p,
      offset: BigInt(next) - 1n,
      metadata: {
        consumer: {
          groupId: this.o.groupId,
          generationId,
          memberId,
          coordinatorId: this.membership.consumer.coordinatorId,
        },
      },
    } as unknown as Message;
  }

  /**
   * One cycle over the assigned partitions, one transaction. `final` closes every minute that
   * holds data (drain). Returns the records fed.
   */
  async cycle(opts: { final?: boolean } = {}): Promise<number> {
    await this.membership.beforeCycle();
    const memberId = this.membership.consumer.memberId;
    const generationId = this.membership.consumer.generationId;
    if (memberId === null) return 0; // (re)joining
    const assigned = this.assignedPartitions();
    if (generationId !== this.generation) {
      // another member may have committed for a partition since this one last held it
      this.parts.clear();
      this.generation = generationId;
      this.o.logger.info({ generationId, partitions: assigned }, 'aggregator group assignment');
    }
    for (const p of [...this.parts.keys()]) if (!assigned.includes(p)) this.parts.delete(p);
    try {
      for (const p of assigned) if (!this.parts.has(p)) this.parts.set(p, await this.restore(p));
    } catch (e) {
      this.parts.clear();
      throw e;
    }
    await this.o.log.refresh?.();
    const now = this.o.clock.now();
    const perPartition = Math.max(
      1,
      Math.floor(this.maxCycleRecords / Math.max(1, assigned.length)),
    );
    const messages: Array<{ topic: string; partition: number; key: Buffer; value: Buffer }> = [];
    const touched: Array<{
      p: number;
      st: PartState;
      fed: number;
      stats: PartitionCycle['stats'];
    }> = [];
    let fed = 0;
    try {
      const feeds: Array<{ p: number; st: PartState; from: number; before: number; n: number }> =
        [];
      for (const p of assigned) {
        const st = this.parts.get(p)!;
        const from = st.offset;
        const before = st.op.watermark;
        const n = await this.feed(
          p,
          st,
          Math.min(this.o.log.endOffset(p), from + perPartition),
          now,
        );
        fed += n;
        feeds.push({ p, st, from, before, n });
      }
      // `final` closes the last minute that holds data in ANY partition, in every one: the
      // global top list of a minute is published once every partition's watermark passed it,
      // and a partition whose last click fell just before a minute boundary would hold it back
      let closing = -Infinity;
      if (opts.final === true) {
        for (const { st } of feeds) {
          const max = st.op.partitionStatus(now)[0]?.maxEventTime ?? null;
          if (max !== null) closing = Math.max(closing, minuteOf(max) + MINUTE_MS);
        }
      }
      for (const { p, st, from, before, n } of feeds) {
        st.op.onWatermark(Math.max(st.op.computeWatermark(this.o.clock.now()), closing));
        const out = st.op.takeOutput();
        const changed =
          n > 0 ||
          out.rows.length > 0 ||
          out.top.length > 0 ||
          out.late.length > 0 ||
          st.op.watermark !== before;
        if (!changed) continue;
        const c: PartitionCycle = {
          partition: p,
          cycle: st.cycle + 1,
          from,
          to: st.offset,
          watermark: st.op.watermark,
          top: out.top,
          stats: out.stats,
        };
        const late = out.late.map((l) => toLateRecord({ ...l, partition: p }));
        const key = Buffer.from(String(p));
        for (const value of encodeCycle(c, out.rows, late))
          messages.push({ topic: this.o.aggregatesTopic, partition: p, key, value });
        touched.push({ p, st, fed: n, stats: out.stats });
      }
      if (touched.length === 0) return fed;
      const t0 = performance.now();
      const res = await this.transact(messages, touched, generationId, memberId);
      const transactionMs = performance.now() - t0;
      const stats = { events: 0, duplicates: 0, late: 0 };
      for (const t of touched) {
        t.st.cycle++;
        t.st.sinceSnapshot += t.fed;
        const base = res.offsets?.find(
          (x) => x.topic === this.o.aggregatesTopic && x.partition === t.p,
        );
        if (base !== undefined) t.st.aggregatesBase = Number(base.offset);
        stats.events += t.stats.events;
        stats.duplicates += t.stats.duplicates;
        stats.late += t.stats.late;
      }
      this.totals.events += stats.events;
      this.totals.duplicates += stats.duplicates;
      this.totals.late += stats.late;
      this.totals.cycles++;
      this.stateBytes = 0;
      for (const st of this.parts.values()) this.stateBytes += st.op.memoryStats().stateBytes;
      this.o.observer?.cycle({ transactionMs, stats, partitions: this.partitionStatus() });
    } catch (e) {
      // the operators are ahead of what is committed: back to the committed state first
      this.parts.clear();
      throw e;
    }
    for (const t of touched) {
      const due =
        opts.final === true ||
        this.o.clock.now() - t.st.lastSnapshotAt >= this.o.snapshotIntervalMs ||
        t.st.sinceSnapshot >= this.o.snapshotMaxRecords;
      if (due) await this.snapshot(t.p, t.st);
    }
    return fed;
  }

  private async transact(
    messages: Array<{ topic: string; partition: number; key: Buffer; value: Buffer }>,
    touched: ReadonlyArray<{ p: number; st: PartState }>,
    generationId: number,
    memberId: string,
  ): Promise<ProduceResult> {
    const txn = await this.producer.beginTransaction();
    try {
      const res = await txn.send({ messages });
      await txn.addConsumer(this.membership.consumer);
      for (const t of touched)
        await txn.addOffset(this.offsetOf(t.p, t.st.offset, generationId, memberId));
      await txn.commit();
      return res;
    } catch (e) {
      try {
        await txn.abort();
      } catch {
        // the producer is in an unknown state: a fresh one (the broker times the old one out)
        const old = this.producer;
        this.producer = await GroupAggregator.newProducer(this.o);
        await forceCloseQuietly(old);
      }
      throw e;
    }
  }

  /** After a committed cycle: the state as of it, with the position it reflects. */
  private async snapshot(p: number, st: PartState): Promise<void> {
    if (st.aggregatesBase === undefined) return;
    const bytes = st.op.snapshot();
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.byteLength; i += SNAPSHOT_CHUNK)
      chunks.push(bytes.subarray(i, i + SNAPSHOT_CHUNK));
    try {
      await this.o.snapshots.saveSnapshot({
        partition: p,
        clicksOffset: st.offset,
        cycle: st.cycle,
        aggregatesOffset: st.aggregatesBase,
        watermark: st.op.watermark,
        chunks,
      });
      st.lastSnapshotAt = this.o.clock.now();
      st.sinceSnapshot = 0;
    } catch (err) {
      // the older snapshot stays valid: a restore replays more, nothing else
      this.o.logger.warn({ err, partition: p }, 'aggregator snapshot failed');
    }
  }

  /**
   * Consumes everything appended so far on every partition (waiting until this member holds
   * them all: the others stopped or died), then closes every minute that holds data.
   */
  async drain(timeoutMs = 180_000): Promise<void> {
    await this.o.log.refresh?.();
    const partitions = this.o.log.partitions;
    const target = Array.from({ length: partitions }, (_, p) => this.o.log.endOffset(p));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let fed = 0;
      try {
        fed = await this.cycle();
      } catch (err) {
        this.o.logger.warn({ err }, 'aggregator drain: cycle failed; retrying');
        await sleep(100);
      }
      const done =
        this.assignedPartitions().length === partitions &&
        target.every((end, p) => (this.parts.get(p)?.offset ?? -1) >= end);
      if (done) break;
      if (Date.now() > deadline)
        throw new Error(
          `aggregator drain: not done in ${timeoutMs} ms (holding ${this.assignedPartitions().join(',')})`,
        );
      if (fed === 0) await sleep(50);
    }
    for (;;) {
      try {
        await this.cycle({ final: true });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        this.o.logger.warn({ err }, 'aggregator drain: final cycle failed; retrying');
        await sleep(100);
      }
    }
  }

  start(): void {
    this.loop.start();
  }

  /** Stops the loop after its cycle, leaves the group, closes the clients. */
  async close(): Promise<void> {
    await this.loop.stop();
    await this.membership.close();
    await forceCloseQuietly(this.producer);
    await forceCloseQuietly(this.reader);
    await this.admin.close().catch(() => undefined);
  }
}
