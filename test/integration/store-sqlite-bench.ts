/**
 * Measures the SQLite aggregate store at scale: commit rate, then count / timeseries / top
 * latencies on a store of `minutes` × `rows` rows over `ads` ads (default 60 × 200k over 2M).
 * Not a test: run it by hand, e.g.
 *   node dist/test/integration/store-sqlite-bench.js [--minutes 60] [--rows 200000]
 *     [--ads 2000000] [--per-ad-index] [--top-index] [--synchronous NORMAL]
 * Prints one JSON array of {name, metric, value, unit} (the `tally bench --json` shape).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import type { DimFilter } from '../../src/ports/aggregate-reader.js';
import type { MinuteRow } from '../../src/ports/aggregates.js';
import { tempDir } from '../helpers/cli.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    rows: { type: 'string', default: '200000' },
    ads: { type: 'string', default: '2000000' },
    'per-ad-index': { type: 'boolean', default: false },
    'top-index': { type: 'boolean', default: false },
    synchronous: { type: 'string', default: 'FULL' },
  },
});
const MINUTES = Number(args.minutes);
const ROWS = Number(args.rows);
const ADS = Number(args.ads);
const M = 60_000;
const T0 = Date.UTC(2026, 10, 25, 10, 0);
const COUNTRIES = ['US', 'US', 'US', 'CA', 'GB', 'DE', 'FR', 'JP', 'BR', 'IN'];

const results: Array<{ name: string; metric: string; value: number; unit: string }> = [];
const report = (name: string, metric: string, value: number, unit: string) => {
  results.push({ name, metric, value: Math.round(value * 1000) / 1000, unit });
  process.stderr.write(`${name.padEnd(34)} ${metric.padEnd(6)} ${value.toFixed(3)} ${unit}\n`);
};

/** mulberry32: deterministic, so runs compare */
let seed = 12345;
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
/** skewed ad popularity: low ids are drawn far more often */
const adOf = (i: number) => `ad-${String(i).padStart(7, '0')}`;
const drawAd = () => adOf(Math.floor(ADS * rand() ** 3));

/** ROWS rows for one minute: each active ad gets its '*' row and one country row. */
function minuteRows(minute: number): MinuteRow[] {
  const rows: MinuteRow[] = [];
  const seen = new Set<string>();
  while (rows.length < ROWS) {
    const adId = drawAd();
    if (seen.has(adId)) continue;
    seen.add(adId);
    const count = 1 + Math.floor(50 * rand() ** 4);
    rows.push({ minute, adId, dim: '*', count });
    const country = COUNTRIES[Math.floor(rand() * COUNTRIES.length)]!;
    rows.push({ minute, adId, dim: `country=${country}`, count });
  }
  return rows;
}

function percentiles(name: string, samples: number[]): void {
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  report(name, 'p50', at(0.5), 'ms');
  report(name, 'p99', at(0.99), 'ms');
}

async function time(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

const dir = tempDir('store-bench');
const file = join(dir.dir, 'bench.sqlite');
const store = await openSqliteStore({
  file,
  perAdIndex: args['per-ad-index'],
  topIndex: args['top-index'],
  synchronous: args.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL',
});
try {
  process.stderr.write(
    `store: ${MINUTES} minutes × ${ROWS} rows, ${ADS} ads, perAdIndex=${store.perAdIndex} topIndex=${store.topIndex}\n`,
  );
  const commitMs: number[] = [];
  const sampleAds: string[] = [];
  for (let i = 0; i < MINUTES; i++) {
    const rows = minuteRows(T0 + i * M);
    for (let k = 0; k < 50; k++) sampleAds.push(rows[Math.floor(rand() * rows.length)]!.adId);
    const t0 = performance.now();
    await store.commit({
      consumer: 'bench',
      rows,
      top: [],
      late: [],
      offsets: new Map([[0, i + 1]]),
      watermark: T0 + (i + 1) * M,
    });
    commitMs.push(performance.now() - t0);
  }
  percentiles(`commit ${ROWS} new rows`, [...commitMs]);
  const total = commitMs.reduce((a, b) => a + b, 0);
  report('commit rate (inserts)', 'mean', (MINUTES * ROWS) / (total / 1000), 'rows/s');

  // allowed lateness re-emits recent minutes: the same keys again, the update path
  const again = minuteRows(T0 + (MINUTES - 1) * M);
  const t0 = performance.now();
  await store.commit({
    consumer: 'bench',
    rows: again,
    top: [],
    late: [],
    offsets: new Map([[0, MINUTES + 1]]),
    watermark: T0 + MINUTES * M,
  });
  report(
    'commit rate (re-emitted minute)',
    'mean',
    ROWS / ((performance.now() - t0) / 1000),
    'rows/s',
  );

  const end = T0 + MINUTES * M;
  const ad = (i: number) => sampleAds[(i * 7919) % sampleAds.length]!;
  const us: DimFilter = { dims: ['country=US'] };
  const usCa: DimFilter = { dims: ['country=US', 'country=CA'] };
  for (const [label, minutes, filter] of [
    ['count 1m', 1, undefined],
    ['count 5m', 5, undefined],
    ['count 60m', 60, undefined],
    ['count 60m country=US', 60, us],
    ['count 60m country=US,CA', 60, usCa],
  ] as const) {
    percentiles(label, await time(2000, (i) => store.count(ad(i), end - minutes * M, end, filter)));
  }
  percentiles(
    'count 24h (60m of data)',
    await time(500, (i) => store.count(ad(i), end - 1440 * M, end)),
  );
  percentiles(
    'timeseries 60m',
    await time(1000, (i) => store.timeseries(ad(i), end - 60 * M, end)),
  );
  for (const [label, minutes, filter, n] of [
    ['top100 1m', 1, undefined, 100],
    ['top100 1m country=US', 1, us, 50],
    ['top100 1m country=US,CA', 1, usCa, 50],
    ['top100 5m', 5, undefined, 20],
    ['top100 5m country=US', 5, us, 20],
    ['top100 60m', 60, undefined, 5],
  ] as const) {
    percentiles(label, await time(n, () => store.top(end - minutes * M, end, 100, filter)));
  }
  const size = (p: string) => (existsSync(p) ? statSync(p).size : 0);
  report('file size (db + wal)', 'bytes', size(file) + size(`${file}-wal`), 'B');
  process.stdout.write(`${JSON.stringify(results)}\n`);
} finally {
  await store.close();
  dir.cleanup();
}
