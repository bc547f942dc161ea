/**
 * Throughput probe of @platformatic/kafka against the local broker (not a test: figures only):
 *
 *   npm run services:up && npx tsc -p tsconfig.json
 *   node dist/test/integration/distributed/kafka-throughput.js [events]
 *
 * 1. produce: idempotent, acks=all, click-like JSON (~130 bytes) keyed by ad_id, the partition
 *    computed by partitionFor, `BATCH` messages per send() (the producer allows one in flight);
 * 2. consume read_committed: our fetch loop (fetchPartition, 1 MiB per partition per fetch),
 *    and the client's MessagesStream;
 * 3. transactions: consume–transform–produce cycles of `TXN_RECORDS` records each (send to
 *    the output topic, addOffset with the group metadata, commit): latency p50/p99.
 * Each run uses a namespace of its own and deletes its topics at the end.
 */
import { MessagesStreamModes, type Message } from '@platformatic/kafka';
import { partitionFor } from '../../../src/core/event/index.js';
import { fetchPartition } from '../../../src/adapters/kafka/fetch-partition.js';
import {
  admin,
  createTopics,
  deleteNamespaceTopics,
  fetcher,
  forceClose,
  idempotentProducer,
  percentile,
  readCommittedConsumer,
  transactionalProducer,
  uniqueNamespace,
} from './support.js';

const EVENTS = Number(process.argv[2] ?? 400_000);
const PARTITIONS = 8;
const BATCH = 5000;
const TXN_CYCLES = 100;
const TXN_RECORDS = 1000;

const ns = uniqueNamespace('tput');
const IN = `${ns}.clicks`;
const OUT = `${ns}.aggregates`;
const a = admin();

function click(i: number): { ad: string; value: Buffer } {
  const ad = `ad-${(i * 7919) % 100_000}`;
  const json = `{"ad_id":"${ad}","timestamp":"2026-11-25T10:${String(Math.floor(i / 60_000) % 60).padStart(2, '0')}:00Z","event_id":"e-${i}","user_id":"u-${i % 5000}","country":"US"}`;
  return { ad, value: Buffer.from(json) };
}

async function produce(): Promise<void> {
  const p = idempotentProducer(`${ns}-producer`);
  const began = performance.now();
  for (let i = 0; i < EVENTS; i += BATCH) {
    const messages = [];
    for (let j = i; j < Math.min(EVENTS, i + BATCH); j++) {
      const c = click(j);
      messages.push({
        topic: IN,
        key: Buffer.from(c.ad),
        value: c.value,
        partition: partitionFor(c.ad, PARTITIONS),
      });
    }
    await p.send({ messages });
  }
  const secs = (performance.now() - began) / 1000;
  console.log(
    `produce (idempotent, acks=all, ${BATCH}/send): ${Math.round(EVENTS / secs)} events/s (${secs.toFixed(1)} s)`,
  );
  await p.close();
}

async function consumeOurs(): Promise<void> {
  const c = fetcher(`${ns}-fetch`);
  const began = performance.now();
  let n = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    let offset = 0n;
    for (;;) {
      const f = await fetchPartition(c, { topic: IN, partition: p, offset, maxBytes: 1 << 20 });
      n += f.records.length;
      offset = f.nextOffset;
      if (offset >= f.lastStableOffset) break;
    }
  }
  const secs = (performance.now() - began) / 1000;
  console.log(
    `consume read_committed, fetchPartition loop: ${Math.round(n / secs)} events/s (${n} in ${secs.toFixed(1)} s)`,
  );
  await forceClose(c);
}

async function consumeStream(): Promise<void> {
  const c = readCommittedConsumer(`${ns}-stream`);
  const began = performance.now();
  const stream = await c.consume({
    topics: [IN],
    mode: MessagesStreamModes.EARLIEST,
    maxBytesPerPartition: 1 << 20,
  });
  let n = 0;
  for await (const _m of stream) {
    if (++n >= EVENTS) break;
  }
  const secs = (performance.now() - began) / 1000;
  console.log(
    `consume read_committed, MessagesStream: ${Math.round(n / secs)} events/s (${n} in ${secs.toFixed(1)} s)`,
  );
  await forceClose(c);
}

async function transactions(): Promise<void> {
  const c = readCommittedConsumer(`${ns}-txn`);
  const stream = await c.consume({
    topics: [IN],
    mode: MessagesStreamModes.EARLIEST,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
  });
  const p = transactionalProducer(`${ns}-txn`, `${ns}-txn`);
  const took: number[] = [];
  const pending: Message<Buffer, Buffer, Buffer, Buffer>[] = [];
  const began = performance.now();
  for await (const m of stream) {
    pending.push(m);
    if (pending.length < TXN_RECORDS) continue;
    const t0 = performance.now();
    const txn = await p.beginTransaction({ producerId: -1n, producerEpoch: -1 });
    await txn.send({
      messages: pending.map((x) => ({
        topic: OUT,
        partition: x.partition,
        key: x.key,
        value: x.value,
      })),
    });
    await txn.addConsumer(c);
    const last = new Map<number, Message<Buffer, Buffer, Buffer, Buffer>>();
    for (const x of pending) last.set(x.partition, x);
    for (const x of last.values()) await txn.addOffset(x);
    await txn.commit();
    took.push(performance.now() - t0);
    pending.length = 0;
    if (took.length >= TXN_CYCLES) break;
  }
  const secs = (performance.now() - began) / 1000;
  took.sort((x, y) => x - y);
  console.log(
    `transactions of ${TXN_RECORDS} records (send + offsets + commit): p50 ${percentile(took, 50).toFixed(1)} ms, ` +
      `p99 ${percentile(took, 99).toFixed(1)} ms, max ${took[took.length - 1]?.toFixed(1)} ms; ` +
      `${Math.round((took.length * TXN_RECORDS) / secs)} events/s through the cycle`,
  );
  await p.close();
  await forceClose(c);
}

try {
  await createTopics(a, [IN, OUT], PARTITIONS);
  await produce();
  await consumeOurs();
  await consumeStream();
  await transactions();
} finally {
  await deleteNamespaceTopics(a, ns);
  await a.close();
}
