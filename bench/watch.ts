/**
 * `watch`: lines/s from an NDJSON file into the durable log through the log watcher, as
 * `tally watch --once` runs it (app/watch: the watcher reads the file in windows of
 * watch.maxLineBytes, sends through the ingest service with several sends in flight, fsync
 * durability on, and writes its checkpoint). Timed from opening the data dir to the last
 * line durable and the checkpoint written. The baseline is `tally ingest` of the same file
 * in the same run (the bench `ingest` entry's path): what following a file costs over
 * reading it once.
 */
import { openWatch } from '../src/app/watch.js';
import { median, perSecond, ratio, row, say, type BenchContext, type BenchRow } from './harness.js';
import { ingestOnce } from './ingest.js';

export async function benchWatch(ctx: BenchContext): Promise<BenchRow[]> {
  // the smallest workload: the suite has a time budget, and the ratio is what matters
  const [w] = await ctx.workloads();
  if (w === undefined) return [];
  const watched: number[] = [];
  const ingested: number[] = [];
  for (let r = 0; r < ctx.runs; r++) {
    say(`watch ${w.label}: run ${r + 1}/${ctx.runs}`);
    const dir = await ctx.newDataDir(`watch-${w.label}`);
    try {
      const t0 = performance.now();
      const app = await openWatch(ctx.appConfig(dir), {
        logger: ctx.logger,
        patterns: [w.file],
        cwd: process.cwd(),
        once: true,
      });
      try {
        await app.watcher.done();
      } finally {
        await app.close();
      }
      const ms = performance.now() - t0;
      const sent = app.watcher.status().linesSent;
      if (sent !== w.lines) say(`watch ${w.label}: sent ${sent} lines, the file has ${w.lines}`);
      watched.push(perSecond(sent, ms));
    } finally {
      await ctx.discard(dir);
    }
    const base = await ctx.newDataDir(`watch-ingest-${w.label}`);
    try {
      ingested.push(perSecond(w.lines, (await ingestOnce(ctx, w, base)).ms));
    } finally {
      await ctx.discard(base);
    }
  }
  const note = ctx.runs > 1 ? `median of ${ctx.runs} runs` : undefined;
  return [
    row('watch', `throughput_${w.label}`, Math.round(median(watched)), 'lines/s', note),
    row(
      'watch',
      `ingest_throughput_${w.label}`,
      Math.round(median(ingested)),
      'lines/s',
      'tally ingest of the same file, same run',
    ),
    row(
      'watch',
      `vs_ingest_${w.label}`,
      Math.round(ratio(median(watched), median(ingested)) * 1000) / 1000,
      '×',
      'watch / ingest (> 1×: the watcher is faster)',
    ),
  ];
}
