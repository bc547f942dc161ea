/**
 * `memory`: what the aggregator holds. Measured in a CHILD process, so that nothing the
 * suite allocated before (workloads, DuckDB, other entries' heaps) sits in the figures:
 *
 * 1. peak RSS while `runner.drain()` aggregates a data dir holding the workload (the
 *    kernel's high-water mark, `resourceUsage().maxRSS`, and a 25 ms sampler), and the RSS
 *    growth over the drain per log record;
 * 2. bytes per remembered event id, two ways: what the core's dedup table reports after the
 *    drain (its slot array over its occupied slots, from a fresh operator fed the same log:
 *    the runner does not expose its own), and measured: a DedupTable alone, given as many
 *    random 128-bit keys as the workload remembered, with expiries at the workload's rate;
 *    heap + array-buffer growth after GC, per id (slot array, load factor, expiry buckets);
 * 3. the whole operator's state (dedup, interned ads, panes, top-N heaps) per event.
 *
 * Child:  node --expose-gc dist/bench/memory.js --child '<json>'
 */
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openEmbedded } from '../src/app/embedded.js';
import { loadConfig, type Config } from '../src/config/index.js';
import { DedupTable } from '../src/core/dedup/dedup-table.js';
import { Prng } from '../src/core/generate/index.js';
import { ClickAggregator } from '../src/core/operator/aggregator.js';
import type { EventLog } from '../src/ports/event-log.js';
import { operatorConfig } from '../src/services/aggregator/runner.js';
import { silentLogger } from '../src/services/observability/logger.js';
import { RssSampler, row, say, type BenchContext, type BenchRow } from './harness.js';
import { WORKLOAD_SHAPE } from './workload.js';

const MiB = 2 ** 20;

interface ChildRequest {
  config: Config;
}

interface ChildAnswer {
  records: number;
  rssBeforeOpen: number;
  rssBeforeDrain: number;
  peakRss: number;
  maxRss: number;
  sampledPeak: number;
  drainMs: number;
  dedupEntries: number;
  dedupBytes: number;
  dedupCapacity: number;
  operatorBytes: number;
  measuredDedupBytes: number;
}

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
};

const heapAndBuffers = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

/** Feeds the whole log to a fresh operator, as the runner would (one watermark per round). */
async function feedAll(
  log: EventLog,
  agg: ClickAggregator,
  maxBatch: number,
  now: number,
): Promise<void> {
  const next = new Array<number>(log.partitions);
  for (let p = 0; p < log.partitions; p++) next[p] = log.startOffset(p);
  let more = true;
  while (more) {
    more = false;
    for (let p = 0; p < log.partitions; p++) {
      const end = log.endOffset(p);
      if (next[p]! >= end) continue;
      const r = await log.read(p, next[p]!, Math.min(maxBatch, end - next[p]!));
      if (r.count === 0) continue;
      agg.onRecords(p, r.data, r.fromOffset, now);
      next[p] = r.nextOffset;
      more = true;
    }
    agg.onWatermark(agg.computeWatermark(now));
    agg.takeOutput();
  }
}

/** Heap + array-buffer bytes a DedupTable grows by to remember `n` ids, after GC. */
function measureDedup(n: number, horizonMs: number): number {
  const rng = new Prng(3);
  gc();
  const m0 = heapAndBuffers();
  const table = new DedupTable();
  const t0 = WORKLOAD_SHAPE.startTime;
  const msPerId = 1000 / WORKLOAD_SHAPE.eventsPerSecond;
  for (let i = 0; i < n; i++) {
    const expiry = t0 + Math.floor(i * msPerId) + horizonMs;
    table.seen(rng.nextU32(), rng.nextU32(), rng.nextU32(), rng.nextU32(), expiry, -Infinity);
  }
  gc();
  const grown = heapAndBuffers() - m0;
  return table.size > 0 ? grown / table.size : NaN;
}

