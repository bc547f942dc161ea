/**
 * The benchmark workloads: NDJSON files from the seeded generator, written once into a cache
 * under the OS temp dir (never into the repo) and reused by every entry and every run. The
 * file name carries every generator parameter, so a changed workload is a new file; a file is
 * written under a temporary name and renamed when complete, so an interrupted run never
 * leaves a truncated workload behind.
 */
import { createWriteStream, existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateClicks,
  type GenerateOptions,
  type GenerateStats,
} from '../src/core/generate/index.js';
import { progress, say, sizeLabel } from './harness.js';

/** The shape of the traffic (SPEC: the book's workload, scaled to the machine by `lines`). */
export const WORKLOAD_SHAPE = {
  seed: 20_240_101,
  /** 2024-01-01T00:00:00Z: fixed, so the files are the same on every run and machine */
  startTime: Date.UTC(2024, 0, 1),
  ads: 2_000_000,
  zipfExponent: 1.05,
  /** the book's peak: 50 000 clicks per second of event time */
  eventsPerSecond: 50_000,
  duplicateRate: 0.03,
  invalidRate: 0.01,
  /** out of order by up to 30 s: past the 15 s watermark delay (corrections), within the lateness */
  disorderMs: 30_000,
  /** 0.1 % beyond the 5 min lateness: recorded as late, never counted silently */
  lateRate: 0.001,
} as const;

export interface Workload {
  file: string;
  lines: number;
  bytes: number;
  label: string;
  stats: GenerateStats;
  options: GenerateOptions;
}

export function cacheRoot(): string {
  return join(tmpdir(), 'tally-bench');
}

function optionsFor(lines: number): GenerateOptions {
  return { ...WORKLOAD_SHAPE, count: lines, chunkSize: 8192 };
}

function fileNameFor(o: GenerateOptions): string {
  const s = WORKLOAD_SHAPE;
  return [
    'clicks',
    `n${o.count}`,
    `s${s.seed}`,
    `a${s.ads}`,
    `z${s.zipfExponent}`,
    `r${s.eventsPerSecond}`,
    `d${s.duplicateRate}`,
    `i${s.invalidRate}`,
    `o${s.disorderMs}`,
    `l${s.lateRate}`,
    // bump when the generator's output changes for the same options
    'g1',
  ].join('-');
}

/** The workload of `lines` lines, generated on first use. */
export async function ensureWorkload(lines: number): Promise<Workload> {
  const options = optionsFor(lines);
  const dir = join(cacheRoot(), 'workloads');
  await mkdir(dir, { recursive: true });
  const base = join(dir, fileNameFor(options));
  const file = `${base}.ndjson`;
  const meta = `${base}.json`;
  const label = sizeLabel(lines);
  if (existsSync(file) && existsSync(meta)) {
    const stats = JSON.parse(readFileSync(meta, 'utf8')) as GenerateStats;
    return { file, lines, bytes: statSync(file).size, label, stats, options };
  }
  say(`generating the ${label} workload (once; cached in ${dir})`);
  const partial = `${file}.${process.pid}.partial`;
  const out = createWriteStream(partial, { highWaterMark: 4 << 20 });
  const bar = progress(`generate ${label}`, lines, 'lines');
  let done = 0;
  try {
    const it = generateClicks(options);
    for (;;) {
      const r = it.next();
      if (r.done) {
        await new Promise<void>((resolve, reject) => {
          out.once('error', reject);
          out.end(resolve);
        });
        renameSync(partial, file);
        await writeFile(meta, JSON.stringify(r.value) + '\n');
        return { file, lines, bytes: statSync(file).size, label, stats: r.value, options };
      }
      done += r.value.length;
      bar.update(done);
      if (!out.write(r.value.join('\n') + '\n')) {
        await new Promise<void>((resolve) => out.once('drain', resolve));
      }
    }
  } catch (err) {
    out.destroy();
    await rm(partial, { force: true });
    throw err;
  } finally {
    bar.stop();
  }
}

/**
 * What an exact count of the workload must be: every valid and late line counts once;
 * duplicates and invalid lines do not (late lines are counted by reconciliation, not in the
 * minutes: the aggregator records them apart).
 */
export function expectedCounted(stats: GenerateStats): number {
  return stats.valid;
}
