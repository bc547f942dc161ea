/**
 * The aggregation hot path on one thread: binary click records through
 * ClickAggregator.onRecords with a periodic computeWatermark/onWatermark, as the runner
 * drives it (batches of 4096 records per partition). Zipf-popular ads (2 M by default),
 * 50 000 events per second of event time (the book's peak), a little disorder, 2 %
 * client-retry duplicates, 0.5 % stragglers within the lateness (corrections) and 0.05 %
 * beyond it (late). Records are generated and encoded before the clock starts.
 *
 * Standalone: node dist/bench/core.js [--quick] [--events N] [--ads N]
 * Profile:    node --cpu-prof dist/bench/core.js --quick
 */
import { pathToFileURL } from 'node:url';
import { RecordWriter } from '../src/core/event/codec.js';
import type { ClickEvent } from '../src/core/event/types.js';
import { partitionFor } from '../src/core/event/hash.js';
import { Prng } from '../src/core/generate/prng.js';
import { ZipfSampler } from '../src/core/generate/zipf.js';
import { ClickAggregator, DEFAULT_AGGREGATOR_CONFIG } from '../src/core/operator/aggregator.js';

export interface BenchResult {
  name: string;
  metric: string;
  value: number;
  unit: string;
}

const PARTITIONS = 8;
const BATCH = 4096;
const EVENTS_PER_SECOND = 50_000;
const T0 = 1_704_067_200_000;
const COUNTRIES = ['US', 'IN', 'BR', 'GB', 'DE', 'JP', 'FR', 'CA', 'MX', 'ID', 'IT', 'ES'];

interface Workload {
  /** batches in arrival order */
  batches: Array<{
    partition: number;
    data: Uint8Array;
    count: number;
    firstOffset: number;
    maxTs: number;
  }>;
  records: number;
}

/** Zipf clicks, encoded once into per-partition batches of BATCH records. */
function generate(events: number, ads: number, seed: number): Workload {
  const rng = new Prng(seed);
  const zipf = new ZipfSampler(ads, 1.05);
  const adIds = new Map<number, { id: string; partition: number }>();
  const writers = Array.from({ length: PARTITIONS }, () => new RecordWriter(BATCH * 80));
  const offsets = new Array<number>(PARTITIONS).fill(0);
  const maxTs = new Array<number>(PARTITIONS).fill(-Infinity);
  const recent: ClickEvent[] = [];
  const out: Workload = { batches: [], records: 0 };
  const seal = (p: number): void => {
    const w = writers[p]!;
    if (w.count === 0) return;
    out.batches.push({
      partition: p,
      data: w.finish(),
      count: w.count,
      firstOffset: offsets[p]!,
      maxTs: maxTs[p]!,
    });
    offsets[p]! += w.count;
    out.records += w.count;
    w.reset();
  };
  for (let i = 0; i < events; i++) {
    let ev: ClickEvent;
    const r = rng.next();
    if (r < 0.02 && recent.length > 0) {
      ev = recent[rng.int(recent.length)]!; // a client retry: the same event again
    } else {
      const rank = zipf.sample(rng);
      let ad = adIds.get(rank);
      if (ad === undefined) {
        const id = `ad-${rank}`;
        ad = { id, partition: partitionFor(id, PARTITIONS) };
        adIds.set(rank, ad);
      }
      let ts = T0 + Math.floor((i * 1000) / EVENTS_PER_SECOND) - rng.int(5_000);
      if (r > 0.9995)
        ts -= 900_000; // beyond the lateness: late
      else if (r > 0.9945) ts -= 30_000 + rng.int(210_000); // a straggler, within it
      const country = rng.next() < 0.95 ? COUNTRIES[rng.int(COUNTRIES.length)] : undefined;
      ev = {
        adId: ad.id,
        timestamp: ts,
        eventId: `e-${i}`,
        eventIdGiven: true,
        userId: undefined,
        ip: undefined,
        country,
        extra: undefined,
      };
      if (recent.length < 1024) recent.push(ev);
      else recent[rng.int(1024)] = ev;
    }
    const p = partitionFor(ev.adId, PARTITIONS);
    writers[p]!.write(ev);
    if (ev.timestamp > maxTs[p]!) maxTs[p] = ev.timestamp;
    if (writers[p]!.count === BATCH) seal(p);
  }
  for (let p = 0; p < PARTITIONS; p++) seal(p);
  return out;
}

