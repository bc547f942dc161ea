/**
 * `soak`: days of running, compressed. One hour of event time at the book's average (10k
 * clicks/s: 36M events), then 10 minutes at its peak (50k/s: 30M), generated in process
 * (Zipf over 2M ads, 2 % client retries, a little disorder) and appended to the embedded log
 * as binary records, aggregated by the embedded runner with its exactly-once commits
 * (incremental snapshots, retention job), with a 1 h dedup horizon. Event time runs as fast
 * as the machine goes: the watermark follows the events, the snapshot cadence follows the
 * records (`snapshotMaxRecords`) since the wall clock hardly moves.
 *
 * Then the worst moment for a restart: a backlog at the peak rate is appended and caught up
 * cycle by cycle until the next cycle would be a snapshot (the most records to replay, the
 * largest chain), and the process gets SIGKILL. A second process restores it (snapshot chain
 * + replay) and commits: spawn → first new commit is the resume time. It then drains and
 * checks that nothing is unaccounted: every record of the log is an event or a duplicate,
 * and the '*' rows (minute, hourly and daily) sum to the events counted.
 *
 * Reported: peak RSS of the aggregating process, the state (dedup ids, bytes per id and per
 * (ad, minute)), bytes and time per snapshot (bases and deltas), the resume, the disk use.
 * `--quick`: 6 minutes at 10k/s and 1 at 50k/s with a 3-minute horizon (the state expires
 * while it runs), snapshots every 500k records. The test suite's smoke run (TALLY_BENCH_SMOKE)
 * keeps that shape at a tenth of the events: bases, deltas, expiry and the kill all happen.
 *
 * Children: node dist/bench/soak.js --child '<json>' | --resume '<json>'
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { openEmbedded } from '../src/app/embedded.js';
import { dataPaths } from '../src/app/paths.js';
import { loadConfig, type Config, type DeepPartial } from '../src/config/index.js';
import { RecordWriter } from '../src/core/event/codec.js';
import type { ClickEvent } from '../src/core/event/types.js';
import { partitionFor } from '../src/core/event/hash.js';
import { Prng } from '../src/core/generate/prng.js';
import { ZipfSampler } from '../src/core/generate/zipf.js';
import type { EventLog } from '../src/ports/event-log.js';
import { silentLogger } from '../src/services/observability/logger.js';
import { RssSampler, row, say, type BenchContext, type BenchRow } from './harness.js';

const MiB = 2 ** 20;
const T0 = Date.UTC(2026, 0, 5);
const ADS = 2_000_000;
const COUNTRIES = ['US', 'IN', 'BR', 'GB', 'DE', 'JP', 'FR', 'CA', 'MX', 'ID', 'IT', 'ES'];

interface Plan {
  /** [seconds of event time, events per second] */
  phases: [number, number][];
  dedupHorizonMs: number;
  snapshotMaxRecords: number;
  /** records appended at once for the kill */
  backlog: number;
  partitions: number;
}

const PLANS: Record<'smoke' | 'quick' | 'full', Plan> = {
  smoke: {
    phases: [
      [60, 5_000],
      [10, 20_000],
    ],
    dedupHorizonMs: 20_000,
    snapshotMaxRecords: 100_000,
    backlog: 200_000,
    partitions: 8,
  },
  quick: {
    phases: [
      [360, 10_000],
      [60, 50_000],
    ],
    dedupHorizonMs: 180_000,
    snapshotMaxRecords: 500_000,
    backlog: 1_500_000,
    partitions: 8,
  },
  full: {
    phases: [
      [3600, 10_000],
      [600, 50_000],
    ],
    dedupHorizonMs: 3_600_000,
    // as the quick form: at the peak rate a replay of 500k records takes about a second here
    // (the default, 2M, is also the distributed mode's, whose snapshots are whole)
    snapshotMaxRecords: 500_000,
    backlog: 4_000_000,
    partitions: 8,
  },
};

interface ChildRequest {
  config: DeepPartial<Config>;
  plan: Plan;
}

