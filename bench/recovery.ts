/**
 * `recovery`: time to resume after `kill -9` under load.
 *
 * `tally start` runs as a CHILD process on a data dir whose log holds the workload, not yet
 * aggregated, while this process POSTs clicks to it over loopback. Once the aggregator has
 * committed about half of the backlog (or after a bounded wait) the child gets SIGKILL. It is
 * started again on the same data dir, the load still running, and the clock measures:
 *
 * - spawn → the runner's `aggregator restored` log line (pino JSON on stderr), which also
 *   carries the replayed cycles and records and the restore's own ms;
 * - spawn → serving HTTP;
 * - spawn → the first commit after the restart (committed offsets in /v1/status move):
 *   the figure to hold against "resume ≤ 5 s after kill -9". Node's start-up is included.
 *
 * Then the load stops, the child catches up, and the counters must account for every record
 * in the log exactly once (appended = events taken + duplicates), then SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClickGenerator } from '../src/core/generate/index.js';
import { row, say, sleep, type BenchContext, type BenchRow } from './harness.js';
import { WORKLOAD_SHAPE, type Workload } from './workload.js';

const TALLY_BIN = fileURLToPath(new URL('../../bin/tally.js', import.meta.url));

interface Restored {
  replayedCycles: number;
  replayedRecords: number;
  ms: number;
}

interface Status {
  lag: number;
  partitions: Array<{ committed_offset: number; end_offset: number }>;
  totals: { appended: number; events: number; duplicates: number; late: number };
}

/** A `tally start` child and what it said on stderr, with the times it said it. */
class TallyChild {
  readonly proc: ChildProcess;
  readonly spawnedAt = performance.now();
  url: string | undefined;
  servingAt: number | undefined;
  restored: Restored | undefined;
  restoredAt: number | undefined;
  private stderrTail = '';
  private exited = false;
  private readonly exit: Promise<void>;

  constructor(configFile: string, dataDir: string) {
    this.proc = spawn(
      process.execPath,
      [
        TALLY_BIN,
        '--config',
        configFile,
        '--data-dir',
        dataDir,
        'start',
        '--port',
        '0',
        '--host',
        '127.0.0.1',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TALLY_LOG_LEVEL: 'info' } },
    );
    this.exit = new Promise((resolve) => this.proc.once('exit', () => resolve()));
    void this.exit.then(() => (this.exited = true));
    let pending = '';
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-4000);
      pending += d;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        this.onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
  }

  private onLine(line: string): void {
    const serving = /serving on (http:\/\/\S+)/.exec(line);
    if (serving && this.url === undefined) {
      this.url = serving[1]!;
      this.servingAt = performance.now();
      return;
    }
    if (!line.startsWith('{')) return;
    try {
      const o = JSON.parse(line) as { msg?: string } & Partial<Restored>;
      if (o.msg === 'aggregator restored' && this.restored === undefined) {
        this.restoredAt = performance.now();
        this.restored = {
          replayedCycles: Number(o.replayedCycles),
          replayedRecords: Number(o.replayedRecords),
          ms: Number(o.ms),
        };
      }
    } catch {
      // not a log line of ours
    }
  }

  async waitServing(timeoutMs: number): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    while (this.url === undefined) {
      if (this.exited)
        throw new Error(`tally start exited: ${this.stderrTail.trim().slice(-1500)}`);
      if (performance.now() > deadline)
        throw new Error(`tally start not serving after ${timeoutMs} ms`);
      await sleep(10);
    }
    return this.url;
  }

  kill9(): Promise<void> {
    if (!this.exited) this.proc.kill('SIGKILL');
    return this.exit;
  }

  /** SIGTERM (final commit), SIGKILL if it takes longer than `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    if (this.exited) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exit;
    clearTimeout(t);
  }
}

async function status(url: string): Promise<Status | undefined> {
  try {
    const res = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) return undefined;
    return (await res.json()) as Status;
  } catch {
    return undefined;
  }
}

const committed = (s: Status) => s.partitions.reduce((a, p) => a + p.committed_offset, 0);

/**
 * POSTs batches of generated clicks at `eventsPerSecond` to whatever URL `target()` gives,
 * until stopped or `maxMs` passed. Event time continues the workload's (2024), at the wall
 * clock's pace: the backlog in the log stays on time, nothing turns late because of the load.
 */
function load(
  target: () => string | undefined,
  startTime: number,
  eventsPerSecond: number,
  maxMs: number,
) {
  const batch = Math.max(1, Math.round(eventsPerSecond / 10));
  const gen = new ClickGenerator({
    seed: 99,
    count: Number.MAX_SAFE_INTEGER,
    startTime,
    eventsPerSecond,
    ads: 100_000,
    invalidRate: 0,
    lateRate: 0,
    disorderMs: 1_000,
  });
  let running = true;
  let accepted = 0;
  let failed = 0;
  const started = performance.now();
  const done = (async () => {
    while (running && performance.now() - started < maxMs) {
      const t0 = performance.now();
      const url = target();
      if (url !== undefined) {
        const lines: string[] = [];
        for (let i = 0; i < batch; i++) lines.push(gen.next());
        try {
          const res = await fetch(`${url}/v1/clicks`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-ndjson' },
            body: lines.join('\n'),
            signal: AbortSignal.timeout(10_000),
          });
          const body = (await res.json()) as { accepted?: number };
          if (res.ok) accepted += body.accepted ?? 0;
          else failed++;
        } catch {
          failed++; // the child is down (killed, restarting): the load keeps trying
        }
      }
      await sleep(Math.max(5, 100 - (performance.now() - t0)));
    }
  })();
  return {
    stats: () => ({ accepted, failed }),
    async stop() {
      running = false;
      await done;
      return { accepted, failed };
    },
  };
}

