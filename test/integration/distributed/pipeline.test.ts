/**
 * The distributed pipeline end to end, exactly once, in processes of its own: clicks ingested
 * into the run's `<ns>.clicks` (8 partitions) while three aggregator processes form one
 * consumer group and a writer process applies `<ns>.aggregates` to PostgreSQL. Mid-stream one
 * aggregator is killed with SIGKILL (the group rebalances, the others restore its partitions
 * from their snapshots and the committed cycles after them), then the writer is killed and
 * restarted, then the other aggregators are killed too; part of the input is sent again; then
 * a last aggregator and a last writer drain. Every distinct valid event must be in exactly one
 * place in PostgreSQL (its minute's count, or the late records), every top list must be the
 * oracle's, every rejected record in the dead-letter topic; the query role answers from it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ensureTopic } from '../../../src/adapters/log-kafka/index.js';
import { dropPgSchema } from '../../../src/adapters/store-pg/index.js';
import { namespaceTopics, openDistributed } from '../../../src/app/distributed.js';
import { generateClicks } from '../../../src/core/generate/index.js';
import { MINUTE_MS as MINUTE } from '../../../src/core/window/minute.js';
import { ingestNdjsonStream } from '../../../src/services/ingest/file-ingest.js';
import { silentLogger } from '../../../src/services/observability/logger.js';
import { exited } from '../../helpers/cli.js';
import { assertExact, groupConfig } from './group-support.js';
import { admin, BROKERS, DATABASE_URL, deleteNamespaceTopics, uniqueNamespace } from './support.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'aggregator-child.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Child {
  child: ChildProcess;
  out: () => string;
}

function spawnRole(ns: string, role: 'aggregator' | 'writer', mode: 'run' | 'drain'): Child {
  const child = spawn(process.execPath, [CHILD, ns, role, mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // the restores and assignments are logged at info: the test reads them
    env: { ...process.env, TALLY_LOG_LEVEL: process.env.TALLY_LOG_LEVEL ?? 'info' },
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { child, out: () => out };
}

/** the JSON log lines of a child with this message */
function logged(c: Child, msg: string): Array<Record<string, unknown>> {
  return c
    .out()
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes(msg))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((o) => o['msg'] === msg);
}

async function kill9(c: Child, what: string): Promise<void> {
  assert.equal(c.child.exitCode, null, `${what} exited by itself: ${c.out()}`);
  c.child.kill('SIGKILL');
  assert.equal(await exited(c.child), null, `${what}: ${c.out()}`);
}

async function* chunks(lines: readonly string[], size: number, pauseMs: number) {
  for (let i = 0; i < lines.length; i += size) {
    yield Buffer.from(lines.slice(i, i + size).join('\n') + '\n');
    await sleep(pauseMs);
  }
}