interface SnapshotFigure {
  kind: 'base' | 'delta';
  bytes: number;
  ms: number;
}

interface SoakAnswer {
  events: number;
  ms: number;
  peakRss: number;
  maxRss: number;
  snapshots: SnapshotFigure[];
  dedupEntries: number;
  dedupBytes: number;
  paneEntries: number;
  paneBytes: number;
  stateBytes: number;
  openRows: number;
  armedSinceSnapshot: number;
  chain: { baseBytes: number; deltaBytes: number; deltas: number } | null;
  retention: { minutesFrom: number; hoursFrom: number };
}

interface ResumeAnswer {
  /** ms since this process started (Node start-up included) */
  restoredAt: number;
  firstCommitAt: number;
  restoreMs: number;
  loadMs: number;
  stateMs: number;
  replayMs: number;
  replayedRecords: number;
  replayedCycles: number;
  appended: number;
  events: number;
  duplicates: number;
  late: number;
  starRows: number;
  diskBytes: number;
  storeBytes: number;
}

/** Generates the plan's clicks second by second of event time, as binary records per partition. */
class Clicks {
  private readonly rng = new Prng(11);
  private readonly zipf = new ZipfSampler(ADS, 1.05);
  private readonly ids = new Map<number, { id: string; partition: number }>();
  private readonly recent: ClickEvent[] = [];
  private readonly writers: RecordWriter[];
  private n = 0;

  constructor(private readonly partitions: number) {
    this.writers = Array.from({ length: partitions }, () => new RecordWriter(1 << 20));
  }

  /** One second of event time at `rate` events/s. */
  second(s: number, rate: number): { partition: number; data: Uint8Array; count: number }[] {
    const rng = this.rng;
    for (let i = 0; i < rate; i++) {
      let ev: ClickEvent;
      if (rng.next() < 0.02 && this.recent.length > 0) {
        ev = this.recent[rng.int(this.recent.length)]!; // a client retry
      } else {
        const rank = this.zipf.sample(rng);
        let ad = this.ids.get(rank);
        if (ad === undefined) {
          const id = `ad-${rank}`;
          ad = { id, partition: partitionFor(id, this.partitions) };
          this.ids.set(rank, ad);
        }
        ev = {
          adId: ad.id,
          // a little disorder within the watermark delay
          timestamp: T0 + s * 1000 + Math.floor((i * 1000) / rate) - rng.int(3_000),
          eventId: `e-${this.n++}`,
          eventIdGiven: true,
          userId: undefined,
          ip: undefined,
          country: COUNTRIES[rng.int(COUNTRIES.length)],
          extra: undefined,
        };
        if (this.recent.length < 1024) this.recent.push(ev);
        else this.recent[rng.int(1024)] = ev;
      }
      this.writers[partitionFor(ev.adId, this.partitions)]!.write(ev);
    }
    const out: { partition: number; data: Uint8Array; count: number }[] = [];
    this.writers.forEach((w, partition) => {
      if (w.count === 0) return;
      out.push({ partition, data: w.finish(), count: w.count });
      w.reset();
    });
    return out;
  }
}

function appended(log: EventLog): number {
  let n = 0;
  for (let p = 0; p < log.partitions; p++) n += log.endOffset(p);
  return n;
}

function duBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += duBytes(p);
    else if (e.isFile()) n += statSync(p).blocks * 512;
  }
  return n;
}

