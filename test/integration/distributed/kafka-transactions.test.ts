/**
 * What the aggregator's exactly-once cycle relies on, against the real broker: a consume–
 * transform–produce transaction that commits the consumed offsets with the consumer-group
 * metadata (KIP-447); aborted data invisible to read_committed readers; fencing of a second
 * producer with the same transactional id and of a stale group generation; and the three
 * pitfalls reported by the earlier trial (restart with the same transactional id, stale
 * committed offsets, the retry delay on CONCURRENT_TRANSACTIONS).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  MessagesStreamModes,
  type Consumer,
  type Message,
  type MessagesStream,
  type Producer,
  type RetryDelayGetter,
} from '@platformatic/kafka';
import {
  admin,
  closeHelpers,
  createTopics,
  deleteNamespaceTopics,
  errorIds,
  fetcher,
  forceClose,
  idempotentProducer,
  percentile,
  readCommittedConsumer,
  readPartition,
  settled,
  transactionalProducer,
  uniqueNamespace,
} from './support.js';

type Msg = Message<Buffer, Buffer, Buffer, Buffer>;

const ns = uniqueNamespace('txn');
const IN = `${ns}.in`;
const OUT = `${ns}.out`;
const PARTITIONS = 3;
const INPUT = 30;
const a = admin();
const reader = fetcher(`${ns}-reader`);
const closers: Array<() => Promise<unknown>> = [];

/** A fresh instance (as a restarted process would be): producer id −1, epoch −1 at start. */
const RESTART = { producerId: -1n, producerEpoch: -1 };

before(async () => {
  await createTopics(a, [IN, OUT], PARTITIONS);
  await createTopics(a, [`${ns}.aborts`, `${ns}.bigabort`], 1);
  const p = idempotentProducer(`${ns}-seed`);
  await p.send({
    messages: Array.from({ length: INPUT }, (_, i) => ({
      topic: IN,
      partition: i % PARTITIONS,
      key: Buffer.from(`ad-${i}`),
      value: Buffer.from(String(i)),
    })),
  });
  await p.close();
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await forceClose(reader);
  await closeHelpers();
  await deleteNamespaceTopics(a, ns);
  await a.close();
});

function producer(name: string, retryDelay?: number | RetryDelayGetter): Producer {
  const p = transactionalProducer(`${ns}-${name}`, `${ns}-${name}`, retryDelay);
  closers.push(() => forceClose(p));
  return p;
}

function groupConsumer(group: string): Consumer {
  const c = readCommittedConsumer(`${ns}-${group}`);
  closers.push(() => forceClose(c));
  return c;
}

/** Joins the group and collects `n` messages of `topics`, then pauses the stream (membership stays). */
async function take(
  consumer: Consumer,
  n: number,
  topics = [IN],
): Promise<{ stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>; messages: Msg[] }> {
  const stream = await consumer.consume({
    topics,
    mode: MessagesStreamModes.COMMITTED,
    fallbackMode: 'earliest',
    sessionTimeout: 10_000,
    heartbeatInterval: 250,
    rebalanceTimeout: 10_000,
  });
  const messages: Msg[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`only ${messages.length} of ${n} messages in 30 s`)),
      30_000,
    );
    const onData = (m: Msg) => {
      messages.push(m);
      if (messages.length >= n) {
        clearTimeout(timer);
        stream.off('data', onData);
        stream.pause();
        resolve();
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
  });
  closers.push(() => stream.close());
  return { stream, messages };
}

/** The last message of each partition among `messages`. */
function lastPerPartition(messages: Msg[]): Msg[] {
  const last = new Map<number, Msg>();
  for (const m of messages) {
    const seen = last.get(m.partition);
    if (seen === undefined || m.offset > seen.offset) last.set(m.partition, m);
  }
  return [...last.values()];
}

async function committedOffsets(
  group: string,
  topic: string,
  requireStable: boolean,
): Promise<Map<number, bigint>> {
  const res = await a.listConsumerGroupOffsets({
    groups: [
      {
        groupId: group,
        topics: [
          { name: topic, partitionIndexes: Array.from({ length: PARTITIONS }, (_, i) => i) },
        ],
      },
    ],
    requireStable,
  });
  const out = new Map<number, bigint>();
  for (const t of res[0]?.topics ?? [])
    for (const p of t.partitions) out.set(p.partitionIndex, p.committedOffset);
  return out;
}

