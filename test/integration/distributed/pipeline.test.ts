/**
 * The distributed pipeline end to end, exactly once: clicks ingested into the run's
 * `<ns>.clicks` topic on the broker while aggregator processes (the aggregator role of
 * openDistributed, over Kafka into PostgreSQL) are killed with SIGKILL at random moments and
 * restarted; part of the input is sent again; then a last process drains. Every distinct
 * valid event must be in exactly one place in PostgreSQL: its minute's count, or the late
 * records; every rejected record in the dead-letter topic; the query role answers from it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dropPgSchema } from '../../../src/adapters/store-pg/index.js';
import { openDistributed } from '../../../src/app/distributed.js';
import { generateClicks } from '../../../src/core/generate/index.js';
import { MINUTE_MS as MINUTE } from '../../../src/core/window/minute.js';
import { ingestNdjsonStream } from '../../../src/services/ingest/file-ingest.js';
import { silentLogger } from '../../../src/services/observability/logger.js';
import { exited } from '../../helpers/cli.js';
import { countByAdMinute, distinctEvents } from '../../helpers/oracle.js';
import { pipelineConfig } from './pipeline-config.js';
import { admin, BROKERS, DATABASE_URL, deleteNamespaceTopics, uniqueNamespace } from './support.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'aggregator-child.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function aggregator(ns: string, mode: 'run' | 'drain'): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, [CHILD, ns, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { child, out: () => out };
}

async function* chunks(lines: readonly string[], size: number, pauseMs: number) {
  for (let i = 0; i < lines.length; i += size) {
    yield Buffer.from(lines.slice(i, i + size).join('\n') + '\n');
    await sleep(pauseMs);
  }
}

describe('distributed pipeline: Kafka → aggregator processes → PostgreSQL, exactly once', () => {
  const ns = uniqueNamespace('pipe');
  const a = admin();
  after(async () => {
    await deleteNamespaceTopics(a, ns);
    await a.close();
    if (!process.env.TALLY_TEST_KEEP) await dropPgSchema(DATABASE_URL, ns);
  });

  it(
    'counts every accepted event once through kill -9 of aggregators',
    { timeout: 300_000 },
    async () => {
      const now = Date.now();
      const lines: string[] = [];
      const gen = generateClicks({
        seed: 11,
        count: 40_000,
        ads: 2_000,
        // inside the dedup horizon throughout: a re-sent event is a duplicate wherever its
        // first copy went (counted or late)
        startTime: now - 6 * MINUTE,
        eventsPerSecond: 150,
      });
      for (let r = gen.next(); !r.done; r = gen.next()) lines.push(...r.value);

      const app = await openDistributed(
        pipelineConfig,
        { brokers: BROKERS, databaseUrl: DATABASE_URL, namespace: ns, roles: ['ingest', 'query'] },
        { logger: silentLogger() },
      );
      try {
        const seed = Number(process.env.TALLY_CRASH_SEED ?? now % 100_000);
        let rnd = seed;
        const random = () => (rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0) / 2 ** 32;
        // ingest the whole input at a pace that spans the kills below, then a third of it again
        const ingesting = (async () => {
          const first = await ingestNdjsonStream(app.ingest!, chunks(lines, 500, 120), 'test');
          const again = await ingestNdjsonStream(
            app.ingest!,
            chunks(lines.slice(0, Math.floor(lines.length / 3)), 1000, 100),
            'test',
          );
          return {
            accepted: first.accepted + again.accepted,
            rejected: first.rejected + again.rejected,
          };
        })();

        const committedSeq = async () => (await app.store.status()).consumers[0]?.seq ?? 0;
        let kills = 0;
        for (let round = 0; round < 4; round++) {
          const agg = aggregator(ns, 'run');
          // killed while it runs: after it committed a cycle of its own (so that every round
          // makes progress), at a random moment of the cycles after it
          const seqBefore = await committedSeq();
          const deadline = Date.now() + 60_000;
          // the first round also waits for a snapshot (snapshotIntervalMs 700), so that the
          // drain below restores one whatever the random kill moments
          const snapshotted = async () =>
            round > 0 || ((await app.store.status()).consumers[0]?.snapshotSeq ?? 0) > 0;
          while (
            ((await committedSeq()) === seqBefore || !(await snapshotted())) &&
            agg.child.exitCode === null
          ) {
            assert.ok(Date.now() < deadline, `no commit in 60 s: ${agg.out()}`);
            await sleep(50);
          }
          await sleep(random() * 1000);
          if (agg.child.exitCode === null) {
            agg.child.kill('SIGKILL');
            kills++;
          }
          const code = await exited(agg.child);
          if (process.env.TALLY_TEST_DEBUG) console.error(agg.out());
          assert.equal(code, null, `aggregator exited by itself (${code}): ${agg.out()}`);
        }
        const totals = await ingesting;
        // the killed processes committed cycles and snapshots: the drain restores and replays
        const killed = (await app.store.status()).consumers[0];
        if (process.env.TALLY_TEST_DEBUG) console.error(killed);
        assert.ok(killed !== undefined && killed.seq > 0 && killed.snapshotSeq > 0, 'no commits');
        const drain = aggregator(ns, 'drain');
        assert.equal(await exited(drain.child), 0, drain.out());
        assert.ok(kills >= 3, `seed ${seed}: only ${kills} kills`);

        const expected = countByAdMinute(distinctEvents(lines, now));
        const counted = new Map<string, number>();
        for (const r of await app.store.rows(-Infinity, Infinity, '*')) {
          counted.set(`${r.adId}|${r.minute}`, r.count);
        }
        const late = await app.store.late(10_000_000);
        for (const l of late) {
          const k = `${l.adId}|${Math.floor(l.timestamp / MINUTE) * MINUTE}`;
          counted.set(k, (counted.get(k) ?? 0) + 1);
        }
        let lost = 0;
        let twice = 0;
        let events = 0;
        for (const [k, n] of expected) {
          events += n;
          const got = counted.get(k) ?? 0;
          if (got < n) lost += n - got;
          if (got > n) twice += got - n;
        }
        for (const [k, got] of counted) if (!expected.has(k)) twice += got;
        assert.equal(lost, 0, `seed ${seed}: ${lost} events lost`);
        assert.equal(twice, 0, `seed ${seed}: ${twice} events counted twice`);
        // late records: only those a cycle read behind its watermark (timing decides how many)
        assert.ok(events > 35_000, `${events} events`);

        // the committed totals agree: every accepted record is an event or a duplicate, once
        const st = (await app.store.status()).consumers[0]!;
        assert.equal(st.totals.events + st.totals.duplicates, totals.accepted);
        assert.equal(st.totals.events, events);
        assert.equal(await app.deadLetters!.count(), totals.rejected);
        assert.ok(totals.rejected > 0);

        // the query role reads the same numbers
        const [adId, minute] = [...expected.keys()][0]!.split('|') as [string, string];
        const from = new Date(Number(minute)).toISOString();
        const to = new Date(Number(minute) + MINUTE).toISOString();
        const c = await app.query!.count(adId, { from, to });
        assert.equal(
          c.count,
          counted.get(`${adId}|${minute}`)! -
            late.filter(
              (l) =>
                l.adId === adId && Math.floor(l.timestamp / MINUTE) * MINUTE === Number(minute),
            ).length,
        );
        console.error(
          `seed ${seed}: ${kills} kills, ${killed.seq} commits before the drain, ${events} events, ${st.totals.duplicates} duplicates, ${late.length} late, ${totals.rejected} dead letters`,
        );
      } finally {
        await app.close();
      }
    },
  );
});