/** Child A: the soak, then the backlog caught up to just before a snapshot; then waits for SIGKILL. */
async function soakChild(req: ChildRequest): Promise<void> {
  const config = loadConfig({ env: {}, overrides: req.config });
  const app = await openEmbedded(config, { logger: silentLogger() });
  const sampler = new RssSampler(50).start();
  const clicks = new Clicks(app.log.partitions);
  const snapshots: SnapshotFigure[] = [];
  let lastAt: number | undefined;
  const noteSnapshot = () => {
    const s = app.runner.lastSnapshot;
    if (s !== undefined && s.at !== lastAt) {
      lastAt = s.at;
      snapshots.push({ kind: s.kind, bytes: s.bytes, ms: s.ms });
    }
  };
  const t0 = performance.now();
  let s = 0;
  for (const [seconds, rate] of req.plan.phases) {
    for (let i = 0; i < seconds; i++, s++) {
      await app.log.append(clicks.second(s, rate));
      // a commit per 2 s of event time (20k–100k records), as commitIntervalMs would
      if (s % 2 === 1) {
        await app.runner.cycle();
        noteSnapshot();
      }
      if (s % 60 === 0) {
        await app.retention.runOnce();
        process.stderr.write(`soak: ${s} s of event time, ${appended(app.log)} records\n`);
      }
    }
  }
  while (app.runner.lag() > 0) {
    await app.runner.cycle();
    noteSnapshot();
  }
  const ms = performance.now() - t0;
  const events = appended(app.log);
  const st = app.runner.stateStats();

  // the worst moment: a backlog at the peak rate caught up cycle by cycle, killed when the
  // next cycle would take a snapshot (the most records to replay since the last one)
  const rate = req.plan.phases[req.plan.phases.length - 1]![1];
  for (let n = 0; n < req.plan.backlog; n += rate) {
    await app.log.append(clicks.second(s++, rate));
    if (app.runner.recordsSinceSnapshot + 2 * rate >= req.plan.snapshotMaxRecords) break;
    await app.runner.cycle();
    noteSnapshot();
  }
  const peak = sampler.stop();
  const answer: SoakAnswer = {
    events,
    ms,
    peakRss: peak.peak,
    maxRss: process.resourceUsage().maxRSS * 1024,
    snapshots,
    dedupEntries: st.dedupEntries,
    dedupBytes: st.dedupBytes,
    paneEntries: st.paneEntries,
    paneBytes: st.paneBytes,
    stateBytes: st.stateBytes,
    openRows: st.openRows,
    armedSinceSnapshot: app.runner.recordsSinceSnapshot,
    chain: app.runner.lastSnapshot?.chain ?? null,
    retention: await app.store.retentionPosition(),
  };
  process.stdout.write(JSON.stringify(answer) + '\nARMED\n');
  // held open (the data dir locked, nothing closed) until the parent kills it
  setInterval(() => undefined, 60_000);
}

/** Child B: restore after the kill, commit, drain, account for every record. */
async function resumeChild(req: ChildRequest): Promise<void> {
  const config = loadConfig({ env: {}, overrides: req.config });
  const app = await openEmbedded(config, { logger: silentLogger() });
  const restoredAt = performance.now();
  const restore = app.runner.lastRestore!;
  await app.runner.cycle();
  const firstCommitAt = performance.now();
  await app.runner.drain();
  const c = app.runner.counters;
  const total = appended(app.log);
  await app.close();
  const db = new Database(dataPaths(config.dataDir).store, { readonly: true });
  const starRows = ['minute_counts', 'hour_counts', 'day_counts']
    .map(
      (t) =>
        (db.prepare(`SELECT COALESCE(sum(count), 0) FROM ${t} WHERE dim = '*'`).pluck().get() as
          number | null) ?? 0,
    )
    .reduce((a, b) => a + b, 0);
  db.close();
  const answer: ResumeAnswer = {
    restoredAt,
    firstCommitAt,
    restoreMs: restore.ms,
    loadMs: restore.loadMs,
    stateMs: restore.stateMs,
    replayMs: restore.replayMs,
    replayedRecords: restore.replayedRecords,
    replayedCycles: restore.replayedCycles,
    appended: total,
    events: c.events,
    duplicates: c.duplicates,
    late: c.late,
    starRows,
    diskBytes: duBytes(config.dataDir),
    // the SQLite file and the snapshot pieces' files beside it
    storeBytes:
      statSync(dataPaths(config.dataDir).store).size +
      (existsSync(`${dataPaths(config.dataDir).store}.snapshots`)
        ? duBytes(`${dataPaths(config.dataDir).store}.snapshots`)
        : 0),
  };
  process.stdout.write(JSON.stringify(answer) + '\n');
}