async function child(req: ChildRequest): Promise<ChildAnswer> {
  gc();
  const rssBeforeOpen = process.memoryUsage.rss();
  const config = loadConfig({ env: {}, overrides: req.config });
  const app = await openEmbedded(config, { logger: silentLogger() });
  try {
    let records = 0;
    for (let p = 0; p < app.log.partitions; p++)
      records += app.log.endOffset(p) - app.log.startOffset(p);
    gc();
    const sampler = new RssSampler(25).start();
    const rssBeforeDrain = sampler.baseline;
    const t0 = performance.now();
    await app.runner.drain();
    const drainMs = performance.now() - t0;
    const sampled = sampler.stop();
    const maxRss = process.resourceUsage().maxRSS * 1024;

    // the operator's state, and its dedup table's own figure: the log into a fresh operator
    const now = Date.now();
    const cfg = operatorConfig(config.aggregation);
    gc();
    const m0 = heapAndBuffers();
    const agg = new ClickAggregator(cfg, app.log.partitions, now);
    await feedAll(app.log, agg, config.aggregation.maxBatchRecords, now);
    gc();
    const operatorBytes = heapAndBuffers() - m0;
    const stats = agg.memoryStats();
    // an id measured: the same number of random keys into a DedupTable alone
    const measuredDedupBytes = measureDedup(stats.dedupEntries, cfg.dedupHorizonMs);
    void agg.watermark; // reachable until measured
    return {
      records,
      rssBeforeOpen,
      rssBeforeDrain,
      peakRss: Math.max(maxRss, sampled.peak),
      maxRss,
      sampledPeak: sampled.peak,
      drainMs,
      dedupEntries: stats.dedupEntries,
      dedupBytes: stats.dedupBytes,
      dedupCapacity: stats.dedupCapacity,
      operatorBytes,
      measuredDedupBytes,
    };
  } finally {
    await app.close();
  }
}

function runChild(req: ChildRequest, timeoutMs: number): Promise<ChildAnswer> {
  const script = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--expose-gc', script, '--child', JSON.stringify(req)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`memory child exited ${code ?? signal}: ${err.trim().slice(-2000)}`));
        return;
      }
      try {
        resolve(JSON.parse(out) as ChildAnswer);
      } catch {
        reject(new Error(`memory child printed no JSON: ${out.slice(0, 500)} ${err.slice(-500)}`));
      }
    });
  });
}

export async function benchMemory(ctx: BenchContext): Promise<BenchRow[]> {
  const workloads = await ctx.workloads();
  // the largest workload: memory is about what grows with it
  const w = workloads[workloads.length - 1]!;
  const dataDir = await ctx.ingestedCopy(w);
  say(`memory ${w.label}: aggregating in a child process`);
  const a = await runChild(
    { config: ctx.appConfig(dataDir) },
    ctx.quick ? 60_000 : 300_000,
  ).finally(() => ctx.discard(dataDir));
  const ids = a.dedupEntries;
  const n = 'memory';
  const l = w.label;
  return [
    row(
      n,
      `peak_rss_${l}`,
      Math.round(a.peakRss / MiB),
      'MiB',
      'whole child process, during drain',
    ),
    row(
      n,
      `rss_before_drain_${l}`,
      Math.round(a.rssBeforeDrain / MiB),
      'MiB',
      'data dir open, aggregator restored',
    ),
    row(
      n,
      `peak_rss_growth_per_record_${l}`,
      Math.round((a.peakRss - a.rssBeforeDrain) / Math.max(1, a.records)),
      'B',
      `over ${a.records} log records`,
    ),
    row(n, `remembered_ids_${l}`, ids, 'ids'),
    row(
      n,
      'dedup_table_bytes_per_id',
      Math.round((a.dedupBytes / Math.max(1, ids)) * 10) / 10,
      'B',
      `the table's slots / occupied (capacity ${a.dedupCapacity}, 24 B slots)`,
    ),
    row(
      n,
      'measured_bytes_per_id',
      Math.round(a.measuredDedupBytes * 10) / 10,
      'B',
      `a DedupTable alone, ${ids} random ids: heap + array buffers after GC`,
    ),
    row(
      n,
      `operator_state_${l}`,
      Math.round(a.operatorBytes / MiB),
      'MiB',
      'heap + array buffers of a fresh operator fed the log',
    ),
    row(
      n,
      'operator_state_per_event',
      Math.round(a.operatorBytes / Math.max(1, a.records)),
      'B',
      'dedup + interned ads + panes + top-N, per log record',
    ),
  ];
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--child');
  if (i < 0 || process.argv[i + 1] === undefined) {
    throw new Error(
      'usage: node --expose-gc dist/bench/memory.js --child <json> (run by `tally bench --only memory`)',
    );
  }
  const answer = await child(JSON.parse(process.argv[i + 1]!) as ChildRequest);
  process.stdout.write(JSON.stringify(answer) + '\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
