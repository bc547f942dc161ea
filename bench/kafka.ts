/**
 * `kafka`: the distributed mode end to end, exactly once, with the broker and PostgreSQL on
 * this machine. Three processes started through the command line (`tally start --mode
 * distributed`): one with the ingest, writer and query roles, two aggregators (one consumer
 * group on 8 partitions). Figures:
 *
 * - throughput: generated clicks POSTed to /v1/clicks (4 requests in flight) until the writer
 *   has committed every accepted one to PostgreSQL; accepted events / wall time;
 * - produce → queryable: one click at a time, from its `200` until the query API counts it
 *   (its minute is closed already: the count is a correction), p50 and p99;
 * - catch-up: an aggregator killed with SIGKILL while clicks keep coming; the time from the
 *   kill until the group's lag is 0 and the writer committed every accepted event again (the
 *   group's session timeout, 6 s here (distributed.sessionTimeoutMs), is most of it).
 *
 * Each run has a namespace of its own; its topics and PostgreSQL schema are deleted at the end
 * (TALLY_BENCH_KEEP=1 keeps them, to look at).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin } from '@platformatic/kafka';
import { dropPgSchema } from '../src/adapters/store-pg/index.js';
import { generateClicks } from '../src/core/generate/index.js';
import { loadConfig } from '../src/config/load.js';
import { distribution, perSecond, row, say, sleep, type BenchRow } from './harness.js';

const TALLY_BIN = fileURLToPath(new URL('../../bin/tally.js', import.meta.url));
const MINUTE = 60_000;

interface Proc {
  child: ChildProcess;
  base: string;
}

async function startRoles(roles: string, env: NodeJS.ProcessEnv, dir: string): Promise<Proc> {
  // TALLY_BENCH_CPU_PROF=<dir>: each role process writes a V8 CPU profile there (on a clean
  // stop; the aggregator killed with SIGKILL writes none)
  const profDir = process.env.TALLY_BENCH_CPU_PROF;
  const prof =
    profDir === undefined || profDir === ''
      ? []
      : ['--cpu-prof', `--cpu-prof-dir=${join(profDir, roles.replace(/,/g, '+'))}`];
  const child = spawn(
    process.execPath,
    [
      ...prof,
      TALLY_BIN,
      'start',
      '--mode',
      'distributed',
      '--role',
      roles,
      '--port',
      '0',
      '--data-dir',
      dir,
      '--config',
      join(dir, '..', 'tally.json'),
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, TALLY_LOG_LEVEL: 'warn', ...env },
    },
  );
  let err = '';
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${roles}: not serving in 90 s: ${err}`)),
      90_000,
    );
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving on (http:\/\/[^,\s]+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${roles}: exited ${code}: ${err}`));
    });
  });
  return { child, base };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

interface Status {
  lag: number;
  totals: { events: number; duplicates: number; late: number };
  writer?: { lag: number };
}

async function status(base: string): Promise<Status> {
  return (await (await fetch(`${base}/v1/status`)).json()) as Status;
}

/** Waits until the group's and the writer's lag are 0 and the writer counted `n` events. */
async function settledAt(base: string, n: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const s = await status(base).catch(() => undefined);
    if (
      s !== undefined &&
      s.lag === 0 &&
      (s.writer?.lag ?? 0) === 0 &&
      s.totals.events + s.totals.duplicates + s.totals.late >= n
    )
      return performance.now();
    if (performance.now() > deadline)
      throw new Error(`not settled in ${timeoutMs} ms: ${JSON.stringify(s)}`);
    await sleep(50);
  }
}

async function post(base: string, lines: readonly string[]): Promise<number> {
  for (;;) {
    const res = await fetch(`${base}/v1/clicks`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: lines.join('\n'),
    });
    if (res.status === 200) return ((await res.json()) as { accepted: number }).accepted;
    if (res.status !== 429 && res.status !== 503)
      throw new Error(`POST: ${res.status} ${await res.text()}`);
    await sleep(Number(res.headers.get('retry-after') ?? 1) * 1000);
  }
}

/** Posts `lines` in chunks, `parallel` requests in flight; returns the accepted count. */
async function postAll(base: string, lines: readonly string[], chunk: number, parallel: number) {
  let next = 0;
  let accepted = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < lines.length) {
        const from = next;
        next += chunk;
        // read after the await: `accepted += await …` would add to a stale value
        const n = await post(base, lines.slice(from, from + chunk));
        accepted += n;
      }
    }),
  );
  return accepted;
}

