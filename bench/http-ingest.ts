/**
 * HTTP ingest throughput: autocannon POSTs pre-generated 1000-event NDJSON batches to a real
 * server on loopback (fsync durability, aggregator running). Every 200 is a durable ack.
 * Bounded in requests and in time; stops by itself.
 *
 * Standalone: node dist/bench/http-ingest.js [--quick] [--data-dir DIR]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { openEmbedded } from '../src/app/embedded.js';
import { loadConfig } from '../src/config/index.js';
import { ClickGenerator } from '../src/core/generate/generate.js';
import { httpDepsFromEmbedded } from '../src/app/http.js';
import { buildHttpServer } from '../src/services/http/server.js';
import { silentLogger } from '../src/services/observability/logger.js';

export interface BenchResult {
  name: string;
  metric: string;
  value: number;
  unit: string;
}

const BATCH = 1000;

/** Distinct batches (one per request), so the aggregator sees fresh events, not one body repeated. */
function batches(n: number, now: number): string[] {
  const gen = new ClickGenerator({
    seed: 7,
    count: n * BATCH,
    startTime: now - 120_000,
    eventsPerSecond: 20_000,
    ads: 100_000,
    invalidRate: 0,
    lateRate: 0,
  });
  const out: string[] = [];
  for (let b = 0; b < n; b++) {
    const lines = new Array<string>(BATCH);
    for (let i = 0; i < BATCH; i++) lines[i] = gen.next();
    out.push(lines.join('\n') + '\n');
  }
  return out;
}

function run(opts: autocannon.Options, maxSeconds: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => {
      clearTimeout(timer);
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else resolve(result);
    });
    // `amount` bounds the requests; this bounds the time, whichever comes first
    const timer = setTimeout(() => instance.stop(), maxSeconds * 1000);
  });
}

export async function benchHttpIngest(opts: {
  quick: boolean;
  /** the test suite's run-through (TALLY_BENCH_SMOKE): a couple of seconds */
  smoke?: boolean;
  dataDir: string;
}): Promise<BenchResult[]> {
  const config = loadConfig({ env: {}, overrides: { dataDir: opts.dataDir } });
  const app = await openEmbedded(config, { logger: silentLogger() });
  app.runner.start();
  const server = buildHttpServer(httpDepsFromEmbedded(app), {
    bodyLimitBytes: config.http.bodyLimitBytes,
    logger: silentLogger(),
  });
  try {
    const address = await server.listen({ host: '127.0.0.1', port: 0 });
    const bodies = batches(opts.quick ? 200 : 2_000, Date.now());
    let next = 0;
    // the aggregator shares the event loop: its blocking stretches show up in the HTTP tail
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const appendedBefore = appended(app);
    const started = performance.now();
    const result = await run(
      {
        url: address,
        connections: opts.quick ? 4 : 8,
        amount: opts.quick ? 200 : 2_000,
        timeout: 30,
        requests: [
          {
            method: 'POST',
            path: '/v1/clicks',
            headers: { 'content-type': 'application/x-ndjson' },
            // one counter across connections: each request takes the next batch
            setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] }),
          },
        ],
      },
      opts.smoke ? 2 : opts.quick ? 10 : 60,
    );
    const seconds = (performance.now() - started) / 1000;
    loop.disable();
    const events = appended(app) - appendedBefore;
    const name = 'http-ingest';
    return [
      { name, metric: 'events_per_second', value: Math.round(events / seconds), unit: 'events/s' },
      { name, metric: 'requests_per_second', value: round(result.requests.average), unit: 'req/s' },
      { name, metric: 'latency_p50', value: result.latency.p50, unit: 'ms' },
      { name, metric: 'latency_p99', value: result.latency.p99, unit: 'ms' },
      { name, metric: 'event_loop_delay_p99', value: round(loop.percentile(99) / 1e6), unit: 'ms' },
      { name, metric: 'event_loop_delay_max', value: round(loop.max / 1e6), unit: 'ms' },
      { name, metric: 'requests', value: result['2xx'], unit: 'requests' },
      { name, metric: 'refused_or_failed', value: result.non2xx + result.errors, unit: 'requests' },
    ];
  } finally {
    await server.close();
    await app.close();
  }
}

function appended(app: { log: { partitions: number; endOffset(p: number): number } }): number {
  let n = 0;
  for (let p = 0; p < app.log.partitions; p++) n += app.log.endOffset(p);
  return n;
}

const round = (v: number) => Math.round(v * 10) / 10;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const i = args.indexOf('--data-dir');
  const given = i >= 0 ? args[i + 1] : undefined;
  const dataDir = given ?? (await mkdtemp(join(tmpdir(), 'tally-bench-http-')));
  try {
    const results = await benchHttpIngest({ quick: args.includes('--quick'), dataDir });
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
