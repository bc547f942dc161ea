/**
 * The ingest role's `<ns>.clicks.in` cycle, exactly once through kill -9: JSON clicks (and
 * bad records) from a plain Kafka producer; the consuming process is killed with SIGKILL at
 * random moments after it committed and restarted. In the end `<ns>.clicks` holds exactly one
 * record per valid message (counted, and aggregated: every event id once, no duplicate), and
 * `<ns>.deadletters` exactly one letter per bad one, with its Kafka coordinates.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../../src/adapters/clock/system-clock.js';
import { KafkaDeadLetters } from '../../../src/adapters/deadletters-kafka/index.js';
import { KafkaEventLog } from '../../../src/adapters/log-kafka/index.js';
import { dropPgSchema, openPgStore } from '../../../src/adapters/store-pg/index.js';
import { AggregatorRunner } from '../../../src/services/aggregator/runner.js';
import { silentLogger } from '../../../src/services/observability/logger.js';
import { exited } from '../../helpers/cli.js';
import { pipelineConfig } from './pipeline-config.js';
import {
  admin,
  BROKERS,
  createTopics,
  DATABASE_URL,
  deleteNamespaceTopics,
  forceClose,
  idempotentProducer,
  uniqueNamespace,
} from './support.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'ingest-child.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MINUTE = 60_000;
const PARTITIONS = pipelineConfig.log.partitions;

function ingestProcess(ns: string): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, [CHILD, ns], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { child, out: () => out };
}

describe('clicks.in → clicks, exactly once through kill -9', () => {
  const ns = uniqueNamespace('cin');
  const a = admin();
  after(async () => {
    await deleteNamespaceTopics(a, ns);
    await a.close();
    await dropPgSchema(DATABASE_URL, ns);
  });

  it(
    'each valid message once in the clicks topic, each bad one once in the dead letters',
    { timeout: 240_000 },
    async () => {
      const inTopic = `${ns}.clicks.in`;
      await createTopics(a, [inTopic], PARTITIONS);
      const minute = Math.floor((Date.now() - 10 * MINUTE) / MINUTE) * MINUTE;
      const messages: Array<{ value: string; valid: boolean }> = [];
      for (let i = 0; i < 6_000; i++) {
        const click = {
          ad_id: `ad-${i % 97}`,
          timestamp: new Date(minute + (i % 600) * 100).toISOString(),
          event_id: `e-${i}`,
          country: 'US',
        };
        if (i % 50 === 7) messages.push({ value: `{"ad_id": "broken ${i}`, valid: false });
        else if (i % 50 === 19)
          messages.push({ value: JSON.stringify({ ...click, ad_id: '' }), valid: false });
        else if (i % 50 === 31)
          messages.push({ value: JSON.stringify(click, null, 2), valid: true });
        else messages.push({ value: JSON.stringify(click), valid: true });
      }
      const producer = idempotentProducer(`${ns}-producer`);
      const seed = Number(process.env.TALLY_CRASH_SEED ?? Date.now() % 100_000);
      let rnd = seed;
      const random = () => (rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0) / 2 ** 32;
      try {
        // the producer writes throughout the kills below
        const producing = (async () => {
          for (let i = 0; i < messages.length; i += 200) {
            await producer.send({
              messages: messages.slice(i, i + 200).map((m, j) => ({
                topic: inTopic,
                partition: (i + j) % PARTITIONS,
                value: Buffer.from(m.value),
              })),
            });
            await sleep(100);
          }
        })();

        let kills = 0;
        for (let round = 0; round < 2; round++) {
          const p = ingestProcess(ns);
          const before = p.out().length;
          const deadline = Date.now() + 60_000;
          // killed once it committed a cycle, at a random moment of the cycles after it
          while (!/accepted [1-9]/.test(p.out().slice(before)) && p.child.exitCode === null) {
            assert.ok(Date.now() < deadline, `no cycle in 60 s: ${p.out()}`);
            await sleep(50);
          }
          await sleep(random() * 800);
          assert.equal(p.child.exitCode, null, p.out());
          p.child.kill('SIGKILL');
          kills++;
          await exited(p.child);
        }
        await producing;

        // the last process runs until the group has committed every message
        const last = ingestProcess(ns);
        try {
          const deadline = Date.now() + 90_000;
          for (;;) {
            const res = await a.listConsumerGroupOffsets({
              groups: [
                {
                  groupId: `${ns}.clicks-in`,
                  topics: [
                    {
                      name: inTopic,
                      partitionIndexes: Array.from({ length: PARTITIONS }, (_, i) => i),
                    },
                  ],
                },
              ],
              requireStable: true,
            });
            const committed = (res[0]?.topics[0]?.partitions ?? []).reduce(
              (s, p) => s + Math.max(0, Number(p.committedOffset)),
              0,
            );
            // each input partition ends at its message count (no transactions on clicks.in)
            if (committed >= messages.length) break;
            assert.ok(
              Date.now() < deadline,
              `committed ${committed} of ${messages.length}: ${last.out()}`,
            );
            await sleep(200);
          }
        } finally {
          last.child.kill('SIGKILL');
          await exited(last.child);
        }

        const valid = messages.filter((m) => m.valid).length;
        const bad = messages.length - valid;
        // the clicks topic: aggregated from the start, every event id distinct in the input
        const log = await KafkaEventLog.open({
          brokers: BROKERS,
          topic: `${ns}.clicks`,
          partitions: PARTITIONS,
        });
        const store = await openPgStore({ url: DATABASE_URL, schema: ns });
        try {
          const runner = new AggregatorRunner({
            log,
            store,
            aggregation: pipelineConfig.aggregation,
            clock: systemClock,
            logger: silentLogger(),
          });
          await runner.init();
          await runner.drain();
          assert.deepEqual(
            runner.counters,
            { events: valid, duplicates: 0, late: 0 },
            `seed ${seed}`,
          );
        } finally {
          await log.close();
          await store.close();
        }
        const dl = await KafkaDeadLetters.open({ brokers: BROKERS, topic: `${ns}.deadletters` });
        try {
          const letters = await dl.list(10_000);
          assert.equal(letters.length, bad, `seed ${seed}`);
          const coords = new Set(letters.map((l) => `${l.source}@${l.index}`));
          assert.equal(coords.size, bad, 'each bad message once');
          for (const l of letters) {
            assert.match(l.source, new RegExp(`^kafka:${inTopic.replaceAll('.', '\\.')}/\\d$`));
            assert.ok(l.payload.startsWith('{"ad_id"'));
          }
        } finally {
          await dl.close();
        }
        console.error(
          `seed ${seed}: ${kills} kills, ${valid} clicks once, ${bad} dead letters once`,
        );
      } finally {
        await forceClose(producer);
      }
    },
  );
});
