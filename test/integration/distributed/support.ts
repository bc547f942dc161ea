/**
 * What the distributed tests share: where the broker and the database are (the config's
 * defaults, TALLY_KAFKA_BROKERS / TALLY_DATABASE_URL; `npm test` brings both up), a namespace
 * of their own per run so that runs sharing one broker never see each other's data, and the
 * client settings the findings of these tests call for.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Admin,
  Consumer,
  FetchIsolationLevels,
  Producer,
  type RetryDelayGetter,
} from '@platformatic/kafka';
import { fetchPartition } from '../../../src/adapters/kafka/fetch-partition.js';

// the SPEC §5 environment and defaults (the config gets these keys with the distributed mode)
export const BROKERS = (process.env.TALLY_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const DATABASE_URL =
  process.env.TALLY_DATABASE_URL ?? 'postgres://tally@127.0.0.1:5433/tally';

/** The repository root (tests run from dist/test/...). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** `t<time><random>`: a topic prefix and PostgreSQL schema name of [a-z0-9_] that no other run uses. */
export function uniqueNamespace(what: string): string {
  return `t_${what}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

/** The SPEC §5 topics of a namespace. */
export function topicNames(ns: string) {
  return {
    clicksIn: `${ns}.clicks.in`,
    clicks: `${ns}.clicks`,
    aggregates: `${ns}.aggregates`,
    deadletters: `${ns}.deadletters`,
  };
}

/**
 * Retry delays by error: the broker answers CONCURRENT_TRANSACTIONS to the next transaction's
 * first request while it still writes the previous one's markers (a few ms), and
 * UNSTABLE_OFFSET_COMMIT while transactional offsets are pending; both clear within
 * milliseconds, so waiting the client's default second for them costs a second per
 * transaction. Anything else (coordinator moves, broker restarts) backs off as before.
 */
export const transactionalRetryDelay: RetryDelayGetter = (
  _client,
  _op,
  attempt,
  _retries,
  error,
) => {
  const e = error as { findBy?: (k: string, v: unknown) => unknown };
  const quick =
    e.findBy?.('apiId', 'CONCURRENT_TRANSACTIONS') ?? e.findBy?.('apiId', 'UNSTABLE_OFFSET_COMMIT');
  if (quick) return Math.min(5 * 2 ** Math.min(attempt, 4), 50);
  return Math.min(100 * 2 ** Math.min(attempt, 4), 1000);
};

export function admin(clientId = 'tally-test-admin'): Admin {
  return new Admin({ clientId, bootstrapBrokers: BROKERS, retries: 10, retryDelay: 200 });
}

export async function createTopics(a: Admin, topics: string[], partitions: number): Promise<void> {
  await a.createTopics({ topics, partitions, replicas: 1 });
  // the metadata can lag the creation by a moment: wait until every partition has a leader
  const deadline = Date.now() + 30_000;
  for (;;) {
    const md = await a.metadata({ topics, forceUpdate: true }).catch(() => undefined);
    const ready =
      md !== undefined &&
      topics.every((t) => {
        const tm = md.topics.get(t);
        return (
          tm !== undefined &&
          tm.partitionsCount === partitions &&
          tm.partitions.every((p) => p.leader >= 0)
        );
      });
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`topics ${topics.join(', ')} not ready in 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Deletes every topic of the namespace (tests clean up after themselves). */
export async function deleteNamespaceTopics(a: Admin, ns: string): Promise<void> {
  const all = await a.listTopics();
  const mine = all.filter((t) => t.startsWith(`${ns}.`));
  if (mine.length > 0) await a.deleteTopics({ topics: mine });
}

export function idempotentProducer(clientId: string): Producer {
  return new Producer({
    clientId,
    bootstrapBrokers: BROKERS,
    idempotent: true,
    acks: -1,
    retryDelay: transactionalRetryDelay,
  });
}

/**
 * A transactional producer. `producerId: -1n, producerEpoch: -1` at the start are what a
 * process restarting with the same transactional id must send (see kafka-transactions.test).
 */
export function transactionalProducer(
  clientId: string,
  transactionalId: string,
  retryDelay: number | RetryDelayGetter = transactionalRetryDelay,
): Producer {
  return new Producer({
    clientId,
    bootstrapBrokers: BROKERS,
    idempotent: true,
    transactionalId,
    retryDelay,
  });
}

/**
 * A group member for transactional consumption: read_committed, and autocommit off (the
 * client's default is on: the stream would commit offsets outside the transactions).
 */
export function readCommittedConsumer(groupId: string, clientId = groupId): Consumer {
  return new Consumer({
    clientId,
    groupId,
    bootstrapBrokers: BROKERS,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    autocommit: false,
    maxWaitTime: 200,
    retryDelay: transactionalRetryDelay,
  });
}

let classpathCache: string | undefined;
/** The broker's jars (kafka-clients among them), for running Kafka's own Java client. */
export function kafkaClasspath(): string {
  if (classpathCache !== undefined) return classpathCache;
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'services.mjs'), 'classpath'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`services.mjs classpath failed: ${r.stderr}`);
  classpathCache = r.stdout.trim();
  return classpathCache;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

