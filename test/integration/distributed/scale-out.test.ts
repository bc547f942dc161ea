/**
 * The distributed deployment scaled out, every process started through the real command line
 * (`tally start --mode distributed --role …`): 8 partitions, 1 ingest, 3 aggregators, 1
 * writer, 1 query process. Clicks arrive both over HTTP (POST /v1/clicks to the ingest
 * process) and from a plain Kafka producer into `<ns>.clicks.in`; mid-stream an aggregator is
 * killed with SIGKILL, and the writer is killed with SIGKILL and started again. Once drained,
 * every count and top list in PostgreSQL equals the oracle, the query process answers the
 * same, and every invalid record is a dead letter.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { dropPgSchema, openPgStore } from '../../../src/adapters/store-pg/index.js';
import { generateClicks } from '../../../src/core/generate/index.js';
import { parseNdjsonLine } from '../../../src/core/event/parse-body.js';
import { validateEvent } from '../../../src/core/event/validate.js';
import { MINUTE_MS as MINUTE } from '../../../src/core/window/minute.js';
import { tempDir } from '../../helpers/cli.js';
import { killAll, startRoles, type RoleProcess } from './cli-roles.js';
import { assertExact, groupConfig } from './group-support.js';
import {
  admin,
  closeHelpers,
  DATABASE_URL,
  deleteNamespaceTopics,
  fetcher,
  forceClose,
  idempotentProducer,
  readPartition,
  settled,
  topicNames,
  uniqueNamespace,
} from './support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('distributed scale-out through the command line', () => {
  const ns = uniqueNamespace('scale');
  const topics = topicNames(ns);
  const a = admin();
  const reader = fetcher(`${ns}-check`);
  const tmp = tempDir('scale');
  const procs: RoleProcess[] = [];

  after(async () => {
    killAll(procs);
    await forceClose(reader);
    await closeHelpers();
    await deleteNamespaceTopics(a, ns);
    await a.close();
    if (!process.env.TALLY_TEST_KEEP) await dropPgSchema(DATABASE_URL, ns);
    tmp.cleanup();
  });

  it(
    '1 ingest, 3 aggregators, 1 writer, 1 query; HTTP and clicks.in; an aggregator and the writer killed: exact',
    { timeout: 400_000 },
    async () => {
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
      let n = 0;
      const start = (roles: string) =>
        startRoles(roles, { namespace: ns, dataDir: join(tmp.dir, `p${n++}`), config }).then(
          (p) => {
            procs.push(p);
            return p;
          },
        );
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

      const producer = idempotentProducer(`${ns}-feed`);
      const CHUNK = 1_000;
      let accepted = 0;
      for (let i = 0, round = 0; i < lines.length; i += CHUNK, round++) {
        const chunk = lines.slice(i, i + CHUNK);
        // even chunks over HTTP, odd ones from a plain producer into clicks.in
        if (round % 2 === 0) {
          const res = await fetch(`${ingest.base}/v1/clicks`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-ndjson' },
            body: chunk.join('\n'),
          });
          assert.equal(res.status, 200, await res.clone().text());
          accepted += ((await res.json()) as { accepted: number }).accepted;
        } else {
          await producer.send({
            messages: chunk.map((line) => ({ topic: topics.clicksIn, value: Buffer.from(line) })),
          });
        }
        if (round === 4) await agg2.kill9();
        if (round === 7) {
          await writer.kill9();
          writer = await start('writer');
        }
        await sleep(300);
      }
      await producer.close();
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
            if (Date.now() > deadline) throw e;
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
          `scale-out: ${res.events} events, ${res.late} late, ${res.topsChecked} top lists exact`,
        );
      } finally {
        await store.close();
      }

      // every invalid record is a dead letter (HTTP's and clicks.in's alike)
      const invalid = lines.filter((line) => {
        const rec = parseNdjsonLine(line, 0, 1);
        return !rec.ok || !validateEvent(rec.value, { now, maxFutureSkewMs: 300_000 }).ok;
      });
      assert.ok(invalid.length > 0, 'the generator makes invalid records');
      await settled(topics.deadletters, 0, reader);
      const letters = (await readPartition(reader, topics.deadletters, 0)).map(
        (r) => (JSON.parse(r.value) as { payload: string }).payload,
      );
      assert.deepEqual([...letters].sort(), [...invalid].sort());

      for (const [name, p] of Object.entries({ ingest, agg1, agg3, writer, query })) {
        const code = await p.stop();
        assert.equal(code, 0, `${name} exited ${code} on SIGTERM:\n${p.stderr().slice(-4000)}`);
      }
    },
  );
});
