/**
 * `archive`: raw log records → Parquet (ParquetArchive.archive: the staging CSV written from
 * the binary records, DuckDB's COPY per event hour with ZSTD, fsync, rename, manifest). Each
 * partition's whole log is archived as one range of a fresh copy of the ingested workload;
 * throughput is records per second, size is Parquet bytes per million events (and the log's,
 * for comparison).
 *
 * `reconcile`: the per-minute counts recomputed from the archive by ClickAggregator and
 * compared with the store (tally reconcile without --repair). The data: the workload's shape
 * spread over half an hour of event time (so that most of its minutes are final), 10M events in the
 * full run, ingested, drained and archived whole outside the clock; the timed part is the
 * reconcile, three times, over every final minute.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { openEmbedded } from '../src/app/embedded.js';
import { generateClicks } from '../src/core/generate/index.js';
import { DEFAULT_CONSUMER } from '../src/services/aggregator/runner.js';
import { Reconciler } from '../src/services/reconcile/reconciler.js';
import {
  median,
  perSecond,
  progress,
  row,
  say,
  type BenchContext,
  type BenchRow,
} from './harness.js';
import { WORKLOAD_SHAPE } from './workload.js';

/** bytes of the files below `dir` */
async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const name of (await readdir(dir, { recursive: true })) as string[]) {
    const s = await stat(join(dir, name));
    if (s.isFile()) n += s.size;
  }
  return n;
}

const RECONCILE_EVENTS = { smoke: 20_000, quick: 300_000, full: 10_000_000 } as const;

async function archiveOnce(ctx: BenchContext, dataDir: string) {
  const app = await openEmbedded(ctx.appConfig(dataDir), {
    logger: ctx.logger,
    restoreAggregator: false,
  });
  try {
    let records = 0;
    let parquet = 0;
    const t0 = performance.now();
    for (let p = 0; p < app.log.partitions; p++) {
      const range = {
        partition: p,
        fromOffset: app.log.startOffset(p),
        toOffset: app.log.endOffset(p),
      };
      if (range.toOffset === range.fromOffset) continue;
      const done = await app.archive.archive(range, (from, max) => app.log.read(p, from, max));
      records += done.records;
      for (const f of done.files) parquet += f.bytes;
    }
    const ms = performance.now() - t0;
    return { ms, records, parquet };
  } finally {
    await app.close();
  }
}

export async function benchArchive(ctx: BenchContext): Promise<BenchRow[]> {
  const [w] = await ctx.workloads();
  if (w === undefined) return [];
  const rates: number[] = [];
  let last: { ms: number; records: number; parquet: number } | undefined;
  let logBytes = 0;
  for (let r = 0; r < ctx.runs; r++) {
    const dir = await ctx.ingestedCopy(w);
    say(`archive ${w.label}: run ${r + 1}/${ctx.runs}`);
    logBytes = await dirBytes(join(dir, 'log'));
    last = await archiveOnce(ctx, dir);
    await ctx.discard(dir);
    rates.push(perSecond(last.records, last.ms));
  }
  if (!last) return [];
  const perMillion = (bytes: number) => Math.round((bytes / last.records) * 1e6);
  return [
    row(
      'archive',
      `throughput_${w.label}`,
      Math.round(median(rates)),
      'events/s',
      `median of ${ctx.runs} runs; log → Parquet (ZSTD), fsync, manifest`,
    ),
    row(
      'archive',
      'parquet_bytes_per_million',
      perMillion(last.parquet),
      'bytes',
      `${last.records} events`,
    ),
    row(
      'archive',
      'log_bytes_per_million',
      perMillion(logBytes),
      'bytes',
      'the raw log, for comparison',
    ),
  ];
}

export async function benchReconcile(ctx: BenchContext): Promise<BenchRow[]> {
  const count = ctx.smoke
    ? RECONCILE_EVENTS.smoke
    : ctx.quick
      ? RECONCILE_EVENTS.quick
      : RECONCILE_EVENTS.full;
  const dir = await ctx.newDataDir('reconcile');
  const config = ctx.appConfig(dir, { log: { durability: 'none' } });
  try {
    // setup, outside the clock: ingest, drain, archive everything
    {
      const app = await openEmbedded(config, { logger: ctx.logger });
      try {
        const bar = progress(`reconcile setup: ingest ${count}`, count, 'lines');
        const gen = generateClicks({
          ...WORKLOAD_SHAPE,
          // half an hour of event time whatever the count: most minutes final (5 min lateness)
          eventsPerSecond: Math.max(50, Math.round(count / 1800)),
          count,
          chunkSize: 65_536,
        });
        let lines = 0;
        for (let r = gen.next(); !r.done; r = gen.next()) {
          await app.ingest.ingestBody(`${r.value.join('\n')}\n`, 'application/x-ndjson', 'bench');
          lines += r.value.length;
          bar.update(lines);
        }
        bar.stop();
        say('reconcile setup: drain');
        await app.runner.drain();
        say('reconcile setup: archive');
        for (let p = 0; p < app.log.partitions; p++) {
          const range = {
            partition: p,
            fromOffset: app.log.startOffset(p),
            toOffset: app.log.endOffset(p),
          };
          if (range.toOffset > range.fromOffset) {
            await app.archive.archive(range, (from, max) => app.log.read(p, from, max));
          }
        }
      } finally {
        await app.close();
      }
    }
    const rates: number[] = [];
    let events = 0;
    let rows = 0;
    let differing = 0;
    for (let r = 0; r < ctx.runs; r++) {
      const app = await openEmbedded(config, { logger: ctx.logger, restoreAggregator: false });
      try {
        const reconciler = new Reconciler({
          events: app.archive,
          tail: app.tail,
          gate: app.gate,
          store: app.store,
          partitions: app.log.partitions,
          aggregation: config.aggregation,
          maxRangeDays: config.archive.maxRawRangeDays,
          clock: app.clock,
          logger: ctx.logger,
          consumer: DEFAULT_CONSUMER,
        });
        say(`reconcile: run ${r + 1}/${ctx.runs}`);
        const from = WORKLOAD_SHAPE.startTime;
        const t0 = performance.now();
        const report = await reconciler.run({ from, repair: false });
        const ms = performance.now() - t0;
        events = report.eventsReplayed;
        rows = report.rowsChecked;
        differing = report.differences.length;
        rates.push(perSecond(events, ms));
      } finally {
        await app.close();
      }
    }
    return [
      row(
        'reconcile',
        'throughput',
        Math.round(median(rates)),
        'events/s',
        `median of ${ctx.runs} runs; ${events} events replayed from Parquet, ${rows} rows compared`,
      ),
      row(
        'reconcile',
        'rows_differing',
        differing,
        'rows',
        'the workload has late events: their rows differ until a repair',
      ),
    ];
  } finally {
    await ctx.discard(dir);
  }
}
