/**
 * DRAFT: the EventLog port on a Kafka topic (the book's first queue, `<ns>.clicks`).
 *
 * - append: each framed record becomes one Kafka record on the partition it was routed to
 *   (the core placed it with Kafka's murmur2, so the partition is passed, never recomputed);
 *   an idempotent producer with acks=all; concurrent calls are queued and sent together, one
 *   produce request at a time, so base offsets follow call order per partition.
 * - read: a manual-assignment fetch (no consumer group), read_committed, filtered by
 *   committedBatches; records come back framed as they went in.
 * - endOffset/startOffset: the port wants them synchronous. Here they are a cache: read from
 *   the broker at open, advanced by this instance's own appends, the start refreshed by reads.
 *   Exact for a single writer only: see README.md beside this file for the port change that
 *   several ingest processes need.
 */
import { Admin, Consumer, ListOffsetTimestamps, Producer } from '@platformatic/kafka';
import { TallyError } from '../../core/errors.js';
import { RECORD_FORMAT_VERSION, RECORD_HEADER_BYTES } from '../../core/event/codec.js';
import type { AppendResult, EventLog, PartitionAppend, ReadResult } from '../../ports/event-log.js';
import { fetchPartition } from '../kafka/fetch-partition.js';
import { forceCloseQuietly } from '../kafka/retry.js';
import { ensureTopic, topicReady } from './topics.js';

export interface KafkaEventLogOptions {
  brokers: string[];
  topic: string;
  partitions: number;
  /** create the topic when it does not exist (otherwise its absence is an error) */
  create?: boolean;
  clientId?: string;
  /** bytes one read asks the broker for (it returns at least one whole batch) */
  readBytes?: number;
  /**
   * `ad_id`: each record is keyed by the ad_id of the core's record it holds (SPEC §5: the
   * clicks topic is keyed by ad_id, for any other consumer of it); default: no key
   */
  keyBy?: 'ad_id';
  /**
   * how long an append waits for the broker's acknowledgement before it fails as
   * TALLY_UNAVAILABLE (ingest's 503 with Retry-After), ms; default 5000. With the broker gone
   * the client otherwise holds the request until the broker is back (18 s held in
   * broker-restart.test), past any client's timeout. The send goes on: records it lands
   * later are counted once, the client's resend being deduplicated by event id.
   */
  appendTimeoutMs?: number;
}

/** where the ad_id starts in a record body (codec.ts; the log strips the length prefix) */
const AD_ID_AT = RECORD_HEADER_BYTES - 4;

/**
 * The ad_id bytes of a core record body (codec.ts, without its length prefix), the Kafka key
 * of the clicks topic; null when the bytes are not such a record.
 */
export function adIdKey(body: Buffer): Buffer | null {
  if (body.byteLength < AD_ID_AT || body[0] !== RECORD_FORMAT_VERSION) return null;
  const len = body[2] as number;
  if (len === 0 || AD_ID_AT + len > body.byteLength) return null;
  return body.subarray(AD_ID_AT, AD_ID_AT + len);
}

interface Pending {
  batches: PartitionAppend[];
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

/** The records of framed `data` ([u32 LE length][bytes] each), or a reason they are not. */
function splitFramed(data: Uint8Array): Buffer[] | string {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < data.byteLength) {
    if (data.byteLength - pos < 4) return 'data ends inside a length prefix';
    const len = view.getUint32(pos, true);
    if (pos + 4 + len > data.byteLength) return 'data ends inside a record';
    out.push(Buffer.from(data.buffer, data.byteOffset + pos + 4, len));
    pos += 4 + len;
  }
  return out;
}

/** The Kafka error ids (e.g. OFFSET_OUT_OF_RANGE) anywhere in a client error's chain. */
function errorIds(e: unknown, depth = 0): string[] {
  if (e === null || typeof e !== 'object' || depth > 6) return [];
  const o = e as { apiId?: unknown; errors?: unknown[]; cause?: unknown };
  const ids = typeof o.apiId === 'string' ? [o.apiId] : [];
  for (const inner of o.errors ?? []) ids.push(...errorIds(inner, depth + 1));
  ids.push(...errorIds(o.cause, depth + 1));
  return ids;
}

function frame(records: ReadonlyArray<Buffer | null>): Uint8Array {
  let total = 0;
  for (const r of records) total += 4 + (r?.byteLength ?? 0);
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (const r of records) {
    const len = r?.byteLength ?? 0;
    out.writeUInt32LE(len, pos);
    if (r !== null && len > 0) r.copy(out, pos + 4);
    pos += 4 + len;
  }
  return out;
}

