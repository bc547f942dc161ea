/**
 * The broker restarted mid-stream (issue 10's last proof), on a broker of the test's own (a
 * second one-node KRaft broker on free ports, its data under the test's temp dir; the shared
 * broker is never touched): 8 partitions, 1 ingest, 2 aggregators, 1 writer, each through the
 * real command line. Clicks arrive over HTTP and from a plain producer into `<ns>.clicks.in`;
 * mid-stream the broker is killed (SIGKILL; TALLY_BROKER_STOP=term: SIGTERM) while clicks keep
 * coming (HTTP clients retry on 503 and on a refused connection as a real client would; the
 * producer retries), then started again on the same ports and data. Once drained, every count and top list in PostgreSQL equals the
 * oracle and every invalid record is a dead letter.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openPgStore } from '../../../src/adapters/store-pg/index.js';
import { generateClicks } from '../../../src/core/generate/index.js';
import { parseNdjsonLine } from '../../../src/core/event/parse-body.js';
import { validateEvent } from '../../../src/core/event/validate.js';
import { MINUTE_MS as MINUTE } from '../../../src/core/window/minute.js';
import { distributedFixture } from './fixture.js';
import { assertExact, groupConfig } from './group-support.js';
import { assertDeadLettersWithResends, retryingFeed } from './retrying-feed.js';
import { DATABASE_URL, readPartition, settled } from './support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// SIGKILL by default: the broker gone without a word (no controlled shutdown, connections
// reset, transactions and group sessions left to time out); TALLY_BROKER_STOP=term for a
// controlled shutdown
const stopSignal = process.env.TALLY_BROKER_STOP === 'term' ? 'SIGTERM' : 'SIGKILL';

describe('distributed: the broker restarted mid-stream', () => {
  const f = distributedFixture('brokerrs');
  const { ns, topics, tmp } = f;

  it(
    'ingest, 2 aggregators, writer; HTTP and clicks.in; the broker stopped and started again: exact',
    { timeout: 240_000 },
    async () => {
      const b = await f.ownBroker();
      const config = join(tmp.dir, 'tally.json');
      writeFileSync(
        config,
        JSON.stringify({
          log: { partitions: groupConfig.log.partitions },
          aggregation: { ...groupConfig.aggregation, idleTimeoutMs: 2_000 },
        }),
      );
      const start = (roles: string) => f.start(roles, { config });
      // the ingest process first: it creates the topics
      const ingest = await start('ingest');
      const [agg1, agg2, writer] = await Promise.all([
        start('aggregator'),
        start('aggregator'),
        start('writer'),
      ]);

      const now = Date.now();
      const lines: string[] = [];
      const gen = generateClicks({
        seed: 23,
        count: 8_000,
        ads: 200,
        startTime: now - 6 * MINUTE,
        eventsPerSecond: 60,
      });
      for (let r = gen.next(); !r.done; r = gen.next()) lines.push(...r.value);

      const CHUNK = 500;
      const feed = retryingFeed({
        ingestBase: ingest.base,
        brokers: b.brokers,
        clientId: `${ns}-feed`,
        clicksIn: topics.clicksIn,
      });

      let accepted = 0;
      let restart: Promise<void> | undefined;
      let down = false;
      let sentWhileDown = 0;
      let downMs = 0;
      // two chunks at a time, concurrently: one over HTTP, one from the plain producer, so that
      // both paths meet the broker's absence
      const send = async (round: number): Promise<void> => {
        const chunk = lines.slice(round * CHUNK, (round + 1) * CHUNK);
        if (chunk.length === 0) return;
        if (down) sentWhileDown++;
        if (round % 2 === 0) accepted += await feed.post(chunk.join('\n'), round);
        else await feed.produce(chunk);
      };
      const rounds = Math.ceil(lines.length / CHUNK);
      for (let round = 0; round < rounds; round += 2) {
        await Promise.all([send(round), send(round + 1)]);
        if (round === 4) {
          // gone (the JVM exited), then started again on the same ports and data while the
          // loop goes on sending
          const t0 = Date.now();
          await b.stop(stopSignal);
          down = true;
          restart = (async () => {
            await sleep(4_000);
            await b.start();
            down = false;
            downMs = Date.now() - t0;
          })();
        }
        await sleep(400);
      }
      await restart;
      assert.ok(sentWhileDown >= 2, 'both paths send while the broker is down');
      await feed.close();
      assert.ok(accepted > 0);

      const reader = f.reader();
      const store = await openPgStore({ url: DATABASE_URL, schema: ns, migrate: false });
      try {
        const deadline = Date.now() + 120_000;
        let res;
        for (;;) {
          try {
            res = await assertExact(store, lines, now, 'broker-restart');
            if (res.topsChecked > 5) break;
          } catch (e) {
            if (Date.now() > deadline) {
              // what the roles said, for whoever reads the failure
              f.printRoles();
              throw e;
            }
          }
          assert.ok(Date.now() < deadline, 'not drained in 120 s');
          await sleep(2_000);
        }
        assert.ok(res.events > 6_000, `${res.events} events`);
        console.error(
          `broker-restart: broker stopped by ${stopSignal}, down ${downMs} ms, ${sentWhileDown} batches sent meanwhile, ${feed.retries()} client retries (${feed.summary()}); ${res.events} events, ${res.late} late, ${res.topsChecked} top lists exact`,
        );
      } finally {
        await store.close();
      }

      const invalid = lines.filter((line) => {
        const rec = parseNdjsonLine(line, 0, 1);
        return !rec.ok || !validateEvent(rec.value, { now, maxFutureSkewMs: 300_000 }).ok;
      });
      assert.ok(invalid.length > 0, 'the generator makes invalid records');
      await settled(topics.deadletters, 0, reader);
      const letters = new Map<string, number>();
      for (const r of await readPartition(reader, topics.deadletters, 0)) {
        const payload = (JSON.parse(r.value) as { payload: string }).payload;
        letters.set(payload, (letters.get(payload) ?? 0) + 1);
      }
      const doubled = assertDeadLettersWithResends(lines, invalid, letters, feed.resent, CHUNK);
      console.error(
        `broker-restart: ${invalid.length} invalid records, ${doubled} dead letters again after a resend`,
      );

      // each role stops on SIGTERM within a minute, with 0; otherwise what it said is printed
      const roles = { ingest, 'aggregator 1': agg1, 'aggregator 2': agg2, writer };
      for (const [name, p] of Object.entries(roles)) {
        const t0 = Date.now();
        await f.stop(name, p);
        // how its group membership went through the outage (the heartbeat, a fresh consumer)
        const membership = [
          ...p
            .stderr()
            .matchAll(
              /"msg":"[^"]*: (group heartbeat [^"]*|no successful [^"]*|a fresh consumer[^"]*|the client gave up[^"]*|joining the group again failed)"/g,
            ),
        ].map((m) => m[1]);
        console.error(
          `broker-restart: ${name} stopped in ${Date.now() - t0} ms; membership: ${membership.join('; ') || '-'}${/tally: stopped, still held[^\n]*/.exec(p.stderr())?.[0] ?? ''}`,
        );
      }
    },
  );
});