export async function benchRecovery(ctx: BenchContext): Promise<BenchRow[]> {
  const workloads = await ctx.workloads();
  const w: Workload = workloads[workloads.length - 1]!;
  const dataDir = await ctx.ingestedCopy(w);
  const configFile = join(await ctx.newDataDir('recovery-config'), 'config.json');
  await writeFile(configFile, JSON.stringify(ctx.appConfig(dataDir)));
  const backlog = w.lines - w.stats.invalid;
  const eventTimeAfter =
    w.options.startTime + Math.ceil((w.lines * 1000) / WORKLOAD_SHAPE.eventsPerSecond) + 60_000;
  const rate = ctx.quick ? 2_000 : 5_000;
  const maxKillWaitMs = ctx.quick ? 3_000 : 20_000;
  const n = 'recovery';

  say(`recovery ${w.label}: tally start on a ${backlog}-record backlog, under ${rate} events/s`);
  let current = new TallyChild(configFile, dataDir);
  let url: string | undefined;
  let traffic: ReturnType<typeof load> | undefined;
  try {
    url = await current.waitServing(60_000);
    traffic = load(() => url, eventTimeAfter, rate, 300_000);
    // kill once about half the backlog is committed (or after a bounded wait), at least 1 s in
    const firstServing = performance.now();
    let before: Status | undefined;
    for (;;) {
      await sleep(50);
      const s = await status(url);
      if (s) before = s;
      const elapsed = performance.now() - firstServing;
      if (
        elapsed >= 1_000 &&
        ((before && committed(before) >= backlog / 2) || elapsed >= maxKillWaitMs)
      )
        break;
    }
    const committedBeforeKill = before ? committed(before) : NaN;
    // the load keeps POSTing to the dead address until the new one is known: refusals counted
    await current.kill9();
    say(`recovery: killed -9 with ${committedBeforeKill} records committed; restarting`);
    const second = new TallyChild(configFile, dataDir);
    current = second;
    const newUrl = await second.waitServing(120_000);
    url = newUrl;
    // the committed offsets the restart came back with, then the first commit after them
    let base: number | undefined;
    let firstCommitAt: number | undefined;
    const deadline = performance.now() + 60_000;
    while (firstCommitAt === undefined && performance.now() < deadline) {
      const s = await status(newUrl);
      if (s) {
        if (base === undefined) base = committed(s);
        else if (committed(s) > base) firstCommitAt = performance.now();
      }
      if (firstCommitAt === undefined) await sleep(10);
    }
    const outage = traffic.stats();
    const sent = await traffic.stop();
    // catch up, then account for every record
    let final: Status | undefined;
    const catchUp = performance.now() + (ctx.quick ? 30_000 : 120_000);
    while (performance.now() < catchUp) {
      final = await status(newUrl);
      if (final && final.lag === 0) break;
      await sleep(100);
    }
    const r = second.restored;
    const since = (t: number | undefined) =>
      t === undefined ? NaN : Math.round(t - second.spawnedAt);
    const t = final?.totals;
    return [
      row(
        n,
        'resume_ms',
        since(firstCommitAt),
        'ms',
        'spawn after kill -9 → first new commit (Node start-up included)',
      ),
      row(n, 'restored_ms', since(second.restoredAt), 'ms', 'spawn → "aggregator restored"'),
      row(n, 'serving_ms', since(second.servingAt), 'ms', 'spawn → HTTP serving'),
      row(n, 'restore_own_ms', r?.ms ?? NaN, 'ms', 'as the runner logged it: snapshot + replay'),
      row(n, 'replayed_cycles', r?.replayedCycles ?? NaN, 'cycles'),
      row(n, 'replayed_records', r?.replayedRecords ?? NaN, 'records'),
      row(
        n,
        'committed_before_kill',
        committedBeforeKill,
        'records',
        `of a ${backlog}-record backlog`,
      ),
      row(n, 'load_accepted', sent.accepted, 'events', `${rate} events/s offered over HTTP`),
      row(n, 'load_refused_while_down', outage.failed, 'requests'),
      row(
        n,
        'unaccounted',
        t && final?.lag === 0 ? t.appended - (t.events + t.duplicates) : NaN,
        'records',
        'appended − (events taken + duplicates) after catching up: must be 0',
      ),
    ];
  } finally {
    // the first child is already dead (kill -9) once a second one exists
    await traffic?.stop();
    await current.stop(30_000);
    await ctx.discard(dataDir);
  }
}
