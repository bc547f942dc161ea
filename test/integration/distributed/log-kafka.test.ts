/**
 * The EventLog contract (test/contract/event-log.contract) against the DRAFT Kafka adapter:
 * each case gets a topic of its own in this run's namespace; reopen = a new instance over the
 * same topic.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { KafkaEventLog } from '../../../src/adapters/log-kafka/index.js';
import { batchOf, runEventLogContract, splitRecords } from '../../contract/event-log.contract.js';
import {
  admin,
  BROKERS,
  closeHelpers,
  deleteNamespaceTopics,
  forceClose,
  settled,
  transactionalProducer,
  uniqueNamespace,
} from './support.js';

const ns = uniqueNamespace('log');
const a = admin();
let n = 0;

after(async () => {
  await closeHelpers();
  await deleteNamespaceTopics(a, ns);
  await a.close();
});

function fixture(partitions: number) {
  return async () => {
    const topic = `${ns}.clicks-${n++}`;
    const open = (create: boolean) =>
      KafkaEventLog.open({ brokers: BROKERS, topic, partitions, create });
    let current = await open(true);
    return {
      log: current,
      reopen: async () => {
        await current.close();
        current = await open(false);
        return current;
      },
      cleanup: async () => {
        await current.close();
        await a.deleteTopics({ topics: [topic] });
      },
    };
  };
}

runEventLogContract('kafka (draft), 4 partitions', fixture(4));

describe('what the EventLog port assumes that a shared Kafka topic breaks', () => {
  it('a second writer: the cached endOffset misses its appends; transaction markers leave gaps in the offsets', async () => {
    const topic = `${ns}.shared`;
    const one = await KafkaEventLog.open({ brokers: BROKERS, topic, partitions: 2, create: true });
    const two = await KafkaEventLog.open({ brokers: BROKERS, topic, partitions: 2 });
    const txp = transactionalProducer(`${ns}-tx`, `${ns}-tx`);
    try {
      await one.append([batchOf(0, [Buffer.from('a'), Buffer.from('b')])]);
      // the other ingest process does not see them: its end is the one it read at open
      assert.equal(one.endOffset(0), 2);
      assert.equal(two.endOffset(0), 0);
      // until it asks the broker
      await two.refresh();
      assert.equal(two.endOffset(0), 2);
      // a transactional writer (the ingest role's clicks.in → clicks cycle) adds a commit marker
      const txn = await txp.beginTransaction({ producerId: -1n, producerEpoch: -1 });
      await txn.send({ messages: [{ topic, partition: 0, value: Buffer.from('t') }] });
      await txn.commit();
      await settled(topic, 0);
      const r = await two.append([batchOf(0, [Buffer.from('c')])]);
      assert.equal(
        r.baseOffsets.get(0),
        4,
        "the broker's offset: 2 records, 1 transactional, 1 marker before it",
      );
      const read = await two.read(0, 0, 100);
      assert.deepEqual(
        splitRecords(read.data).map((b) => Buffer.from(b).toString()),
        ['a', 'b', 't', 'c'],
      );
      assert.equal(read.count, 4);
      assert.equal(read.nextOffset, 5, 'past the marker');
      assert.notEqual(
        read.nextOffset,
        read.fromOffset + read.count,
        'the port says nextOffset = fromOffset + count',
      );
    } finally {
      await forceClose(txp);
      await one.close();
      await two.close();
    }
  });
});