/** `quick` only changes the defaults of the standalone entry; the caller sizes the run. */
export async function benchCore(opts: {
  events: number;
  ads: number;
  quick: boolean;
}): Promise<BenchResult[]> {
  const work = generate(opts.events, opts.ads, 42);
  const agg = new ClickAggregator(
    { ...DEFAULT_AGGREGATOR_CONFIG, dimensions: ['country'], topWindows: [1, 5, 60] },
    PARTITIONS,
    T0,
  );
  let rows = 0;
  let tops = 0;
  let late = 0;
  let duplicates = 0;
  const take = (): void => {
    const o = agg.takeOutput();
    rows += o.rows.length;
    tops += o.top.length;
    late += o.stats.late;
    duplicates += o.stats.duplicates;
  };
  // a fresh operator pays for growing its tables and its JIT: the whole run counts, and the
  // second half alone shows the rate once the dedup table and the panes have their size
  const half = Math.floor(work.batches.length / 2);
  let halfAt = 0;
  let halfRecords = 0;
  const started = performance.now();
  let now = T0;
  for (let b = 0; b < work.batches.length; b++) {
    if (b === half) halfAt = performance.now();
    const batch = work.batches[b]!;
    if (b >= half) halfRecords += batch.count;
    // the wall clock runs with event time, one second behind the newest record
    now = Math.max(now, batch.maxTs + 1_000);
    agg.onRecords(batch.partition, batch.data, batch.firstOffset, now);
    if ((b + 1) % PARTITIONS === 0) {
      agg.onWatermark(agg.computeWatermark(now));
      take();
    }
  }
  agg.onWatermark(agg.computeWatermark(now));
  take();
  const ended = performance.now();
  const steadyMs = ended - started;
  const secondHalfMs = ended - halfAt;
  const mem = agg.memoryStats();
  const snapStart = performance.now();
  const snapshot = agg.snapshot();
  const snapMs = performance.now() - snapStart;
  const drainStart = performance.now();
  agg.onWatermark(Infinity);
  take();
  const drainMs = performance.now() - drainStart;
  return [
    {
      name: 'core.aggregate',
      metric: 'throughput',
      value: Math.round(work.records / (steadyMs / 1000)),
      unit: 'events/s',
    },
    {
      name: 'core.aggregate',
      metric: 'throughput_second_half',
      value: Math.round(halfRecords / (secondHalfMs / 1000)),
      unit: 'events/s',
    },
    { name: 'core.aggregate', metric: 'records', value: work.records, unit: 'records' },
    { name: 'core.aggregate', metric: 'distinct_ads', value: mem.ads, unit: 'ads' },
    { name: 'core.aggregate', metric: 'rows_emitted', value: rows, unit: 'rows' },
    { name: 'core.aggregate', metric: 'top_rows_emitted', value: tops, unit: 'rows' },
    { name: 'core.aggregate', metric: 'late', value: late, unit: 'events' },
    { name: 'core.aggregate', metric: 'duplicates', value: duplicates, unit: 'events' },
    { name: 'core.aggregate', metric: 'drain', value: Math.round(drainMs), unit: 'ms' },
    { name: 'core.dedup', metric: 'remembered_ids', value: mem.dedupEntries, unit: 'ids' },
    {
      name: 'core.dedup',
      metric: 'bytes_per_id',
      value: Math.round((mem.dedupBytes / Math.max(1, mem.dedupEntries)) * 10) / 10,
      unit: 'B',
    },
    { name: 'core.snapshot', metric: 'time', value: Math.round(snapMs), unit: 'ms' },
    {
      name: 'core.snapshot',
      metric: 'size',
      value: Math.round(snapshot.length / 1024),
      unit: 'KiB',
    },
  ];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const num = (flag: string, dflt: number): number => {
    const i = args.indexOf(flag);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const quick = args.includes('--quick');
  const results = await benchCore({
    events: num('--events', quick ? 1_000_000 : 10_000_000),
    ads: num('--ads', quick ? 200_000 : 2_000_000),
    quick,
  });
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
