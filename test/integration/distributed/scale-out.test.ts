/**
 * The distributed deployment scaled out, every process started through the real command line
 * (`tally start --mode distributed --role …`): 8 partitions, 1 ingest, 3 aggregators, 1
 * writer, 1 query process. Clicks arrive both over HTTP (POST /v1/clicks to the ingest
 * process) and from a plain Kafka producer into `<ns>.clicks.in`; mid-stream an aggregator is
 * killed with SIGKILL, the writer is killed with SIGKILL and started again, then the broker
 * is killed with SIGKILL and started again on the same ports and data while clicks keep coming
 * (the clients retry as real ones would). It is a broker of the test's own (own-broker.ts),
 * never the shared one. Once drained, every count and top list in PostgreSQL equals the
 * oracle, the query process answers the same, and every invalid record is a dead letter (as
 * often as it was sent, resends included).
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

describe('distributed scale-out through the command line', () => {
  const f = distributedFixture('scale');
  const { ns, topics, tmp } = f;

  it(
    '1 ingest, 3 aggregators, 1 writer, 1 query; HTTP and clicks.in; an aggregator, the writer and the broker killed: exact',
    { timeout: 400_000 },
    async () => {
      const b = await f.ownBroker();
      // the group tests' settings (8 partitions, top 5 over 1 and 5 minutes), a short idle
      // timeout so that the last minutes close once the traffic stops
      const config = join(tmp.dir, 'tally.json');
      writeFileSync(
        config,
        JSON.stringify({
          log: { partitions: groupConfig.log.partitions },
          aggregation: {
            ...groupConfig.aggregation,
            idleTimeoutMs: 2_000,
          },
        }),
      );
      const start = (roles: string) => f.start(roles, { config });
      // the ingest process first: it creates the topics
      const ingest = await start('ingest');
      const [agg1, agg2, agg3, query] = await Promise.all([
        start('aggregator'),
        start('aggregator'),
        start('aggregator'),
        start('query'),
      ]);
      let writer = await start('writer');

      const now = Date.now();
      const lines: string[] = [];
      const gen = generateClicks({
        seed: 11,
        count: 12_000,
        ads: 300,
        startTime: now - 6 * MINUTE,
        eventsPerSecond: 60,
      });
      for (let r = gen.next(); !r.done; r = gen.next()) lines.push(...r.value);

      const CHUNK = 1_000;
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
      for (let i = 0, round = 0; i < lines.length; i += CHUNK, round++) {
        const chunk = lines.slice(i, i + CHUNK);
        if (round === 8) {
          // the broker gone (SIGKILL) just before an HTTP batch, started again on the same
          // ports and data 4 s later while the loop goes on sending
          const t0 = Date.now();
          await b.stop('SIGKILL');
          down = true;
          restart = (async () => {
            await sleep(4_000);
            await b.start();
            down = false;
            downMs = Date.now() - t0;
          })();
        }
        if (down) sentWhileDown++;
        // even chunks over HTTP, odd ones from a plain producer into clicks.in
        if (round % 2 === 0) accepted += await feed.post(chunk.join('\n'), round);
        else await feed.produce(chunk);
        if (round === 4) await agg2.kill9();
        if (round === 7) {
          await writer.kill9();
          writer = await start('writer');
        }
        await sleep(300);
      }
      await restart;
      assert.ok(sentWhileDown >= 1, 'clicks are sent while the broker is down');
      await feed.close();
      assert.ok(accepted > 0);

      // drained: poll until PostgreSQL holds exactly the oracle (the last minutes close on
      // the idle timeout); the last failure is the answer
      const store = await openPgStore({ url: DATABASE_URL, schema: ns, migrate: false });
      try {
        const deadline = Date.now() + 240_000;
        let res;
        for (;;) {
          try {
            res = await assertExact(store, lines, now, 'scale-out');
            if (res.topsChecked > 5) break;
          } catch (e) {
            if (Date.now() > deadline) {
              // what the roles said, for whoever reads the failure
              f.printRoles();
              throw e;
            }
          }
          assert.ok(Date.now() < deadline, 'not drained in 240 s');
          await sleep(2_000);
        }
        assert.ok(res.events > 10_000, `${res.events} events`);

        // the query process answers from the same rows
        const rows = await store.rows(-Infinity, Infinity, '*');
        const last = Math.max(...rows.map((r) => r.minute));
        const top = (await (
          await fetch(`${query.base}/v1/ads/popular_ads?count=5&window=5&to=${last + MINUTE}`)
        ).json()) as { ads: Array<{ ad_id: string; count: number }> };
        const stored = await store.storedTop(5, last + MINUTE);
        assert.deepEqual(
          top.ads.map((x) => ({ adId: x.ad_id, count: x.count })),
          stored?.ads,
        );
        const leader = top.ads[0]!;
        const from = last - 4 * MINUTE;
        const count = (await (
          await fetch(
            `${query.base}/v1/ads/${leader.ad_id}/aggregated_count?from=${from}&to=${last + MINUTE}`,
          )
        ).json()) as { count: number };
        assert.equal(count.count, leader.count);
        console.error(
          `scale-out: broker down ${downMs} ms (SIGKILL), ${sentWhileDown} batches sent meanwhile, ${feed.retries()} client retries (${feed.summary()}); ${res.events} events, ${res.late} late, ${res.topsChecked} top lists exact`,
        );
      } finally {
        await store.close();
      }

      // every invalid record is a dead letter (HTTP's and clicks.in's alike), as often as sent
      const invalid = lines.filter((line) => {
        const rec = parseNdjsonLine(line, 0, 1);
        return !rec.ok || !validateEvent(rec.value, { now, maxFutureSkewMs: 300_000 }).ok;
      });
      assert.ok(invalid.length > 0, 'the generator makes invalid records');
      const reader = f.reader();
      await settled(topics.deadletters, 0, reader);
      const letters = new Map<string, number>();
      for (const r of await readPartition(reader, topics.deadletters, 0)) {
        const payload = (JSON.parse(r.value) as { payload: string }).payload;
        letters.set(payload, (letters.get(payload) ?? 0) + 1);
      }
      const doubled = assertDeadLettersWithResends(lines, invalid, letters, feed.resent, CHUNK);
      console.error(
        `scale-out: ${invalid.length} invalid records, ${doubled} dead letters again after a resend`,
      );

      for (const [name, p] of Object.entries({ ingest, agg1, agg3, writer, query })) {
        await f.stop(name, p);
      }
    },
  );
});
