/**
 * `ingest`: NDJSON file → durable log through the real IngestService, exactly as `tally ingest`
 * does it (services/ingest/file-ingest: chunks of whole lines, the byte-scanning batch
 * encoder, several chunks in flight so that encoding overlaps the fsyncs, encoded on the main
 * thread: the CLI's default), fsync durability on. Throughput counts the file's lines
 * (invalid ones included: they are parsed, validated and dead-lettered) per second, from the
 * first byte read to the last append made durable. Opening the data dir is outside the clock.
 */
import { createReadStream } from 'node:fs';
import { openEmbedded } from '../src/app/embedded.js';
import type { IngestService } from '../src/services/ingest/ingest-service.js';
import { ingestNdjsonStream } from '../src/services/ingest/file-ingest.js';
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

/** `tally ingest`'s read size: each chunk of whole lines becomes one append */
const CHUNK_BYTES = 1 << 20;

export interface IngestTotals {
  accepted: number;
  rejected: number;
}

/** The file into the log through the CLI's streaming path; resolves once all is durable. */
export function ingestFile(
  ingest: IngestService,
  file: string,
  onBytes: (n: number) => void = () => undefined,
): Promise<IngestTotals> {
  const input = createReadStream(file, { highWaterMark: CHUNK_BYTES });
  return ingestNdjsonStream(ingest, input, `file:${file}`, { onBytes });
}

/** One timed ingest of `w` into the empty data dir `dataDir`. */
export async function ingestOnce(
  ctx: BenchContext,
  w: Workload,
  dataDir: string,
): Promise<{ ms: number; totals: IngestTotals }> {
  const app = await openEmbedded(ctx.appConfig(dataDir), {
    logger: ctx.logger,
    restoreAggregator: false,
  });
  const bar = progress(`ingest ${w.label}`, Math.ceil(w.bytes / 2 ** 20), 'MiB');
  let read = 0;
  try {
    const t0 = performance.now();
    const totals = await ingestFile(app.ingest, w.file, (n) => {
      read += n;
      bar.update(read / 2 ** 20);
    });
    return { ms: performance.now() - t0, totals };
  } finally {
    bar.stop();
    await app.close();
  }
}

export async function benchIngest(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const workloads = await ctx.workloads();
  for (const [i, w] of workloads.entries()) {
    // the largest workload once: the suite has a time budget
    const runs = i === 0 ? ctx.runs : 1;
    const rates: number[] = [];
    let totals: IngestTotals | undefined;
    for (let r = 0; r < runs; r++) {
      say(`ingest ${w.label}: run ${r + 1}/${runs}`);
      const dir = await ctx.newDataDir(`ingest-${w.label}`);
      const once = await ingestOnce(ctx, w, dir);
      rates.push(perSecond(w.lines, once.ms));
      totals = once.totals;
      if (!ctx.offerIngested(w, dir)) await ctx.discard(dir);
    }
    const note = runs > 1 ? `median of ${runs} runs` : undefined;
    rows.push(
      row('ingest', `throughput_${w.label}`, Math.round(median(rates)), 'events/s', note),
      row(
        'ingest',
        `mib_per_second_${w.label}`,
        round1((median(rates) * w.bytes) / w.lines / 2 ** 20),
        'MiB/s',
      ),
      row('ingest', `accepted_${w.label}`, totals?.accepted ?? NaN, 'events'),
      row('ingest', `rejected_${w.label}`, totals?.rejected ?? NaN, 'events'),
    );
    if (totals && totals.rejected !== w.stats.invalid) {
      say(
        `ingest ${w.label}: ${totals.rejected} rejected, the workload has ${w.stats.invalid} invalid lines`,
      );
    }
  }
  return rows;
}

export const round1 = (v: number) => Math.round(v * 10) / 10;
