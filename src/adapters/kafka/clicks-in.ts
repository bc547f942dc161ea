/**
 * The ingest role's consume–transform–produce on `<ns>.clicks.in` (JSON clicks written by any
 * Kafka producer), exactly once: a consumer group member reads read_committed; each cycle
 * takes what arrived, has it transformed (validated and encoded by the caller), and in ONE
 * Kafka transaction produces the accepted records to `<ns>.clicks`, the rejected ones to
 * `<ns>.deadletters`, and commits the consumed offsets with the group's metadata (KIP-447: a
 * member of an older generation is refused). A crash or a failed cycle aborts (or leaves to
 * the broker to abort) everything of the cycle; the member then rejoins and reads again from
 * the committed offsets, so each input message ends up in the output exactly once.
 *
 * The transactional id is stable per process slot: a restarted process with the same id
 * fences its predecessor and aborts the transaction it left open at once, instead of the
 * broker's transaction timeout holding back every read_committed reader of `<ns>.clicks`.
 */
import {
  Consumer,
  FetchIsolationLevels,
  MessagesStreamModes,
  Producer,
  type Message,
  type MessagesStream,
  type RetryDelayGetter,
} from '@platformatic/kafka';
import type { DeadLetter } from '../../ports/dead-letters.js';
import { encodeLetter } from '../deadletters-file/letter-codec.js';

type Msg = Message<Buffer, Buffer, Buffer, Buffer>;

/** One consumed message as the transform sees it. */
export interface InputMessage {
  partition: number;
  offset: bigint;
  value: Buffer | null;
}

export interface TransformResult {
  /** encoded records for `<ns>.clicks`, each with the partition the core routed it to */
  clicks: Array<{ partition: number; value: Uint8Array }>;
  letters: DeadLetter[];
}

export interface ClicksInOptions {
  brokers: string[];
  inTopic: string;
  clicksTopic: string;
  deadLettersTopic: string;
  groupId: string;
  transactionalId: string;
  transform: (messages: readonly InputMessage[]) => TransformResult;
  /** how long a cycle waits for more messages once one arrived, ms (default 100) */
  lingerMs?: number;
  /** messages per cycle at most (default 10 000) */
  maxMessages?: number;
  /** group session timeout, ms (default 10 000; the broker's minimum is 6 000) */
  sessionTimeoutMs?: number;
  onError?: (err: unknown) => void;
  onCycle?: (stats: { messages: number; clicks: number; letters: number }) => void;
}

const RESTART = { producerId: -1n, producerEpoch: -1 };

/**
 * CONCURRENT_TRANSACTIONS and UNSTABLE_OFFSET_COMMIT clear within milliseconds (the previous
 * transaction's markers being written): retried quickly, anything else backs off.
 */
const retryDelay: RetryDelayGetter = (_client, _op, attempt, _retries, error) => {
  const e = error as { findBy?: (k: string, v: unknown) => unknown };
  const quick =
    e.findBy?.('apiId', 'CONCURRENT_TRANSACTIONS') ?? e.findBy?.('apiId', 'UNSTABLE_OFFSET_COMMIT');
  if (quick) return Math.min(5 * 2 ** Math.min(attempt, 4), 50);
  return Math.min(100 * 2 ** Math.min(attempt, 4), 1000);
};

export class ClicksInPipe {
  private consumer: Consumer | undefined;
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  private readonly producer: Producer;
  private buffer: Msg[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly o: ClicksInOptions) {
    this.producer = new Producer({
      clientId: `${o.transactionalId}-producer`,
      bootstrapBrokers: o.brokers,
      idempotent: true,
      transactionalId: o.transactionalId,
      retryDelay,
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await this.closeConsumer();
    await new Promise<void>((resolve) => this.producer.close(true, () => resolve()));
  }

  private async join(): Promise<void> {
    const consumer = new Consumer({
      clientId: `${this.o.transactionalId}-consumer`,
      groupId: this.o.groupId,
      bootstrapBrokers: this.o.brokers,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      // offsets are committed inside the transactions, never by the client on its own
      autocommit: false,
      maxWaitTime: 200,
      retryDelay,
    });
    this.consumer = consumer;
    const stream = await consumer.consume({
      topics: [this.o.inTopic],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: 'earliest',
      sessionTimeout: this.o.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: 500,
      rebalanceTimeout: this.o.sessionTimeoutMs ?? 10_000,
    });
    this.stream = stream;
    this.buffer = [];
    stream.on('data', (m: Msg) => {
      this.buffer.push(m);
      // the first arrival ends the idle wait; the linger then gathers the rest
      if (this.buffer.length === 1) this.wake?.();
    });
    stream.on('error', (err: unknown) => this.o.onError?.(err));
  }

  private async closeConsumer(): Promise<void> {
    const stream = this.stream;
    const consumer = this.consumer;
    this.stream = undefined;
    this.consumer = undefined;
    this.buffer = [];
    if (stream) await stream.close().catch(() => undefined);
    if (consumer) {
      await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        if (this.stream === undefined) await this.join();
        if (this.buffer.length === 0) {
          await this.sleep(1000);
          continue;
        }
        // let a burst gather, then take it whole
        await this.sleep(this.o.lingerMs ?? 100);
        this.wake = undefined;
        await this.cycle();
        failures = 0;
      } catch (err) {
        // the cycle's transaction is aborted (or will be, by the next start of this id): read
        // again from the committed offsets as a new member
        this.o.onError?.(err);
        await this.closeConsumer();
        failures++;
        if (this.running) await this.sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  private async cycle(): Promise<void> {
    const stream = this.stream!;
    stream.pause();
    const max = this.o.maxMessages ?? 10_000;
    // what is beyond `max` stays for the next cycle, in order
    const taken = this.buffer.splice(0, max);
    const out = this.o.transform(
      taken.map((m) => ({ partition: m.partition, offset: m.offset, value: m.value })),
    );
    const txn = await this.producer.beginTransaction(RESTART);
    try {
      const messages = [
        ...out.clicks.map((c) => ({
          topic: this.o.clicksTopic,
          partition: c.partition,
          value: Buffer.from(c.value.buffer, c.value.byteOffset, c.value.byteLength),
        })),
        ...out.letters.map((l) => ({
          topic: this.o.deadLettersTopic,
          partition: 0,
          value: Buffer.from(encodeLetter(l).trimEnd(), 'utf8'),
        })),
      ];
      if (messages.length > 0) await txn.send({ messages });
      await txn.addConsumer(this.consumer!);
      const last = new Map<number, Msg>();
      for (const m of taken) {
        const seen = last.get(m.partition);
        if (seen === undefined || m.offset > seen.offset) last.set(m.partition, m);
      }
      for (const m of last.values()) await txn.addOffset(m);
      await txn.commit();
    } catch (err) {
      await txn.abort().catch(() => undefined);
      throw err;
    }
    stream.resume();
    this.o.onCycle?.({
      messages: taken.length,
      clicks: out.clicks.length,
      letters: out.letters.length,
    });
  }
}