function spawnChild(mode: '--child' | '--resume', req: ChildRequest): ChildProcess {
  const script = fileURLToPath(import.meta.url);
  // TALLY_BENCH_CPU_PROF=<dir>: profile the resume (the restore is what the soak is about)
  const prof = process.env['TALLY_BENCH_CPU_PROF'];
  const flags =
    mode === '--resume' && prof !== undefined && prof !== ''
      ? ['--cpu-prof', `--cpu-prof-dir=${prof}`]
      : [];
  return spawn(process.execPath, [...flags, script, mode, JSON.stringify(req)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function firstJson<T>(proc: ChildProcess, until: string | null, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`soak child timed out: ${err.slice(-1000)}`));
    }, timeoutMs);
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const lines = d.trim().split('\n');
      say(lines[lines.length - 1]!);
    });
    const settle = () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.split('\n')[0]!) as T);
      } catch {
        reject(new Error(`soak child printed no JSON: ${out.slice(0, 300)} ${err.slice(-1000)}`));
      }
    };
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (until !== null && out.includes(until)) settle();
    });
    proc.on('exit', (code, signal) => {
      if (until !== null && out.includes(until)) return;
      if (code !== 0) {
        clearTimeout(timer);
        reject(new Error(`soak child exited ${code ?? signal}: ${err.trim().slice(-2000)}`));
      } else settle();
    });
  });
}

const median = (xs: number[]) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

