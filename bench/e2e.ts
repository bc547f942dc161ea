/**
 * `e2e`: NDJSON file → queryable counts, embedded, one process: what `tally ingest` followed
 * by `tally aggregate --drain` do, without the two process start-ups. The file is made
 * durable in the log (fsync), then `runner.drain()` consumes it, closes every minute and
 * commits, and one query is answered from the store. The clock covers all of it; opening the
 * empty data dir is outside. Throughput is the file's lines per second, the baselines'
 * denominator.
 *
 * Ingest and aggregation run one after the other: in one JS thread, overlapping them (cycles
 * back to back while the file is ingested) measured slower, not faster: the synchronous
 * SQLite commits stall the ingest's parsing and the fsyncs were never the bottleneck.
 */
import { openEmbedded } from '../src/app/embedded.js';
import { ingestFile } from './ingest.js';
import {
  median,
  perSecond,
  progress,
  row,
  say,
  type BenchContext,
  type BenchRow,
} from './harness.js';
import type { Workload } from './workload.js';

const MINUTE = 60_000;

export async function e2eOnce(
  ctx: BenchContext,
  w: Workload,
  dataDir: string,
): Promise<{ ms: number; ingestMs: number; hotAdCount: number; events: number; late: number }> {
  const app = await openEmbedded(ctx.appConfig(dataDir), { logger: ctx.logger });
  const bar = progress(`e2e ${w.label}`, Math.ceil(w.bytes / 2 ** 20), 'MiB');
  let read = 0;
  try {
    const t0 = performance.now();
    await ingestFile(app.ingest, w.file, (n) => {
      read += n;
      bar.update(read / 2 ** 20);
    });
    const ingestMs = performance.now() - t0;
    await app.runner.drain();
    // the hottest ad over the whole workload: the answer a user would ask for first
    const from = Math.floor(w.options.startTime / MINUTE) * MINUTE - 60 * MINUTE;
    const to = w.options.startTime + 24 * 60 * MINUTE;
    const answer = await app.query.count('ad-1', { from: String(from), to: String(to) });
    const ms = performance.now() - t0;
    const c = app.runner.counters;
    return { ms, ingestMs, hotAdCount: answer.count, events: c.events, late: c.late };
  } finally {
    bar.stop();
    await app.close();
  }
}

export async function benchE2e(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const workloads = await ctx.workloads();
  for (const [i, w] of workloads.entries()) {
    const runs = i === 0 ? ctx.runs : 1;
    const rates: number[] = [];
    let last: Awaited<ReturnType<typeof e2eOnce>> | undefined;
    for (let r = 0; r < runs; r++) {
      say(`e2e ${w.label}: run ${r + 1}/${runs}`);
      const dir = await ctx.newDataDir(`e2e-${w.label}`);
      last = await e2eOnce(ctx, w, dir);
      await ctx.discard(dir);
      rates.push(perSecond(w.lines, last.ms));
    }
    if (!last) continue;
    const note = runs > 1 ? `median of ${runs} runs` : undefined;
    rows.push(
      row('e2e', `throughput_${w.label}`, Math.round(median(rates)), 'events/s', note),
      row('e2e', `seconds_${w.label}`, Math.round((last.ms / 1000) * 100) / 100, 's'),
      row(
        'e2e',
        `ingest_share_${w.label}`,
        Math.round((last.ingestMs / last.ms) * 100),
        '%',
        'ingest (file durable in the log); the rest is drain + query',
      ),
      row('e2e', `hot_ad_count_${w.label}`, last.hotAdCount, 'events', 'ad-1, the whole workload'),
      row(
        'e2e',
        `unaccounted_${w.label}`,
        w.stats.valid + w.stats.late - last.events,
        'events',
        'valid + late lines − events the aggregator took (counted or late): must be 0',
      ),
    );
  }
  return rows;
}