/**
 * Every value of `topic` once no transaction is open on it. EndTxn answers once the commit or
 * abort is decided; the markers that move the last stable offset are written after that, so a
 * read_committed read right after a commit can end short of it.
 */
async function allValues(
  topic: string,
  isolation: 'read_committed' | 'read_uncommitted' = 'read_committed',
): Promise<string[]> {
  const out: string[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    await settled(topic, p);
    out.push(...(await readPartition(reader, topic, p, { isolation })).map((r) => r.value));
  }
  return out.sort();
}

describe('Kafka transactions with @platformatic/kafka', () => {
  it('consume–transform–produce: output and consumed offsets commit together, with the group metadata (KIP-447)', async () => {
    const consumer = groupConsumer('ctp');
    const { messages } = await take(consumer, INPUT);
    assert.equal(messages.length, INPUT);
    const group = consumer.groupId;
    const meta = messages[0]?.metadata as { consumer: { generationId: number; memberId: string } };
    assert.ok(
      meta.consumer.generationId >= 1 && meta.consumer.memberId.length > 0,
      'messages carry the generation and member',
    );

    const p = producer('ctp');
    const txn = await p.beginTransaction(RESTART);
    await txn.send({
      messages: messages.map((m) => ({
        topic: OUT,
        partition: m.partition,
        key: m.key,
        value: Buffer.from(`x${String(m.value)}`),
      })),
    });
    await txn.addConsumer(consumer);
    for (const m of lastPerPartition(messages)) await txn.addOffset(m);
    await txn.commit();

    assert.deepEqual(await allValues(OUT), messages.map((m) => `x${String(m.value)}`).sort());
    const committed = await committedOffsets(group, IN, true);
    for (const m of lastPerPartition(messages))
      assert.equal(committed.get(m.partition), m.offset + 1n, `partition ${m.partition}`);
  });

  it('an aborted transaction is invisible to read_committed readers, and its offsets are not committed', async () => {
    const before = await allValues(OUT);
    const consumer = groupConsumer('abort');
    const { messages } = await take(consumer, INPUT);
    const p = producer('abort');
    const txn = await p.beginTransaction(RESTART);
    await txn.send({
      messages: [
        { topic: OUT, partition: 0, value: Buffer.from('aborted-1') },
        { topic: OUT, partition: 1, value: Buffer.from('aborted-2') },
      ],
    });
    await txn.addConsumer(consumer);
    for (const m of lastPerPartition(messages)) await txn.addOffset(m);
    await txn.abort();
    assert.deepEqual(await allValues(OUT), before, 'read_committed sees nothing of it');
    const uncommitted = await allValues(OUT, 'read_uncommitted');
    assert.ok(
      uncommitted.includes('aborted-1') && uncommitted.includes('aborted-2'),
      'yet it was written',
    );
    const offsets = [...(await committedOffsets(consumer.groupId, IN, true)).values()];
    assert.deepEqual(
      offsets,
      offsets.map(() => -1n),
      'no offsets committed for the group (-1: none)',
    );
  });

  it('several aborted transactions of one producer in one fetch: the client lets the earlier ones through; committedBatches does not', async () => {
    const topic = `${ns}.aborts`;
    const p = producer('aborts');
    const rounds: Array<[string, 'commit' | 'abort']> = [
      ['a1', 'abort'],
      ['c1', 'commit'],
      ['a2', 'abort'],
      ['c2', 'commit'],
      ['a3', 'abort'],
    ];
    for (const [tag, end] of rounds) {
      const txn = await p.beginTransaction(RESTART);
      await txn.send({
        messages: [0, 1, 2].map((i) => ({
          topic,
          partition: 0,
          value: Buffer.from(`${tag}-${i}`),
        })),
      });
      if (end === 'commit') await txn.commit();
      else await txn.abort();
    }
    const committed = ['c1-0', 'c1-1', 'c1-2', 'c2-0', 'c2-1', 'c2-2'];
    await settled(topic, 0);
    const ours = (await readPartition(reader, topic, 0, { filter: 'ours' })).map((r) => r.value);
    assert.deepEqual(ours, committed);
    const client = (await readPartition(reader, topic, 0, { filter: 'client' })).map(
      (r) => r.value,
    );
    // the finding: only the producer's last aborted transaction is filtered out
    assert.deepEqual(client, [
      'a1-0',
      'a1-1',
      'a1-2',
      ...committed.slice(0, 3),
      'a2-0',
      'a2-1',
      'a2-2',
      ...committed.slice(3),
    ]);
  });

  it('an aborted transaction cut by maxBytes before its marker: the client lets it through; committedBatches does not', async () => {
    const topic = `${ns}.bigabort`;
    const p = producer('bigabort');
    const big = Buffer.alloc(4000, 0x61);
    const txn = await p.beginTransaction(RESTART);
    for (let i = 0; i < 5; i++)
      await txn.send({
        messages: [{ topic, partition: 0, value: Buffer.concat([Buffer.from(`big-${i}:`), big]) }],
      });
    await txn.abort();
    const t2 = await p.beginTransaction(RESTART);
    await t2.send({ messages: [{ topic, partition: 0, value: Buffer.from('kept') }] });
    await t2.commit();
    await settled(topic, 0);
    // one batch per fetch: the abort marker is never in the same response as the aborted data
    const ours = await readPartition(reader, topic, 0, { filter: 'ours', maxBytes: 1024 });
    assert.deepEqual(
      ours.map((r) => r.value),
      ['kept'],
    );
    const client = await readPartition(reader, topic, 0, { filter: 'client', maxBytes: 1024 });
    assert.equal(
      client.filter((r) => r.value.startsWith('big-')).length,
      5,
      'the client returns the 5 aborted records',
    );
  });

  it('a second producer with the same transactional id fences the first (PRODUCER_FENCED); only its own transaction commits', async () => {
    const first = producer('fence');
    const t1 = await first.beginTransaction(RESTART);
    await t1.send({ messages: [{ topic: OUT, partition: 2, value: Buffer.from('zombie') }] });
    const second = transactionalProducer(`${ns}-fence-2`, `${ns}-fence`);
    closers.push(() => forceClose(second));
    const t2 = await second.beginTransaction(RESTART); // bumps the epoch and aborts t1
    await t2.send({ messages: [{ topic: OUT, partition: 2, value: Buffer.from('successor') }] });
    await t2.commit();
    const fenced = await t1.commit().then(
      (): string[] => [],
      (e: unknown) => errorIds(e),
    );
    assert.ok(
      fenced.includes('PRODUCER_FENCED') || fenced.includes('INVALID_PRODUCER_EPOCH'),
      `first producer's commit: ${fenced.join(', ') || 'succeeded'}`,
    );
    const values = await allValues(OUT);
    assert.ok(values.includes('successor'), 'the successor committed');
    assert.ok(!values.includes('zombie'), 'the fenced transaction is not visible');
  });

  it('a stale group generation is rejected (ILLEGAL_GENERATION) when its offsets are added to a transaction', async () => {
    const c1 = groupConsumer('gen');
    const { messages } = await take(c1, 1);
    const m = messages[0] as Msg;
    const g1 = (m.metadata as { consumer: { generationId: number } }).consumer.generationId;
    // a second member joins: the group rebalances and c1 rejoins with a newer generation
    const c2 = readCommittedConsumer(c1.groupId, `${ns}-gen-2`);
    closers.push(() => forceClose(c2));
    const joined = c2.consume({
      topics: [IN],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: 'earliest',
      sessionTimeout: 10_000,
      heartbeatInterval: 250,
      rebalanceTimeout: 10_000,
    });
    const deadline = Date.now() + 30_000;
    while (c1.generationId <= g1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    assert.ok(c1.generationId > g1, `c1 rejoined (generation ${c1.generationId}, was ${g1})`);
    closers.push(async () => (await joined).close());
    const p = producer('gen');
    const txn = await p.beginTransaction(RESTART);
    await txn.send({ messages: [{ topic: OUT, partition: 0, value: Buffer.from('gen') }] });
    await txn.addConsumer(c1);
    const ids = await txn.addOffset(m).then(
      (): string[] => [],
      (e: unknown) => errorIds(e),
    );
    assert.ok(
      ids.includes('ILLEGAL_GENERATION'),
      `offsets of generation ${g1}: ${ids.join(', ') || 'accepted'}`,
    );
    await txn.abort();
  });

  it('pitfall 1: a restarted producer with the same transactional id is fenced at start-up unless it sends producer id −1 and epoch −1', async () => {
    const life1 = producer('restart');
    const t = await life1.beginTransaction(); // a new transactional id: the client's defaults pass
    await t.send({ messages: [{ topic: OUT, partition: 0, value: Buffer.from('life-1') }] });
    await t.commit();
    // the process "restarts": a new client instance, the same transactional id
    const life2 = transactionalProducer(`${ns}-restart-2`, `${ns}-restart`);
    closers.push(() => forceClose(life2));
    const ids = await life2.beginTransaction().then(
      (): string[] => [],
      (e: unknown) => errorIds(e),
    );
    assert.ok(ids.length > 0, 'the client default (producer id 0, epoch 0) is refused');
    const life3 = transactionalProducer(`${ns}-restart-3`, `${ns}-restart`);
    closers.push(() => forceClose(life3));
    const t3 = await life3.beginTransaction(RESTART);
    await t3.send({ messages: [{ topic: OUT, partition: 0, value: Buffer.from('life-3') }] });
    await t3.commit();
    const values = await allValues(OUT);
    assert.ok(values.includes('life-1') && values.includes('life-3'));
    console.log(
      `# pitfall 1: a restart with the client's default InitProducerId got ${ids.join(', ')}`,
    );
  });

  it('pitfall 2: committed offsets read right after a commit are exact when read as stable (requireStable)', async () => {
    const consumer = groupConsumer('stable');
    const { messages } = await take(consumer, INPUT);
    const ordered = [...messages].sort(
      (x, y) => x.partition - y.partition || (x.offset < y.offset ? -1 : 1),
    );
    const p = producer('stable');
    let staleUnstable = 0;
    let staleConsumer = 0;
    for (const m of ordered) {
      const txn = await p.beginTransaction(RESTART);
      await txn.send({
        messages: [{ topic: OUT, partition: 0, value: Buffer.from(`s${String(m.value)}`) }],
      });
      await txn.addConsumer(consumer);
      await txn.addOffset(m);
      await txn.commit();
      const want = m.offset + 1n;
      const [loose, viaConsumer, stable] = await Promise.all([
        committedOffsets(consumer.groupId, IN, false),
        consumer.listCommittedOffsets({ topics: [{ topic: IN, partitions: [m.partition] }] }),
        committedOffsets(consumer.groupId, IN, true),
      ]);
      if (loose.get(m.partition) !== want) staleUnstable++;
      if (viaConsumer.get(IN)?.[m.partition] !== want) staleConsumer++;
      assert.equal(stable.get(m.partition), want, 'requireStable read right after the commit');
    }
    console.log(
      `# pitfall 2: of ${ordered.length} reads right after a commit, requireStable=false was stale ${staleUnstable}x, ` +
        `Consumer.listCommittedOffsets (always requireStable=false) ${staleConsumer}x, requireStable=true 0x`,
    );
  });

  it('pitfall 3: the default retryDelay (1 s) costs a second per CONCURRENT_TRANSACTIONS; a short delay for it alone does not', async () => {
    const consumer = groupConsumer('latency');
    const { messages } = await take(consumer, INPUT);
    const m = messages[messages.length - 1] as Msg;
    async function cycles(p: Producer, n: number): Promise<number[]> {
      const took: number[] = [];
      for (let i = 0; i < n; i++) {
        const began = performance.now();
        const txn = await p.beginTransaction(RESTART);
        await txn.send({
          messages: [{ topic: OUT, partition: i % PARTITIONS, value: Buffer.from(`l${i}`) }],
        });
        await txn.addConsumer(consumer);
        await txn.addOffset(m);
        await txn.commit();
        took.push(performance.now() - began);
      }
      return took.sort((x, y) => x - y);
    }
    const seen: string[] = [];
    const defaultDelay: RetryDelayGetter = (_c, _op, _attempt, _retries, error) => {
      seen.push(...errorIds(error));
      return 1000; // the client's default retryDelay
    };
    const slow = await cycles(producer('latency-default', defaultDelay), 6);
    const fast = await cycles(producer('latency-fast'), 30);
    const concurrent = seen.filter((id) => id === 'CONCURRENT_TRANSACTIONS').length;
    console.log(
      `# pitfall 3: retryDelay 1000 ms: ${slow.map((t) => t.toFixed(0)).join(', ')} ms per transaction ` +
        `(CONCURRENT_TRANSACTIONS retried ${concurrent}x); short delay on it: p50 ${percentile(fast, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(fast, 99).toFixed(1)} ms over ${fast.length}`,
    );
    // every CONCURRENT_TRANSACTIONS retry under the default waits the whole second
    assert.ok((slow[slow.length - 1] as number) >= 1000 || concurrent === 0);
    assert.ok(percentile(fast, 50) < 500, `short-delay p50 ${percentile(fast, 50)} ms`);
  });
});
