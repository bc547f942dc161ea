/**
 * One Fetch of one partition with manual assignment (no consumer group), read_committed by
 * default and filtered by `committedBatches` on top of the client's own filter.
 */
import { FetchIsolationLevels, type Consumer } from '@platformatic/kafka';
import { committedBatches } from './read-committed.js';

export interface FetchedRecord {
  offset: bigint;
  /** the record's timestamp (CreateTime, or LogAppendTime if the topic is so configured) */
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
}

export interface PartitionFetch {
  records: FetchedRecord[];
  /** where the next fetch starts: past every batch returned, control and aborted ones included */
  nextOffset: bigint;
  highWatermark: bigint;
  lastStableOffset: bigint;
  logStartOffset: bigint;
}

export interface FetchPartitionOptions {
  topic: string;
  partition: number;
  offset: bigint;
  /** bytes the broker may return for the partition (it always returns at least one batch) */
  maxBytes?: number;
  maxWaitMs?: number;
  isolation?: 'read_committed' | 'read_uncommitted';
}

export async function fetchPartition(
  consumer: Consumer,
  o: FetchPartitionOptions,
): Promise<PartitionFetch> {
  const [f] = await fetchPartitions(consumer, {
    topic: o.topic,
    partitions: [{ partition: o.partition, offset: o.offset }],
    ...(o.maxBytes === undefined ? {} : { maxBytes: o.maxBytes }),
    ...(o.maxWaitMs === undefined ? {} : { maxWaitMs: o.maxWaitMs }),
    ...(o.isolation === undefined ? {} : { isolation: o.isolation }),
  });
  return f as PartitionFetch;
}

export interface FetchPartitionsOptions {
  topic: string;
  /** the partitions to read and where, each at most once */
  partitions: ReadonlyArray<{ partition: number; offset: bigint }>;
  /** bytes the broker may return per partition (it always returns at least one batch) */
  maxBytes?: number;
  maxWaitMs?: number;
  isolation?: 'read_committed' | 'read_uncommitted';
}

/**
 * Several partitions of a topic in one Fetch request per leader (one request on a single
 * broker instead of one per partition: on loopback every request costs the sender the
 * receiver's TCP work too). Answers in the order asked.
 */
export async function fetchPartitions(
  consumer: Consumer,
  o: FetchPartitionsOptions,
): Promise<PartitionFetch[]> {
  const metadata = await consumer.metadata({ topics: [o.topic] });
  const topic = metadata.topics.get(o.topic);
  const byLeader = new Map<number, Array<{ partition: number; offset: bigint }>>();
  for (const want of o.partitions) {
    const leader = topic?.partitions[want.partition]?.leader;
    if (topic === undefined || leader === undefined) {
      throw new Error(`no leader for ${o.topic}/${want.partition}`);
    }
    const list = byLeader.get(leader) ?? [];
    list.push(want);
    byLeader.set(leader, list);
  }
  const maxBytes = o.maxBytes ?? 1 << 20;
  const committed = (o.isolation ?? 'read_committed') === 'read_committed';
  const out = new Map<number, PartitionFetch>();
  await Promise.all(
    [...byLeader].map(async ([leader, wants]) => {
      const response = await consumer.fetch({
        node: leader,
        topics: [
          {
            topicId: topic!.id,
            partitions: wants.map((w) => ({
              partition: w.partition,
              fetchOffset: w.offset,
              partitionMaxBytes: maxBytes,
              currentLeaderEpoch: -1,
              lastFetchedEpoch: -1,
            })),
          },
        ],
        isolationLevel: committed
          ? FetchIsolationLevels.READ_COMMITTED
          : FetchIsolationLevels.READ_UNCOMMITTED,
        maxWaitTime: o.maxWaitMs ?? 0,
        minBytes: 1,
        maxBytes: maxBytes * wants.length,
      });
      const answered = response.responses[0]?.partitions ?? [];
      for (const w of wants) {
        const p = answered.find((x) => x.partitionIndex === w.partition);
        if (p === undefined) {
          throw new Error(`no data for ${o.topic}/${w.partition} in the response`);
        }
        out.set(w.partition, readPartition(p, w.offset, committed));
      }
    }),
  );
  return o.partitions.map((w) => out.get(w.partition) as PartitionFetch);
}

type FetchedPartition = Awaited<
  ReturnType<Consumer['fetch']>
>['responses'][number]['partitions'][number];

/** One partition of a Fetch response: its records at or past `from`, aborted ones dropped. */
function readPartition(p: FetchedPartition, from: bigint, committed: boolean): PartitionFetch {
  const batches = p.records ?? [];
  let nextOffset = from;
  for (const b of batches) {
    const end = b.firstOffset + BigInt(b.lastOffsetDelta) + 1n;
    if (end > nextOffset) nextOffset = end;
  }
  const records: FetchedRecord[] = [];
  const kept = committed ? committedBatches(batches, p.abortedTransactions) : batches;
  for (const b of kept) {
    if ((b.attributes & (1 << 5)) !== 0) continue; // control batches are never data
    for (const r of b.records) {
      const offset = b.firstOffset + BigInt(r.offsetDelta);
      if (offset < from) continue; // a batch can start before the offset asked for
      records.push({
        offset,
        timestamp: b.firstTimestamp + r.timestampDelta,
        key: r.key,
        value: r.value,
      });
    }
  }
  return {
    records,
    nextOffset,
    highWatermark: p.highWatermark,
    lastStableOffset: p.lastStableOffset,
    logStartOffset: p.logStartOffset,
  };
}
