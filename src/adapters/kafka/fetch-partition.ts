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
  const metadata = await consumer.metadata({ topics: [o.topic] });
  const topic = metadata.topics.get(o.topic);
  const leader = topic?.partitions[o.partition]?.leader;
  if (topic === undefined || leader === undefined) {
    throw new Error(`no leader for ${o.topic}/${o.partition}`);
  }
  const maxBytes = o.maxBytes ?? 1 << 20;
  const committed = (o.isolation ?? 'read_committed') === 'read_committed';
  const response = await consumer.fetch({
    node: leader,
    topics: [
      {
        topicId: topic.id,
        partitions: [
          {
            partition: o.partition,
            fetchOffset: o.offset,
            partitionMaxBytes: maxBytes,
            currentLeaderEpoch: -1,
            lastFetchedEpoch: -1,
          },
        ],
      },
    ],
    isolationLevel: committed
      ? FetchIsolationLevels.READ_COMMITTED
      : FetchIsolationLevels.READ_UNCOMMITTED,
    maxWaitTime: o.maxWaitMs ?? 0,
    minBytes: 1,
    maxBytes,
  });
  const p = response.responses[0]?.partitions.find((x) => x.partitionIndex === o.partition);
  if (p === undefined) throw new Error(`no data for ${o.topic}/${o.partition} in the response`);
  const batches = p.records ?? [];
  let nextOffset = o.offset;
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
      if (offset < o.offset) continue; // a batch can start before the offset asked for
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
