/**
 * The ingest role's intake from `<ns>.clicks.in` through the real command line: two
 * `tally start --mode distributed --role ingest` processes consume JSON clicks that a plain
 * Kafka producer writes, one of them is killed with SIGKILL mid-stream, and in the end every
 * valid click is on `<ns>.clicks` exactly once (keyed by its ad_id, on its ad_id's partition)
 * and every invalid one is a dead letter naming its topic, partition and offset.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ListOffsetTimestamps, type Consumer } from '@platformatic/kafka';
import { fetchPartition } from '../../../src/adapters/kafka/fetch-partition.js';
import { decodeAll } from '../../../src/core/event/codec.js';
import { partitionFor } from '../../../src/core/event/hash.js';
import { distributedFixture } from './fixture.js';
import { idempotentProducer, readPartition, settled } from './support.js';

const PARTITIONS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('clicks.in intake: two ingest processes, one killed, exactly once', () => {
  const f = distributedFixture('intake');
  const { ns, topics } = f;
  const a = f.admin();
  const reader = f.reader();
  const startIngest = () => f.start('ingest', { env: { TALLY_PARTITIONS: String(PARTITIONS) } });

  it('every valid click once on <ns>.clicks, keyed by ad_id; every invalid one a dead letter with its coordinates', async () => {
    // both join at once: the producer is initialised before the member joins, so neither waits
    // out a rebalance timeout
    const [p1, p2] = await Promise.all([startIngest(), startIngest()]);
    const health = (await (await fetch(`${p1.base}/healthz`)).json()) as { ready: boolean };
    assert.equal(health.ready, true);

    const producer = idempotentProducer(`${ns}-feed`);
    const now = Date.now();
    const valid = new Map<string, string>(); // event_id -> ad_id
    const invalid: string[] = [];
    let n = 0;
    const round = async (count: number) => {
      const messages: Array<{ topic: string; value: Buffer; key?: Buffer }> = [];
      for (let i = 0; i < count; i++, n++) {
        let text: string;
        if (n % 10 === 7) {
          text = [
            `{"ad_id":"bad ad ${n}","timestamp":${now}}`,
            `not json ${n}`,
            // one click per message: an array, or two values, is rejected whole
            `[{"ad_id":"ad-${n}","timestamp":${now}}]`,
            `{"ad_id":"ad-${n}","timestamp":${now}}\n{"ad_id":"ad-${n}","timestamp":${now}}`,
          ][Math.floor(n / 10) % 4] as string;
          invalid.push(text);
        } else {
          const ad = `ad-${n % 37}`;
          const id = `e-${n}`;
          valid.set(id, ad);
          text = JSON.stringify({ ad_id: ad, timestamp: now - (n % 50) * 1000, event_id: id });
        }
        // key optional: some with one, some without
        messages.push({
          topic: topics.clicksIn,
          value: Buffer.from(text),
          ...(n % 3 === 0 ? { key: Buffer.from(`k${n}`) } : {}),
        });
      }
      await producer.send({ messages });
    };
    // SIGKILL one process while clicks keep coming
    for (let i = 0; i < 15; i++) {
      await round(300);
      if (i === 6) await p2.kill9();
      await sleep(30);
    }
    await producer.close();

    // consumed: the group's committed offsets (read as stable) reach the ends of clicks.in
    const ends = (
      await reader.listOffsets({
        topics: [topics.clicksIn],
        partitions: { [topics.clicksIn]: [0, 1, 2, 3] },
        timestamp: ListOffsetTimestamps.LATEST,
      })
    ).get(topics.clicksIn) as bigint[];
    const deadline = Date.now() + 90_000;
    for (;;) {
      const res = await a
        .listConsumerGroupOffsets({
          groups: [
            {
              groupId: `${ns}.ingest`,
              topics: [{ name: topics.clicksIn, partitionIndexes: [0, 1, 2, 3] }],
            },
          ],
          requireStable: true,
        })
        .catch(() => undefined);
      const committed = new Map(
        (res?.[0]?.topics[0]?.partitions ?? []).map((p) => [p.partitionIndex, p.committedOffset]),
      );
      if (ends.every((e, p) => (committed.get(p) ?? -1n) >= e)) break;
      assert.ok(Date.now() < deadline, `not consumed in 90 s: ${[...committed]} of ${ends}`);
      await sleep(200);
    }

    // every valid click exactly once, on its ad_id's partition, keyed by the ad_id
    const seen = new Map<string, number>();
    for (let p = 0; p < PARTITIONS; p++) {
      await settled(topics.clicks, p, reader);
      const f = await readPartitionKeyed(reader, topics.clicks, p);
      for (const r of f) {
        const framed = Buffer.alloc(4 + r.value.byteLength);
        framed.writeUInt32LE(r.value.byteLength, 0);
        r.value.copy(framed, 4);
        const [ev] = decodeAll(framed);
        assert.ok(ev);
        assert.equal(r.key, ev.adId, 'keyed by ad_id');
        assert.equal(partitionFor(ev.adId, PARTITIONS), p, 'on the ad_id partition');
        seen.set(ev.eventId, (seen.get(ev.eventId) ?? 0) + 1);
      }
    }
    const twice = [...seen].filter(([, c]) => c > 1);
    assert.deepEqual(twice, [], 'no click twice');
    assert.equal(seen.size, valid.size, 'every valid click');
    for (const id of valid.keys()) assert.ok(seen.has(id), id);

    // every invalid one a dead letter, once, with topic/partition/offset
    await settled(topics.deadletters, 0, reader);
    const letters = (await readPartition(reader, topics.deadletters, 0)).map(
      (r) => JSON.parse(r.value) as { source: string; index: number; payload: string },
    );
    assert.equal(letters.length, invalid.length);
    assert.deepEqual(letters.map((l) => l.payload).sort(), [...invalid].sort());
    for (const l of letters) {
      const m = /^kafka:(.+)\/(\d+)@(\d+)$/.exec(l.source);
      assert.ok(m, l.source);
      assert.equal(m[1], topics.clicksIn);
      assert.equal(Number(m[3]), l.index);
    }
    await f.stop('ingest', p1);
  });
});

/** every committed record of one partition with its key as text */
async function readPartitionKeyed(
  reader: Consumer,
  topic: string,
  partition: number,
): Promise<Array<{ key: string | null; value: Buffer }>> {
  const out: Array<{ key: string | null; value: Buffer }> = [];
  let offset = 0n;
  for (;;) {
    const f = await fetchPartition(reader, { topic, partition, offset });
    for (const r of f.records)
      out.push({
        key: r.key === null ? null : r.key.toString(),
        value: r.value ?? Buffer.alloc(0),
      });
    offset = f.nextOffset;
    if (offset >= f.lastStableOffset) return out;
  }
}