describe('distributed pipeline: aggregator group → aggregates topic → writer → PostgreSQL, exactly once', () => {
  const ns = uniqueNamespace('pipe');
  const a = admin();
  const children: Child[] = [];
  after(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await deleteNamespaceTopics(a, ns);
    await a.close();
    if (!process.env.TALLY_TEST_KEEP) await dropPgSchema(DATABASE_URL, ns);
  });

  it(
    'counts every accepted event once and ranks exactly through kill -9 of aggregators and the writer',
    { timeout: 420_000 },
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
        groupConfig,
        { brokers: BROKERS, databaseUrl: DATABASE_URL, namespace: ns, roles: ['ingest', 'query'] },
        { logger: silentLogger() },
      );
      const partitions = groupConfig.log.partitions;
      await ensureTopic(BROKERS, namespaceTopics(ns).aggregates, partitions);
      const run = (role: 'aggregator' | 'writer') => {
        const c = spawnRole(ns, role, 'run');
        children.push(c);
        return c;
      };
      const debug = (c: Child) => {
        if (process.env.TALLY_TEST_DEBUG) console.error(c.out());
      };
      try {
        const seed = Number(process.env.TALLY_CRASH_SEED ?? now % 100_000);
        let rnd = seed;
        const random = () => (rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0) / 2 ** 32;
        const aggregators = [run('aggregator'), run('aggregator'), run('aggregator')];
        let writer = run('writer');
        // ingest the whole input at a pace that spans the kills below, then a third of it again
        const ingesting = (async () => {
          const first = await ingestNdjsonStream(app.ingest!, chunks(lines, 500, 250), 'test');
          const again = await ingestNdjsonStream(
            app.ingest!,
            chunks(lines.slice(0, Math.floor(lines.length / 3)), 1000, 150),
            'test',
          );
          return {
            accepted: first.accepted + again.accepted,
            rejected: first.rejected + again.rejected,
          };
        })();

        const cycles = async () => {
          const st = await app.store.writerState();
          const out = new Array<number>(partitions).fill(0);
          for (const p of st.partitions) out[p.partition] = p.cycle;
          return out;
        };
        const until = async (what: string, cond: () => Promise<boolean>, ms = 90_000) => {
          const deadline = Date.now() + ms;
          while (!(await cond())) {
            assert.ok(Date.now() < deadline, `${what} within ${ms} ms`);
            await sleep(100);
          }
        };
        const snapshotted = async () => {
          for (let p = 0; p < partitions; p++)
            if ((await app.store.loadSnapshot(p)) === undefined) return false;
          return true;
        };
        // every partition cycled and was snapshotted before the first kill
        await until(
          'every partition committed and snapshotted',
          async () => (await cycles()).every((c) => c > 0) && (await snapshotted()),
        );
        await sleep(random() * 1000);
        const victim = aggregators.shift()!;
        const before = await cycles();
        const assignment = logged(victim, 'aggregator group assignment').at(-1);
        const held = assignment?.['partitions'];
        await kill9(victim, 'aggregator 1');
        debug(victim);
        assert.ok(
          Array.isArray(held) && held.length > 0,
          `the victim held nothing: ${victim.out()}`,
        );
        // the group drops the dead member after its session timeout and rebalances: every
        // partition commits new cycles, those of the dead one from its restored state
        await until('every partition cycles again after the rebalance', async () => {
          const now = await cycles();
          return now.every((c, p) => c > before[p]! + 2);
        });
        // A survivor restores each partition the victim held, after the victim took it: after
        // the kill, or earlier if a loaded machine had already dropped the victim from the
        // group. The survivors' log lines can reach this process after their commits do.
        const takenAt = assignment!['time'] as number;
        const restoredAfter = () =>
          aggregators
            .flatMap((c) => logged(c, 'aggregator partition restored'))
            .filter((o) => (o['time'] as number) > takenAt);
        await until(
          "the dead member's partitions restored by a survivor",
          async () =>
            (held as number[]).every((p) => restoredAfter().some((o) => o['partition'] === p)),
          30_000,
        ).catch(() => undefined);
        const restored = restoredAfter();
        for (const p of held as number[]) {
          const r = restored.find((o) => o['partition'] === p);
          assert.ok(r !== undefined, `partition ${p} of the dead member was not restored`);
          assert.ok(
            (r['snapshotCycle'] as number) > 0,
            `partition ${p}: restored without a snapshot`,
          );
        }

        await sleep(random() * 1000);
        await kill9(writer, 'writer');
        debug(writer);
        writer = run('writer');
        const afterWriter = await cycles();
        await until('the restarted writer applies new cycles', async () =>
          (await cycles()).every((c, p) => c > afterWriter[p]!),
        );
        await sleep(random() * 1000);
        for (const [i, c] of aggregators.entries()) {
          await kill9(c, `aggregator ${i + 2}`);
          debug(c);
        }
        await kill9(writer, 'restarted writer');
        debug(writer);

        const totals = await ingesting;
        const drain = spawnRole(ns, 'aggregator', 'drain');
        children.push(drain);
        assert.equal(await exited(drain.child), 0, drain.out());
        const drainWriter = spawnRole(ns, 'writer', 'drain');
        children.push(drainWriter);
        assert.equal(await exited(drainWriter.child), 0, drainWriter.out());

        const res = await assertExact(app.store, lines, now, `seed ${seed}`);
        assert.ok(res.events > 35_000, `${res.events} events`);
        assert.ok(res.topsChecked > 10, `${res.topsChecked} top lists`);

        // the committed totals agree: every accepted record is an event or a duplicate, once
        const st = (await app.store.status()).consumers.find((c) => c.consumer === 'writer')!;
        assert.equal(st.totals.events + st.totals.duplicates, totals.accepted);
        assert.equal(st.totals.events, res.events);
        assert.equal(await app.deadLetters!.count(), totals.rejected);
        assert.ok(totals.rejected > 0);

        // the query role reads the same numbers
        const rows = await app.store.rows(-Infinity, Infinity, '*');
        const r0 = rows[Math.floor(rows.length / 2)]!;
        const c = await app.query!.count(r0.adId, {
          from: new Date(r0.minute).toISOString(),
          to: new Date(r0.minute + MINUTE).toISOString(),
        });
        assert.equal(c.count, r0.count);
        console.error(
          `seed ${seed}: partitions ${(held as number[]).join(',')} of the killed aggregator restored by the others (${restored.length} restores after the kill), ${res.events} events, ${st.totals.duplicates} duplicates, ${res.late} late, ${res.topsChecked} top lists exact, ${totals.rejected} dead letters`,
        );
      } finally {
        await app.close();
      }
    },
  );
});