/**
 * Every record of one partition from `from` to its end (the last stable offset when
 * read_committed, the high watermark otherwise), fetched `maxBytes` at a time. `filter`:
 * 'ours' = the client's filter then committedBatches (what the distributed mode uses);
 * 'client' = the client's read_committed filter alone.
 */
export async function readPartition(
  consumer: Consumer,
  topic: string,
  partition: number,
  o: {
    isolation?: 'read_committed' | 'read_uncommitted';
    filter?: 'ours' | 'client';
    maxBytes?: number;
    from?: bigint;
  } = {},
): Promise<Array<{ offset: bigint; value: string }>> {
  const isolation = o.isolation ?? 'read_committed';
  const out: Array<{ offset: bigint; value: string }> = [];
  let offset = o.from ?? 0n;
  for (let i = 0; i < 100_000; i++) {
    if (o.filter === 'client') {
      const md = await consumer.metadata({ topics: [topic] });
      const t = md.topics.get(topic);
      const r = await consumer.fetch({
        node: t?.partitions[partition]?.leader as number,
        topics: [
          {
            topicId: t?.id as string,
            partitions: [
              {
                partition,
                fetchOffset: offset,
                partitionMaxBytes: o.maxBytes ?? 1 << 20,
                currentLeaderEpoch: -1,
                lastFetchedEpoch: -1,
              },
            ],
          },
        ],
        isolationLevel:
          isolation === 'read_committed'
            ? FetchIsolationLevels.READ_COMMITTED
            : FetchIsolationLevels.READ_UNCOMMITTED,
        maxWaitTime: 0,
        minBytes: 1,
        maxBytes: o.maxBytes ?? 1 << 20,
      });
      const p = r.responses[0]?.partitions[0];
      const end =
        isolation === 'read_committed' ? (p?.lastStableOffset ?? 0n) : (p?.highWatermark ?? 0n);
      for (const b of p?.records ?? []) {
        const last = b.firstOffset + BigInt(b.lastOffsetDelta) + 1n;
        if (last > offset) offset = last;
        if ((b.attributes & (1 << 5)) !== 0) continue;
        for (const rec of b.records)
          out.push({ offset: b.firstOffset + BigInt(rec.offsetDelta), value: String(rec.value) });
      }
      if (offset >= end) return out;
    } else {
      const f = await fetchPartition(consumer, {
        topic,
        partition,
        offset,
        isolation,
        ...(o.maxBytes ? { maxBytes: o.maxBytes } : {}),
      });
      for (const r of f.records) out.push({ offset: r.offset, value: String(r.value) });
      offset = f.nextOffset;
      if (offset >= (isolation === 'read_committed' ? f.lastStableOffset : f.highWatermark))
        return out;
    }
  }
  throw new Error(`readPartition ${topic}/${partition} did not reach the end`);
}

/** A consumer used only for manual-assignment fetches (its group is never joined). */
export function fetcher(clientId: string): Consumer {
  return new Consumer({
    clientId,
    groupId: `${clientId}-unused`,
    bootstrapBrokers: BROKERS,
    retryDelay: 100,
  });
}

/** The error ids (apiId) anywhere in a client error chain, e.g. ['PRODUCER_FENCED']. */
export function errorIds(e: unknown): string[] {
  const ids: string[] = [];
  const walk = (x: unknown, depth: number) => {
    if (x === null || typeof x !== 'object' || depth > 6) return;
    const o = x as { apiId?: unknown; errors?: unknown[]; cause?: unknown };
    if (typeof o.apiId === 'string') ids.push(o.apiId);
    for (const inner of o.errors ?? []) walk(inner, depth + 1);
    walk(o.cause, depth + 1);
  };
  walk(e, 0);
  return [...new Set(ids)];
}

/** close(true) (force: pending streams too) as a promise; the typed overloads make it void. */
export function forceClose(client: {
  close(force: boolean, callback: (error?: Error | null) => void): void;
}): Promise<void> {
  return new Promise((resolve, reject) => client.close(true, (e) => (e ? reject(e) : resolve())));
}

/** Waits until no transaction is open on the partition (last stable offset = high watermark). */
export async function settled(
  topic: string,
  partition: number,
  consumer?: Consumer,
): Promise<void> {
  const c = consumer ?? settledReader();
  const deadline = Date.now() + 20_000;
  for (;;) {
    const f = await fetchPartition(c, { topic, partition, offset: 0n, maxBytes: 1 });
    if (f.lastStableOffset >= f.highWatermark) return;
    if (Date.now() > deadline)
      throw new Error(
        `${topic}/${partition}: a transaction stays open (LSO ${f.lastStableOffset}, HW ${f.highWatermark})`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}

let settledConsumer: Consumer | undefined;
function settledReader(): Consumer {
  settledConsumer ??= fetcher('tally-test-settled');
  return settledConsumer;
}

/** Closes what the helpers opened for themselves. */
export async function closeHelpers(): Promise<void> {
  if (settledConsumer !== undefined) await forceClose(settledConsumer);
  settledConsumer = undefined;
}