export async function benchSoak(ctx: BenchContext): Promise<BenchRow[]> {
  const plan = ctx.smoke ? PLANS.smoke : ctx.quick ? PLANS.quick : PLANS.full;
  const dataDir = await ctx.newDataDir('soak');
  const config: DeepPartial<Config> = {
    ...structuredClone(ctx.config),
    dataDir,
    // the log is a means here, not what is measured: no fsync per append
    log: { partitions: plan.partitions, durability: 'none' },
    aggregation: {
      dedupHorizonMs: plan.dedupHorizonMs,
      snapshotMaxRecords: plan.snapshotMaxRecords,
      memoryBudgetMiB: 16_384,
      // event time runs many times faster than the wall clock and months behind it: a stall of
      // the wall clock (a base written) must not count as idleness, which would move the
      // watermark to the wall clock and expire the whole state
      idleTimeoutMs: 86_400_000,
    },
    archive: { enabled: false },
  } as DeepPartial<Config>;
  const req: ChildRequest = { config, plan };
  const events = plan.phases.reduce((n, [s, r]) => n + s * r, 0);
  try {
    say(`soak: ${events} events in a child process, then a kill at the worst moment`);
    const soak = spawnChild('--child', req);
    const a = await firstJson<SoakAnswer>(soak, 'ARMED', ctx.quick ? 600_000 : 7_200_000);
    soak.kill('SIGKILL');
    await new Promise((r) => (soak.exitCode !== null ? r(undefined) : soak.once('exit', r)));
    say(`soak: killed with ${a.armedSinceSnapshot} records since the last snapshot; resuming`);
    const spawned = performance.now();
    const resume = spawnChild('--resume', req);
    const b = await firstJson<ResumeAnswer>(resume, null, ctx.quick ? 600_000 : 3_600_000);
    void spawned;
    const n = 'soak';
    const bases = a.snapshots.filter((s) => s.kind === 'base');
    const deltas = a.snapshots.filter((s) => s.kind === 'delta');
    const unaccounted = b.appended - b.events - b.duplicates;
    const uncounted = b.events - b.late - b.starRows;
    const label = ctx.smoke ? 'smoke' : ctx.quick ? 'quick' : 'full';
    return [
      row(n, `events_${label}`, a.events, 'events', `${JSON.stringify(plan.phases)} [s, /s]`),
      row(
        n,
        'throughput',
        Math.round(a.events / (a.ms / 1000)),
        'events/s',
        'generate + append + aggregate + commit, one process',
      ),
      row(
        n,
        'peak_rss',
        Math.round(Math.max(a.peakRss, a.maxRss) / MiB),
        'MiB',
        'the aggregating process',
      ),
      row(
        n,
        'state',
        Math.round(a.stateBytes / MiB),
        'MiB',
        'dedup + ads + panes + tops at the end',
      ),
      row(n, 'dedup_ids', a.dedupEntries, 'ids', `horizon ${plan.dedupHorizonMs / 1000} s`),
      row(
        n,
        'bytes_per_id',
        Math.round((a.dedupBytes / Math.max(1, a.dedupEntries)) * 10) / 10,
        'B',
        'dedup slots / occupied',
      ),
      row(
        n,
        'bytes_per_pane_entry',
        Math.round((a.paneBytes / Math.max(1, a.paneEntries)) * 10) / 10,
        'B',
        `${a.paneEntries} (ad, minute[, dim]) counts retained, ${a.openRows} not final`,
      ),
      row(
        n,
        'snapshots',
        a.snapshots.length,
        'snapshots',
        `${bases.length} bases, ${deltas.length} deltas`,
      ),
      row(n, 'base_bytes_max', Math.round(Math.max(0, ...bases.map((s) => s.bytes)) / MiB), 'MiB'),
      row(
        n,
        'base_ms_median',
        Math.round(median(bases.map((s) => s.ms))),
        'ms',
        'write + commit + WAL checkpoint',
      ),
      row(
        n,
        'delta_bytes_median',
        Math.round((median(deltas.map((s) => s.bytes)) / MiB) * 10) / 10,
        'MiB',
      ),
      row(
        n,
        'delta_bytes_max',
        Math.round((Math.max(0, ...deltas.map((s) => s.bytes)) / MiB) * 10) / 10,
        'MiB',
      ),
      row(
        n,
        'delta_ms_median',
        Math.round(median(deltas.map((s) => s.ms))),
        'ms',
        'write + commit',
      ),
      row(n, 'delta_ms_max', Math.round(Math.max(0, ...deltas.map((s) => s.ms))), 'ms'),
      row(
        n,
        'resume_first_commit',
        Math.round(b.firstCommitAt),
        'ms',
        `process start → first new commit after SIGKILL; ${b.replayedRecords} records (${b.replayedCycles} cycles) replayed`,
      ),
      row(
        n,
        'resume_restored',
        Math.round(b.restoredAt),
        'ms',
        'process start → state restored (modules, log and store opened, chain loaded, cycles replayed)',
      ),
      row(
        n,
        'restore',
        Math.round(b.restoreMs),
        'ms',
        `read the chain ${Math.round(b.loadMs)} ms + rebuild ${Math.round(b.stateMs)} ms + replay ${Math.round(b.replayMs)} ms`,
      ),
      row(
        n,
        'disk',
        Math.round(b.diskBytes / MiB),
        'MiB',
        `data dir at the end (store ${Math.round(b.storeBytes / MiB)} MiB, the rest the log)`,
      ),
      row(
        n,
        'late',
        b.late,
        'events',
        'counted late (beyond the lateness): the disorder stays within it',
      ),
      row(
        n,
        'unaccounted',
        unaccounted + uncounted,
        'records',
        `log records − events − duplicates = ${unaccounted}; events − late − '*' rows = ${uncounted}`,
      ),
    ];
  } finally {
    await ctx.discard(dataDir);
  }
}

async function main(): Promise<void> {
  for (const mode of ['--child', '--resume'] as const) {
    const i = process.argv.indexOf(mode);
    if (i < 0 || process.argv[i + 1] === undefined) continue;
    const req = JSON.parse(process.argv[i + 1]!) as ChildRequest;
    await (mode === '--child' ? soakChild(req) : resumeChild(req));
    return;
  }
  throw new Error(
    'usage: node dist/bench/soak.js --child|--resume <json> (run by `tally bench --only soak`)',
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
