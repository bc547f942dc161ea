/**
 * The DeadLetterStore contract (test/contract/dead-letters.contract) against the dead-letter
 * topic on the broker: each case gets a topic of its own in this run's namespace; reopen = a
 * new instance over the same topic. And a second writer's letters, seen by the first.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { KafkaDeadLetters } from '../../../src/adapters/deadletters-kafka/index.js';
import { letter, runDeadLetterStoreContract } from '../../contract/dead-letters.contract.js';
import { admin, BROKERS, deleteNamespaceTopics, uniqueNamespace } from './support.js';

const ns = uniqueNamespace('dl');
const a = admin();
let n = 0;

after(async () => {
  await deleteNamespaceTopics(a, ns);
  await a.close();
});

runDeadLetterStoreContract('kafka', async () => {
  const topic = `${ns}.deadletters-${n++}`;
  let current = await KafkaDeadLetters.open({ brokers: BROKERS, topic, create: true });
  return {
    store: current,
    reopen: async () => {
      await current.close();
      current = await KafkaDeadLetters.open({ brokers: BROKERS, topic });
      return current;
    },
    cleanup: async () => {
      await current.close();
    },
  };
});

describe('kafka dead letters: several ingest processes', () => {
  it("lists and counts the other writer's letters too", async () => {
    const topic = `${ns}.deadletters-shared`;
    const one = await KafkaDeadLetters.open({ brokers: BROKERS, topic, create: true });
    const two = await KafkaDeadLetters.open({ brokers: BROKERS, topic });
    try {
      await one.add([letter(0), letter(1)]);
      await two.add([letter(2)]);
      assert.equal(await one.count(), 3);
      assert.deepEqual(await one.list(10), [letter(0), letter(1), letter(2)]);
      assert.deepEqual(await two.list(10, 2), [letter(2)]);
    } finally {
      await one.close();
      await two.close();
    }
  });
});