export class KafkaEventLog implements EventLog {
  readonly partitions: number;
  readonly topic: string;
  private readonly ends: number[];
  private readonly starts: number[];
  private readonly queue: Pending[] = [];
  private sending = false;
  private closed = false;

  private constructor(
    o: KafkaEventLogOptions,
    private readonly producer: Producer,
    private readonly consumer: Consumer,
    private readonly list: (timestamp: bigint) => Promise<bigint[]>,
    ends: number[],
    starts: number[],
  ) {
    this.partitions = o.partitions;
    this.topic = o.topic;
    this.ends = ends;
    this.starts = starts;
    this.readBytes = o.readBytes ?? 1 << 20;
    this.keyed = o.keyBy === 'ad_id';
    this.appendTimeoutMs = o.appendTimeoutMs ?? 5_000;
  }

  private readonly appendTimeoutMs: number;

  private readonly keyed: boolean;

  private readonly readBytes: number;

  static async open(o: KafkaEventLogOptions): Promise<KafkaEventLog> {
    const clientId = o.clientId ?? `tally-log-${o.topic}`;
    if (o.create) {
      await ensureTopic(o.brokers, o.topic, o.partitions);
    } else {
      const admin = new Admin({ clientId, bootstrapBrokers: o.brokers });
      try {
        if (!(await admin.listTopics()).includes(o.topic))
          throw new TallyError('TALLY_UNAVAILABLE', `the Kafka topic ${o.topic} does not exist`);
        await topicReady(admin, o.topic, o.partitions);
      } finally {
        await admin.close();
      }
    }
    const producer = new Producer({
      clientId,
      bootstrapBrokers: o.brokers,
      idempotent: true,
      acks: -1,
    });
    const consumer = new Consumer({
      clientId,
      groupId: `${clientId}-reader`, // never joined: reads are manual-assignment fetches
      bootstrapBrokers: o.brokers,
    });
    const all = Array.from({ length: o.partitions }, (_, p) => p);
    const list = async (timestamp: bigint) =>
      (
        await consumer.listOffsets({
          topics: [o.topic],
          partitions: { [o.topic]: all },
          timestamp,
          isolationLevel: 1,
        })
      ).get(o.topic) ?? [];
    const ends = (await list(ListOffsetTimestamps.LATEST)).map(Number);
    const starts = (await list(ListOffsetTimestamps.EARLIEST)).map(Number);
    return new KafkaEventLog(o, producer, consumer, list, ends, starts);
  }

  private checkPartition(partition: number): void {
    if (!Number.isInteger(partition) || partition < 0 || partition >= this.partitions) {
      throw new TallyError(
        'TALLY_BAD_PARAMETER',
        `partition ${partition} is not one of 0..${this.partitions - 1}`,
        { field: 'partition', details: { partition } },
      );
    }
  }

  private assertOpen(): void {
    if (this.closed)
      throw new TallyError('TALLY_UNAVAILABLE', `the log on ${this.topic} is closed`);
  }