export async function benchKafkaEndToEnd(opts: {
  quick: boolean;
  /** the test suite's run-through (TALLY_BENCH_SMOKE): the same steps, a tenth of the clicks */
  smoke?: boolean;
}): Promise<BenchRow[]> {
  const events = opts.smoke ? 4_000 : opts.quick ? 40_000 : 300_000;
  const probes = opts.smoke ? 3 : opts.quick ? 10 : 40;
  const catchUp = opts.smoke ? 1_000 : opts.quick ? 10_000 : 60_000;
  const ns = `bench_${Date.now().toString(36)}`;
  const dir = await mkdtemp(join(tmpdir(), 'tally-bench-kafka-'));
  await writeFile(
    join(dir, 'tally.json'),
    JSON.stringify({
      log: { partitions: 8 },
      // the broker's minimum: a killed aggregator's partitions move after 6 s, not 10
      distributed: { sessionTimeoutMs: 6_000 },
      aggregation: { commitIntervalMs: 100, idleTimeoutMs: 2_000, allowedLatenessMs: 3_600_000 },
    }),
  );
  const env = { TALLY_NAMESPACE: ns };
  const procs: Proc[] = [];
  try {
    say(`kafka: namespace ${ns}: starting 3 processes (ingest,writer,query + 2 aggregators)`);
    const main = await startRoles('ingest,writer,query', env, join(dir, 'main'));
    procs.push(main);
    const aggs = await Promise.all([
      startRoles('aggregator', env, join(dir, 'a1')),
      startRoles('aggregator', env, join(dir, 'a2')),
    ]);
    procs.push(...aggs);

    const now = Date.now();
    const lines: string[] = [];
    const gen = generateClicks({
      seed: 3,
      count: events + catchUp,
      ads: 20_000,
      startTime: now - 8 * MINUTE,
      eventsPerSecond: Math.ceil((events + catchUp) / (6 * 60)),
    });
    for (let r = gen.next(); !r.done; r = gen.next()) lines.push(...r.value);

    // a warm-up: the group's first assignment and restores are done before the clock starts
    const warm = [JSON.stringify({ ad_id: `warm-${ns}`, timestamp: now - 4 * MINUTE })];
    let accepted = await post(main.base, warm);
    await settledAt(main.base, accepted, 120_000);

    say(`kafka: ${events} clicks over HTTP`);
    const t0 = performance.now();
    const warmed = accepted;
    accepted += await postAll(main.base, lines.slice(0, events), 2_000, 4);
    const posted = performance.now();
    const t1 = await settledAt(main.base, accepted, 600_000);
    say(
      `kafka: accepted in ${Math.round(posted - t0)} ms, all in PostgreSQL ${Math.round(t1 - posted)} ms later`,
    );
    const throughput = perSecond(accepted - warmed, t1 - t0);

    say(`kafka: ${probes} probes, produce → queryable`);
    const latencies: number[] = [];
    for (let i = 0; i < probes; i++) {
      // a minute closed already: the count shows once the correction is committed
      const minute = Math.floor((Date.now() - 3 * MINUTE) / MINUTE) * MINUTE;
      const ad = `probe-${ns}-${i}`;
      const sent = performance.now();
      await post(main.base, [JSON.stringify({ ad_id: ad, timestamp: minute + 1_000 })]);
      const acked = performance.now();
      for (;;) {
        const r = (await (
          await fetch(
            `${main.base}/v1/ads/${ad}/aggregated_count?from=${minute}&to=${minute + MINUTE}`,
          )
        ).json()) as { count: number };
        if (r.count === 1) break;
        if (performance.now() - sent > 60_000) throw new Error(`${ad}: not queryable in 60 s`);
        await sleep(10);
      }
      latencies.push(performance.now() - acked);
    }
    accepted += probes;
    const lat = distribution(latencies);

    say(`kafka: an aggregator killed with SIGKILL, ${catchUp} clicks meanwhile`);
    const victim = aggs[1] as Proc;
    const killedAt = performance.now();
    victim.child.kill('SIGKILL');
    const during = await postAll(main.base, lines.slice(events), 2_000, 4);
    accepted += during;
    const caughtUp = await settledAt(main.base, accepted, 600_000);

    const note = `${accepted} events, 8 partitions, 2 aggregators, broker and PostgreSQL on this machine`;
    return [
      row(
        'kafka',
        'throughput',
        Math.round(throughput),
        'events/s',
        `HTTP → Kafka → aggregators → Kafka → writer → PostgreSQL; ${note}`,
      ),
      row(
        'kafka',
        'produce_to_queryable_p50',
        Math.round(lat.p50),
        'ms',
        `${probes} single clicks, from the 200 to the query API counting it`,
      ),
      row(
        'kafka',
        'produce_to_queryable_p99',
        Math.round(lat.p99),
        'ms',
        `${probes} single clicks`,
      ),
      row(
        'kafka',
        'catch_up_after_kill',
        Math.round(caughtUp - killedAt),
        'ms',
        `SIGKILL of 1 of 2 aggregators, ${catchUp} clicks during; the 6 s session timeout included`,
      ),
    ];
  } finally {
    // SIGTERM first (a profile is written on a clean exit), SIGKILL after 20 s
    await Promise.all(procs.map((p) => stop(p.child)));
    await rm(dir, { recursive: true, force: true });
    if (!process.env.TALLY_BENCH_KEEP) await dropNamespace(ns);
  }
}

/** Deletes the run's topics and schema; a failure is said, not fatal (the figures stand). */
async function dropNamespace(ns: string): Promise<void> {
  const d = loadConfig({ env: { ...process.env, TALLY_NAMESPACE: ns } }).distributed;
  const admin = new Admin({ clientId: `${ns}-cleanup`, bootstrapBrokers: d.brokers });
  try {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(`${ns}.`));
    if (mine.length > 0) await admin.deleteTopics({ topics: mine });
    await dropPgSchema(d.databaseUrl, ns);
  } catch (err) {
    say(`kafka: could not delete namespace ${ns}: ${(err as Error).message}`);
  } finally {
    await admin.close().catch(() => undefined);
  }
}
