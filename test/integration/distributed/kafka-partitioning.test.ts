/**
 * Topics of a namespace and where keyed records land. The embedded log places an ad on
 * partition `(murmur2(utf8(ad_id)) & 0x7fffffff) % n` (core/event/hash partitionFor) so that a
 * Kafka topic keyed by ad_id agrees with it; these tests check that against the broker, Kafka's
 * own Java producer and @platformatic/kafka's partitioners.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  compatibilityPartitioner,
  Consumer,
  defaultPartitioner,
  MessagesStreamModes,
} from '@platformatic/kafka';
import { partitionFor } from '../../../src/core/event/index.js';
import {
  admin,
  BROKERS,
  createTopics,
  deleteNamespaceTopics,
  forceClose,
  idempotentProducer,
  kafkaClasspath,
  ROOT,
  topicNames,
  uniqueNamespace,
} from './support.js';

const ns = uniqueNamespace('part');
const a = admin();
const ADS = Array.from({ length: 300 }, (_, i) => `ad-${i}`);

before(async () => {
  // 6 partitions (not a power of two: the unsigned/positive difference below shows) and 8
  await createTopics(a, Object.values(topicNames(ns)), 6);
  await createTopics(a, [`${ns}.p8`], 8);
});

after(async () => {
  await deleteNamespaceTopics(a, ns);
  await a.close();
});

/** Reads `count` records of `topic` from the beginning: key → partition. */
async function placements(topic: string, count: number): Promise<Map<string, number>> {
  const consumer = new Consumer({
    clientId: `${ns}-reader`,
    groupId: `${ns}-reader-${topic}`,
    bootstrapBrokers: BROKERS,
    maxWaitTime: 200,
  });
  const out = new Map<string, number>();
  try {
    const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST });
    for await (const m of stream) {
      out.set(String(m.key), m.partition);
      if (out.size >= count) break;
    }
    await stream.close();
  } finally {
    await forceClose(consumer);
  }
  return out;
}

describe('Kafka topics and partitioning', () => {
  it('creates the namespace topics up front, with the partition count asked for, and lists only its own', async () => {
    const names = Object.values(topicNames(ns));
    const md = await a.metadata({ topics: names, forceUpdate: true });
    for (const t of names) assert.equal(md.topics.get(t)?.partitionsCount, 6, t);
    const listed = (await a.listTopics()).filter((t) => t.startsWith(`${ns}.`)).sort();
    assert.deepEqual(listed, [...names, `${ns}.p8`].sort());
    // another namespace is another set of names: nothing of ours under it
    const other = uniqueNamespace('part');
    assert.equal((await a.listTopics()).filter((t) => t.startsWith(`${other}.`)).length, 0);
  });

  it("places keyed records where Kafka's Java producer does, which is partitionFor", async () => {
    const topics = [
      [topicNames(ns).clicksIn, 6],
      [`${ns}.p8`, 8],
    ] as const;
    const r = spawnSync(
      'java',
      [
        '-cp',
        kafkaClasspath(),
        join(ROOT, 'test/integration/distributed/KeyedProducer.java'),
        BROKERS.join(','),
        ...topics.map(([t]) => t),
      ],
      { input: ADS.join('\n') + '\n', encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(r.status, 0, `java KeyedProducer failed: ${r.stderr}`);
    const acked = new Map(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' '))
        .map(([t, k, p]) => [`${t} ${k}`, Number(p)]),
    );
    assert.equal(acked.size, ADS.length * topics.length);
    for (const [topic, n] of topics) {
      for (const ad of ADS) {
        assert.equal(
          acked.get(`${topic} ${ad}`),
          partitionFor(ad, n),
          `${ad} on ${n} partitions (Java's ack)`,
        );
      }
      // and the broker holds them there: read back from the partitions
      const stored = await placements(topic, ADS.length);
      for (const ad of ADS)
        assert.equal(stored.get(ad), partitionFor(ad, n), `${ad} stored on ${n} partitions`);
    }
  });

  it('an idempotent acks=all producer of @platformatic/kafka lands keyed records on partitionFor with compatibilityPartitioner', async () => {
    const producer = idempotentProducer(`${ns}-producer`);
    try {
      const topic = topicNames(ns).clicks;
      const res = await producer.send({
        messages: ADS.map((ad) => ({
          topic,
          key: Buffer.from(ad),
          value: Buffer.from(`{"ad_id":"${ad}"}`),
        })),
        partitioner: compatibilityPartitioner,
      });
      assert.ok((res.offsets?.length ?? 0) > 0);
      const stored = await placements(topic, ADS.length);
      for (const ad of ADS) assert.equal(stored.get(ad), partitionFor(ad, 6), ad);
    } finally {
      await producer.close();
    }
  });

  it("@platformatic/kafka's defaultPartitioner is not Kafka's: unsigned murmur2, so it differs unless n divides 2^31", () => {
    // defaultPartitioner returns murmur2 >>> 0 and the producer takes it modulo n; Kafka masks
    // the sign bit (& 0x7fffffff). With 8 partitions both agree; with 6 they do not: the
    // distributed mode must pass the partition it computed (or compatibilityPartitioner).
    const message = { topic: 't' };
    const placed = (fn: (m: typeof message, key: Buffer) => number, ad: string, n: number) =>
      fn(message, Buffer.from(ad)) % n;
    const differs6 = ADS.filter((ad) => placed(defaultPartitioner, ad, 6) !== partitionFor(ad, 6));
    assert.ok(differs6.length > 0, 'some ads land elsewhere on 6 partitions');
    for (const ad of ADS) {
      assert.equal(placed(defaultPartitioner, ad, 8), partitionFor(ad, 8), ad);
      assert.equal(placed(compatibilityPartitioner, ad, 6), partitionFor(ad, 6), ad);
    }
  });
});
