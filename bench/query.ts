/**
 * Query latency over HTTP against a store holding many distinct ads, while ingesting:
 * p50/p95/p99 of `aggregated_count` (one ad, the seeded minutes), of `popular_ads` for the
 * configured windows (1, 5, 60 minutes) without a filter and with a country filter (both
 * precomputed lists: of every event, and of that country), and of an ad's per-minute series
 * over a day; and the event loop's largest delay while each kind runs.
 *
 * The store is seeded through the real write path (ingest → log → aggregator → store) with
 * one event per ad per minute for `ads` ads; then a background loop keeps ingesting over
 * HTTP while closed-loop clients query. Bounded in requests and in time.
 *
 * Standalone: node dist/bench/query.js [--quick] [--ads N] [--data-dir DIR]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { openEmbedded, type EmbeddedApp } from '../src/app/embedded.js';
import { loadConfig } from '../src/config/index.js';
import { parseNdjson } from '../src/core/event/parse-body.js';
import { ClickGenerator } from '../src/core/generate/generate.js';
import { httpDepsFromEmbedded } from '../src/app/http.js';
import { buildHttpServer } from '../src/services/http/server.js';
import { silentLogger } from '../src/services/observability/logger.js';
import type { BenchResult } from './http-ingest.js';

const MINUTE = 60_000;
const COUNTRIES = ['US', 'IN', 'BR', 'GB', 'DE', 'JP', 'FR', 'CA'];

export interface QueryBenchOptions {
  quick: boolean;
  /** the test suite's run-through (TALLY_BENCH_SMOKE): a few requests of each kind */
  smoke?: boolean;
  dataDir: string;
  /** distinct ads in the store (default: 50 000 quick, 2 000 000 full) */
  ads?: number;
}

/** One event per ad in each of `minutes` minutes ending before `end`: every ad is in the store. */
async function seed(app: EmbeddedApp, ads: number, minutes: number, end: number): Promise<number> {
  const chunk = 50_000;
  let events = 0;
  for (let k = 0; k < minutes; k++) {
    const minute = end - (minutes - k) * MINUTE;
    for (let first = 0; first < ads; first += chunk) {
      const lines: string[] = [];
      for (let i = first; i < Math.min(ads, first + chunk); i++) {
        const t = minute + (i % 59_000);
        lines.push(
          `{"ad_id":"ad-${i}","timestamp":${t},"event_id":"s-${k}-${i}","country":"${COUNTRIES[(i + k) % COUNTRIES.length]}"}`,
        );
      }
      const r = await app.ingest.ingest(parseNdjson(lines.join('\n')), 'bench');
      events += r.accepted;
    }
  }
  return events;
}

async function waitForAggregator(
  app: EmbeddedApp,
  closedUpTo: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (app.runner.lag() > 0 || !(app.runner.watermark >= closedUpTo)) {
    if (Date.now() > deadline) {
      throw new Error(`aggregator still behind after ${timeoutMs} ms (lag ${app.runner.lag()})`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, i)]! * 100) / 100;
}

/** `clients` closed loops issuing `next()` URLs until `total` requests or `maxMs` elapsed. */
async function measure(
  base: string,
  next: (i: number) => string,
  total: number,
  clients: number,
  maxMs: number,
): Promise<{ latencies: number[]; failures: number }> {
  const latencies: number[] = [];
  let failures = 0;
  let issued = 0;
  const deadline = performance.now() + maxMs;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (issued < total && performance.now() < deadline) {
        const url = base + next(issued++);
        const t0 = performance.now();
        const res = await fetch(url);
        await res.arrayBuffer();
        latencies.push(performance.now() - t0);
        if (!res.ok) failures++;
      }
    }),
  );
  return { latencies: latencies.sort((a, b) => a - b), failures };
}

