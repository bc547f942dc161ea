/**
 * What a transactional writer (the ingest role's `clicks.in` cycle) leaves in a topic:
 * commit and abort markers at offsets of their own, and aborted records. The Kafka log's
 * reads move past them (nextOffset beyond fromOffset + count, a read with no record that
 * still moves on), the aggregator counts exactly the committed records into PostgreSQL, and
 * the dead letters count and page by position, not by offset.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { encodeLetter } from '../../../src/adapters/deadletters-file/letter-codec.js';
import { KafkaDeadLetters } from '../../../src/adapters/deadletters-kafka/index.js';
import { KafkaEventLog } from '../../../src/adapters/log-kafka/index.js';
import { dropPgSchema, openPgStore } from '../../../src/adapters/store-pg/index.js';
import { BatchEncoder } from '../../../src/core/event/encode-batch.js';
import { AggregatorRunner } from '../../../src/services/aggregator/runner.js';
import { silentLogger } from '../../../src/services/observability/logger.js';
import { systemClock } from '../../../src/adapters/clock/system-clock.js';
import { letter } from '../../contract/dead-letters.contract.js';
import { splitRecords } from '../../contract/event-log.contract.js';
import { pipelineConfig } from './pipeline-config.js';
import {
  admin,
  BROKERS,
  closeHelpers,
  DATABASE_URL,
  deleteNamespaceTopics,
  forceClose,
  settled,
  transactionalProducer,
  uniqueNamespace,
} from './support.js';

const RESTART = { producerId: -1n, producerEpoch: -1 };
const MINUTE = 60_000;

describe('transaction markers and aborted records in the topics', () => {
  const ns = uniqueNamespace('gaps');
  const a = admin();
  after(async () => {
    await closeHelpers();
    await deleteNamespaceTopics(a, ns);
    await a.close();
    await dropPgSchema(DATABASE_URL, ns);
  });

  it('the aggregator counts exactly the committed records, past markers and aborts', async () => {
    const topic = `${ns}.clicks`;
    const log = await KafkaEventLog.open({ brokers: BROKERS, topic, partitions: 1, create: true });
    const store = await openPgStore({ url: DATABASE_URL, schema: ns });
    const txp = transactionalProducer(`${ns}-tx`, `${ns}-tx`);
    const minute = Math.floor((Date.now() - 10 * MINUTE) / MINUTE) * MINUTE;
    const encoder = new BatchEncoder();
    let n = 0;
    /** k encoded clicks of ad `ad` (distinct event ids), as single records */
    const clicks = (ad: string, k: number) => {
      const body = Array.from({ length: k }, () =>
        JSON.stringify({
          ad_id: ad,
          timestamp: new Date(minute + 1000 * (n % 60)).toISOString(),
          event_id: `e${n++}`,
        }),
      ).join('\n');
      const b = encoder.encodeBody(body, 'application/x-ndjson', {
        partitions: 1,
        now: Date.now(),
        maxFutureSkewMs: 300_000,
      });
      return splitRecords(b.perPartition[0]!.data);
    };
    const frame = (records: Uint8Array[]) => {
      const out = Buffer.alloc(records.reduce((s, r) => s + 4 + r.byteLength, 0));
      let pos = 0;
      for (const r of records) {
        out.writeUInt32LE(r.byteLength, pos);
        out.set(r, pos + 4);
        pos += 4 + r.byteLength;
      }
      return { partition: 0, data: out, count: records.length };
    };
    const inTxn = async (records: Uint8Array[], end: 'commit' | 'abort') => {
      const t = await txp.beginTransaction(RESTART);
      await t.send({
        messages: records.map((r) => ({ topic, partition: 0, value: Buffer.from(r) })),
      });
      await (end === 'commit' ? t.commit() : t.abort());
      await settled(topic, 0);
    };
    try {
      await log.append([frame(clicks('ad', 2))]); // offsets 0, 1
      await inTxn(clicks('ad', 3), 'commit'); // 2..4, marker 5
      await inTxn(clicks('aborted', 4), 'abort'); // 6..9, marker 10
      await inTxn(clicks('ad', 1), 'commit'); // 11, marker 12
      await log.refresh();
      assert.equal(log.endOffset(0), 13);
      // the aborted transaction and its marker: no record, yet the read moves on
      const gap = await log.read(0, 6, 100);
      assert.equal(gap.count, 1);
      assert.equal(gap.nextOffset, 13);
      const onlyMarker = await log.read(0, 12, 100);
      assert.deepEqual([onlyMarker.count, onlyMarker.nextOffset], [0, 13]);
      // maxRecords bounds the offsets: a read up to an offset recorded earlier (a replayed
      // cycle's end) returns no record at or past it, markers or not (0..4 and 11 are records)
      const upTo6 = await log.read(0, 0, 6);
      assert.deepEqual([upTo6.count, upTo6.nextOffset], [5, 6]);
      const upTo5 = await log.read(0, 2, 3);
      assert.deepEqual([upTo5.count, upTo5.nextOffset], [3, 5]);
      const last = await log.read(0, 11, 1);
      assert.deepEqual([last.count, last.nextOffset], [1, 12]);

      const runner = new AggregatorRunner({
        log,
        store,
        aggregation: pipelineConfig.aggregation,
        clock: systemClock,
        logger: silentLogger(),
      });
      await runner.init();
      await runner.drain();
      assert.equal(await store.count('ad', minute, minute + MINUTE), 6);
      assert.equal(await store.count('aborted', -Infinity, Infinity), 0);
      assert.deepEqual((await store.loadCheckpoint('aggregator')).offsets, new Map([[0, 13]]));
      // a new process replays the same cycles from the snapshot and finds nothing more
      const again = new AggregatorRunner({
        log,
        store,
        aggregation: pipelineConfig.aggregation,
        clock: systemClock,
        logger: silentLogger(),
      });
      await again.init();
      await again.drain();
      assert.equal((await store.status()).consumers[0]?.totals.events, 6);
    } finally {
      await forceClose(txp);
      await log.close();
      await store.close();
    }
  });

  it('dead letters between markers keep their positions', async () => {
    const topic = `${ns}.deadletters`;
    const dl = await KafkaDeadLetters.open({ brokers: BROKERS, topic, create: true });
    const txp = transactionalProducer(`${ns}-dl`, `${ns}-dl`);
    const inTxn = async (i: number, end: 'commit' | 'abort') => {
      const t = await txp.beginTransaction(RESTART);
      const one = encodeLetter(letter(i)).trimEnd();
      await t.send({ messages: [{ topic, partition: 0, value: Buffer.from(one) }] });
      await (end === 'commit' ? t.commit() : t.abort());
      await settled(topic, 0);
    };
    try {
      await dl.add([letter(0)]);
      await inTxn(1, 'commit');
      await inTxn(99, 'abort');
      assert.equal(await dl.count(), 2);
      await dl.add([letter(2), letter(3)]);
      await inTxn(4, 'commit');
      assert.equal(await dl.count(), 5);
      assert.deepEqual(
        await dl.list(10),
        [0, 1, 2, 3, 4].map((i) => letter(i)),
      );
      assert.deepEqual(await dl.list(2, 2), [letter(2), letter(3)]);
      assert.deepEqual(await dl.list(10, 4), [letter(4)]);
      assert.deepEqual(await dl.list(10, 5), []);
    } finally {
      await forceClose(txp);
      await dl.close();
    }
  });
});
