/**
 * Topic and group bookkeeping of the distributed mode: creating `<ns>.aggregates` beside the
 * clicks topic, and reading the aggregator group's committed offsets (lag, status).
 */
import { Admin, Consumer, ListOffsetTimestamps } from '@platformatic/kafka';
import { TallyError } from '../../core/errors.js';
import { forceCloseQuietly, kafkaErrorIds, transactionalRetryDelay } from '../kafka/retry.js';

/** Creates the topic with `partitions` when absent; refuses one with another count. */
export async function ensureTopic(
  brokers: string[],
  topic: string,
  partitions: number,
): Promise<void> {
  const admin = new Admin({ clientId: `tally-topics-${topic}`, bootstrapBrokers: brokers });
  try {
    if (!(await admin.listTopics()).includes(topic)) {
      // several processes may start at once: one of them creates it
      await admin
        .createTopics({ topics: [topic], partitions, replicas: -1 })
        .catch((e: unknown) => {
          if (!kafkaErrorIds(e).includes('TOPIC_ALREADY_EXISTS')) throw e;
        });
    }
    await topicReady(admin, topic, partitions);
  } finally {
    await admin.close();
  }
}

/**
 * Resolves once every partition of the topic has a leader: the metadata can lag a creation, and
 * a produce to a partition without one fails. Refuses a topic with another partition count.
 */
export async function topicReady(admin: Admin, topic: string, partitions: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const md = await admin.metadata({ topics: [topic], forceUpdate: true });
    const t = md.topics.get(topic);
    if (t !== undefined && t.partitionsCount !== partitions) {
      throw new TallyError(
        'TALLY_CONFIG_INVALID',
        `the Kafka topic ${topic} has ${t.partitionsCount} partitions, the config says ${partitions}`,
        { field: 'partitions' },
      );
    }
    if (t !== undefined && t.partitions.every((p) => p.leader >= 0)) return;
    if (Date.now() > deadline) throw new Error(`topic ${topic}: partitions without a leader`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads a consumer group's committed offsets of one topic (what the broker holds). */
export class GroupOffsets {
  private readonly admin: Admin;
  private readonly lister: Consumer;
  constructor(
    brokers: string[],
    private readonly groupId: string,
    private readonly topic: string,
    private readonly partitions: number,
  ) {
    this.admin = new Admin({
      clientId: `${groupId}-offsets`,
      bootstrapBrokers: brokers,
      retryDelay: transactionalRetryDelay,
    });
    this.lister = new Consumer({
      clientId: `${groupId}-ends`,
      groupId: `${groupId}-ends-unused`, // never joined: offsets listing only
      bootstrapBrokers: brokers,
    });
  }

  /** the last stable offset (read_committed end) of every partition of `topic` */
  async ends(topic: string): Promise<number[]> {
    const all = Array.from({ length: this.partitions }, (_, p) => p);
    const r = await this.lister.listOffsets({
      topics: [topic],
      partitions: { [topic]: all },
      timestamp: ListOffsetTimestamps.LATEST,
      isolationLevel: 1,
    });
    return (r.get(topic) ?? []).map(Number);
  }

  /** next offset per partition; a partition with nothing committed is absent */
  async read(): Promise<Map<number, number>> {
    const res = await this.admin.listConsumerGroupOffsets({
      groups: [
        {
          groupId: this.groupId,
          topics: [
            {
              name: this.topic,
              partitionIndexes: Array.from({ length: this.partitions }, (_, p) => p),
            },
          ],
        },
      ],
      requireStable: true,
    });
    const out = new Map<number, number>();
    for (const t of res[0]?.topics ?? [])
      for (const p of t.partitions)
        if (p.committedOffset >= 0n) out.set(p.partitionIndex, Number(p.committedOffset));
    return out;
  }

  async close(): Promise<void> {
    // a lag reader: nothing to flush, a broker that is gone must not fail the stop
    await this.admin.close().catch(() => undefined);
    await forceCloseQuietly(this.lister);
  }
}