/** Keeps ingesting generated traffic over HTTP until stopped: queries run under write load. */
function backgroundIngest(base: string, eventsPerSecond: number): { stop(): Promise<number> } {
  const gen = new ClickGenerator({
    seed: 11,
    count: Number.MAX_SAFE_INTEGER,
    startTime: Date.now() - 60_000,
    eventsPerSecond: 100_000,
    ads: 100_000,
    invalidRate: 0,
    lateRate: 0,
  });
  let running = true;
  let sent = 0;
  const batch = 1000;
  const pause = (batch / eventsPerSecond) * 1000;
  const loop = (async () => {
    while (running) {
      const lines: string[] = [];
      for (let i = 0; i < batch; i++) lines.push(gen.next());
      const started = performance.now();
      const res = await fetch(`${base}/v1/clicks`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: lines.join('\n'),
      });
      await res.arrayBuffer();
      if (res.ok) sent += batch;
      const wait = pause - (performance.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return sent;
    },
  };
}

export async function benchQuery(opts: QueryBenchOptions): Promise<BenchResult[]> {
  const ads = opts.ads ?? (opts.quick ? 50_000 : 2_000_000);
  // every ad in each minute: 2 minutes of 2M ads is 4M events and 8M store rows (all + country)
  const minutes = opts.quick ? 3 : 2;
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir: opts.dataDir,
      // seeded minutes are older than the default lateness by the time the aggregator sees them
      aggregation: { allowedLatenessMs: 3_600_000, idleTimeoutMs: 2_000 },
    },
  });
  const app = await openEmbedded(config, { logger: silentLogger() });
  app.runner.start();
  const server = buildHttpServer(httpDepsFromEmbedded(app), {
    bodyLimitBytes: config.http.bodyLimitBytes,
    logger: silentLogger(),
  });
  try {
    const base = await server.listen({ host: '127.0.0.1', port: 0 });
    // seeded minutes end a minute ago: the wall-clock watermark (now − 15 s) closes them all
    const end = Math.floor(Date.now() / MINUTE) * MINUTE - MINUTE;
    const seedStarted = performance.now();
    const seeded = await seed(app, ads, minutes, end);
    await waitForAggregator(app, end, opts.quick ? 120_000 : 1_200_000);
    const seedSeconds = (performance.now() - seedStarted) / 1000;

    const load = backgroundIngest(base, opts.quick ? 2_000 : 5_000);
    const from = new Date(end - minutes * MINUTE).toISOString();
    const to = new Date(end).toISOString();
    // the event loop's largest delay while `run` runs: a query (or a commit) that holds the
    // thread delays ingest, health checks and every other request by as much
    const withLoop = async <T>(run: () => Promise<T>): Promise<T & { loopMaxMs: number }> => {
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      const r = await run();
      loop.disable();
      return { ...r, loopMaxMs: Math.round(loop.max / 1e6) };
    };
    // a fixed stride walks the ad space without a random source
    const count = await withLoop(() =>
      measure(
        base,
        (i) => `/v1/ads/ad-${(i * 7_919) % ads}/aggregated_count?from=${from}&to=${to}`,
        opts.smoke ? 50 : opts.quick ? 500 : 5_000,
        4,
        opts.quick ? 15_000 : 60_000,
      ),
    );
    const windows = config.aggregation.topWindows;
    const popularAll = await withLoop(() =>
      measure(
        base,
        (i) => `/v1/ads/popular_ads?count=100&window=${windows[i % windows.length]}&to=${to}`,
        opts.smoke ? 30 : opts.quick ? 300 : 3_000,
        4,
        opts.quick ? 15_000 : 60_000,
      ),
    );
    const popular = await withLoop(() =>
      measure(
        base,
        (i) =>
          `/v1/ads/popular_ads?count=100&window=${windows[i % windows.length]}&to=${to}&filter=country=${COUNTRIES[i % COUNTRIES.length]}`,
        opts.smoke ? 5 : opts.quick ? 30 : 200,
        2,
        opts.quick ? 30_000 : 120_000,
      ),
    );
    const dayFrom = new Date(end - 1440 * MINUTE).toISOString();
    const series = await withLoop(() =>
      measure(
        base,
        (i) => `/v1/ads/ad-${(i * 7_919) % ads}/timeseries?from=${dayFrom}&to=${to}`,
        opts.smoke ? 30 : opts.quick ? 300 : 2_000,
        4,
        opts.quick ? 15_000 : 60_000,
      ),
    );
    const ingested = await load.stop();

    const name = 'query';
    const stats = (metric: string, r: { latencies: number[] }): BenchResult[] => [
      { name, metric: `${metric}_p50`, value: percentile(r.latencies, 50), unit: 'ms' },
      { name, metric: `${metric}_p95`, value: percentile(r.latencies, 95), unit: 'ms' },
      { name, metric: `${metric}_p99`, value: percentile(r.latencies, 99), unit: 'ms' },
      { name, metric: `${metric}_requests`, value: r.latencies.length, unit: 'requests' },
    ];
    return [
      { name, metric: 'distinct_ads', value: ads, unit: 'ads' },
      { name, metric: 'seed_events', value: seeded, unit: 'events' },
      { name, metric: 'seed_seconds', value: Math.round(seedSeconds * 10) / 10, unit: 's' },
      ...stats('aggregated_count', count),
      ...stats('popular_ads', popularAll),
      ...stats('popular_ads_filtered', popular),
      ...stats('timeseries_day', series),
      {
        name,
        metric: 'event_loop_delay_max_during_count',
        value: count.loopMaxMs,
        unit: 'ms',
      },
      {
        name,
        metric: 'event_loop_delay_max_during_popular',
        value: popular.loopMaxMs,
        unit: 'ms',
      },
      {
        name,
        metric: 'event_loop_delay_max_during_timeseries',
        value: series.loopMaxMs,
        unit: 'ms',
      },
      {
        name,
        metric: 'failed_requests',
        value: count.failures + popularAll.failures + popular.failures + series.failures,
        unit: 'requests',
      },
      { name, metric: 'ingested_meanwhile', value: ingested, unit: 'events' },
    ];
  } finally {
    await server.close();
    await app.close();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const given = flag('--data-dir');
  const adsFlag = flag('--ads');
  const dataDir = given ?? (await mkdtemp(join(tmpdir(), 'tally-bench-query-')));
  try {
    const results = await benchQuery({
      quick: args.includes('--quick'),
      dataDir,
      ...(adsFlag ? { ads: Number(adsFlag) } : {}),
    });
    process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  } finally {
    if (!given) await rm(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