  async append(batches: PartitionAppend[]): Promise<AppendResult> {
    this.assertOpen();
    for (const b of batches) {
      this.checkPartition(b.partition);
      const records = splitFramed(b.data);
      const why =
        typeof records === 'string'
          ? records
          : records.length !== b.count
            ? `data holds ${records.length} framed records but count is ${b.count}`
            : undefined;
      if (why !== undefined) {
        throw new TallyError('TALLY_BAD_PARAMETER', `append to partition ${b.partition}: ${why}`, {
          field: 'data',
          details: { partition: b.partition },
        });
      }
    }
    return new Promise((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        reject(
          new TallyError(
            'TALLY_UNAVAILABLE',
            `Kafka did not acknowledge the append to ${this.topic} within ${this.appendTimeoutMs} ms`,
          ),
        );
      }, this.appendTimeoutMs);
      timer.unref();
      const settle = () => {
        clearTimeout(timer);
        const first = !done;
        done = true;
        return first;
      };
      this.queue.push({
        batches,
        resolve: (r) => settle() && resolve(r),
        reject: (e) => settle() && reject(e),
      });
      void this.drain();
    });
  }

  /** Sends what is queued as one produce request at a time: call order is offset order. */
  private async drain(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.queue.length > 0) {
        const group = this.queue.splice(0, this.queue.length);
        const messages: Array<{ topic: string; partition: number; key?: Buffer; value: Buffer }> =
          [];
        for (const pending of group) {
          for (const b of pending.batches) {
            for (const value of splitFramed(b.data) as Buffer[]) {
              const key = this.keyed ? adIdKey(value) : null;
              messages.push({
                topic: this.topic,
                partition: b.partition,
                ...(key === null ? {} : { key }),
                value,
              });
            }
          }
        }
        try {
          const bases = new Map<number, number>();
          if (messages.length > 0) {
            const res = await this.producer.send({ messages });
            for (const o of res.offsets ?? []) bases.set(o.partition, Number(o.offset));
          }
          // one batch per partition per request, in message order: hand out the offsets
          const next = new Map(bases);
          for (const pending of group) {
            const baseOffsets = new Map<number, number>();
            for (const b of pending.batches) {
              const at = next.get(b.partition) ?? this.ends[b.partition] ?? 0;
              if (!baseOffsets.has(b.partition)) baseOffsets.set(b.partition, at);
              next.set(b.partition, at + b.count);
            }
            pending.resolve({ baseOffsets });
          }
          for (const [p, end] of next) {
            if (end > (this.ends[p] ?? 0)) this.ends[p] = end;
          }
        } catch (e) {
          const err = new TallyError(
            'TALLY_UNAVAILABLE',
            `Kafka did not acknowledge the append to ${this.topic}`,
            { cause: e },
          );
          for (const pending of group) pending.reject(err);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  async read(partition: number, fromOffset: number, maxRecords: number): Promise<ReadResult> {
    this.assertOpen();
    this.checkPartition(partition);
    const start = this.starts[partition] as number;
    if (!Number.isSafeInteger(fromOffset) || fromOffset < start) {
      throw new TallyError(
        'TALLY_BAD_PARAMETER',
        `offset ${fromOffset} is below the start of partition ${partition} (${start})`,
        { field: 'offset', details: { partition, offset: fromOffset, startOffset: start } },
      );
    }
    if (!Number.isSafeInteger(maxRecords) || maxRecords < 1) {
      throw new TallyError('TALLY_BAD_PARAMETER', 'maxRecords must be a positive integer', {
        field: 'maxRecords',
      });
    }
    const empty: ReadResult = {
      data: new Uint8Array(0),
      count: 0,
      fromOffset,
      nextOffset: fromOffset,
      lastAppendTime: 0,
    };
    let f;
    try {
      f = await fetchPartition(this.consumer, {
        topic: this.topic,
        partition,
        offset: BigInt(fromOffset),
        maxBytes: this.readBytes,
      });
    } catch (e) {
      // past the end (the broker's, which another writer may have moved): nothing yet
      if (errorIds(e).includes('OFFSET_OUT_OF_RANGE')) return empty;
      throw new TallyError('TALLY_UNAVAILABLE', `Kafka read of ${this.topic}/${partition} failed`, {
        cause: e,
      });
    }
    this.starts[partition] = Number(f.logStartOffset);
    // every read refreshes the cached end with what the broker reports as readable
    if (Number(f.lastStableOffset) > (this.ends[partition] as number)) {
      this.ends[partition] = Number(f.lastStableOffset);
    }
    // maxRecords bounds the OFFSETS read, [fromOffset, fromOffset + maxRecords): a transactional
    // writer's markers take offsets too, and a caller that reads up to an offset it recorded
    // (the aggregator replaying a committed cycle) must get no record at or past it
    const limit = fromOffset + maxRecords;
    const taken = f.records.filter((r) => Number(r.offset) < limit);
    const last = taken[taken.length - 1];
    // past transaction markers and aborted records too (a transactional writer's gaps), never
    // past the limit
    const nextOffset = Math.min(Math.max(fromOffset, Number(f.nextOffset)), limit);
    if (last === undefined) return { ...empty, nextOffset };
    return {
      data: frame(taken.map((r) => r.value)),
      count: taken.length,
      fromOffset,
      nextOffset,
      lastAppendTime: Number(last.timestamp),
    };
  }

  /**
   * The broker's last stable offsets (read_committed) of every partition: the other ingest
   * processes' appends become readable here. The cached ends only ever move forward.
   */
  async refresh(): Promise<void> {
    this.assertOpen();
    let latest: bigint[];
    try {
      latest = await this.list(ListOffsetTimestamps.LATEST);
    } catch (e) {
      throw new TallyError('TALLY_UNAVAILABLE', `Kafka did not list the offsets of ${this.topic}`, {
        cause: e,
      });
    }
    latest.forEach((end, p) => {
      if (Number(end) > (this.ends[p] as number)) this.ends[p] = Number(end);
    });
  }

  endOffset(partition: number): number {
    this.checkPartition(partition);
    return this.ends[partition] as number;
  }

  startOffset(partition: number): number {
    this.checkPartition(partition);
    return this.starts[partition] as number;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // every append was acknowledged (acks=all) before it resolved: nothing is left to flush,
    // so a producer that cannot close gracefully (a broker just gone) is closed by force
    await this.producer.close().catch(() => forceCloseQuietly(this.producer));
    await forceCloseQuietly(this.consumer);
  }
}
