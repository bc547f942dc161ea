/**
 * `aggregate`: log → committed aggregates. A data dir whose log already holds the workload is
 * opened (restore included, outside the clock) and `runner.drain()` is timed: every record
 * read, deduplicated, counted, every minute closed, rows + offsets + snapshot committed to
 * SQLite. Throughput is log records (accepted events, duplicates included) per second.
 *
 * The run also checks the counts, which costs nothing: every valid line counts once, every
 * duplicate is caught. A non-zero `unaccounted` is a bug, not noise.
 */
import { openEmbedded } from '../src/app/embedded.js';
import { median, perSecond, row, say, type BenchContext, type BenchRow } from './harness.js';
import type { Workload } from './workload.js';

export interface DrainFigures {
  ms: number;
  records: number;
  events: number;
  duplicates: number;
  late: number;
}

/** Opens `dataDir` (holding w's log) and times runner.drain(). */
export async function drainOnce(ctx: BenchContext, dataDir: string): Promise<DrainFigures> {
  const app = await openEmbedded(ctx.appConfig(dataDir), { logger: ctx.logger });
  try {
    let records = 0;
    for (let p = 0; p < app.log.partitions; p++)
      records += app.log.endOffset(p) - app.log.startOffset(p);
    const t0 = performance.now();
    await app.runner.drain();
    const ms = performance.now() - t0;
    const c = app.runner.counters;
    return { ms, records, events: c.events, duplicates: c.duplicates, late: c.late };
  } finally {
    await app.close();
  }
}

/**
 * (valid + late lines) − the events the aggregator took (counted into a minute, or recorded
 * late: the runner's `events` counter holds both): lost (> 0) or taken twice (< 0).
 */
export function unaccounted(w: Workload, d: DrainFigures): number {
  return w.stats.valid + w.stats.late - d.events;
}

export async function benchAggregate(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const workloads = await ctx.workloads();
  for (const [i, w] of workloads.entries()) {
    const runs = i === 0 ? ctx.runs : 1;
    const rates: number[] = [];
    let last: DrainFigures | undefined;
    for (let r = 0; r < runs; r++) {
      const dir = await ctx.ingestedCopy(w);
      say(`aggregate ${w.label}: run ${r + 1}/${runs}`);
      last = await drainOnce(ctx, dir);
      await ctx.discard(dir);
      rates.push(perSecond(last.records, last.ms));
    }
    if (!last) continue;
    const note = runs > 1 ? `median of ${runs} runs` : undefined;
    rows.push(
      row('aggregate', `throughput_${w.label}`, Math.round(median(rates)), 'events/s', note),
      row('aggregate', `records_${w.label}`, last.records, 'records'),
      row(
        'aggregate',
        `duplicates_${w.label}`,
        last.duplicates,
        'events',
        `workload has ${w.stats.duplicates}`,
      ),
      row(
        'aggregate',
        `unaccounted_${w.label}`,
        unaccounted(w, last),
        'events',
        'valid + late lines − events taken (counted or late): must be 0',
      ),
    );
  }
  return rows;
}
