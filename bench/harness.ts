/**
 * What every benchmark entry shares: the result row, timing, percentiles and medians, RSS
 * sampling, progress on stderr and the table printed at the end. Pure helpers (the math) are
 * unit-tested in test/unit/bench; nothing here asserts a timing.
 */
import { cpus, totalmem } from 'node:os';
import cliProgress from 'cli-progress';
import type { Config, DeepPartial } from '../src/config/index.js';
import type { Logger } from '../src/services/observability/logger.js';
import type { Workload } from './workload.js';

/** One figure. `value` is NaN when the entry was skipped; `note` says why (or how it was measured). */
export interface BenchRow {
  name: string;
  metric: string;
  value: number;
  unit: string;
  note?: string;
}

/** The machine-readable form (`tally bench --json`): NaN is not JSON, a skipped figure is null. */
export interface JsonRow {
  name: string;
  metric: string;
  value: number | null;
  unit: string;
  note?: string;
}

export function toJsonRow(r: BenchRow): JsonRow {
  return {
    name: r.name,
    metric: r.metric,
    value: Number.isFinite(r.value) ? r.value : null,
    unit: r.unit,
    ...(r.note === undefined ? {} : { note: r.note }),
  };
}

export function row(
  name: string,
  metric: string,
  value: number,
  unit: string,
  note?: string,
): BenchRow {
  return { name, metric, value, unit, ...(note === undefined ? {} : { note }) };
}

export function skipped(name: string, metric: string, unit: string, why: string): BenchRow {
  return { name, metric, value: NaN, unit, note: `skipped: ${why}` };
}

// ---- math -------------------------------------------------------------------------------

/**
 * Nearest-rank percentile of ascending `sorted` values: the smallest value with at least p %
 * of the values at or below it. NaN for no values; p is clamped to [0, 100].
 */
export function percentile(sorted: readonly number[], p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const q = Math.min(100, Math.max(0, p));
  const rank = Math.ceil((q / 100) * n);
  return sorted[Math.min(n - 1, Math.max(0, rank - 1))]!;
}

/** The median (mean of the middle two for an even count); NaN for none. NaN inputs are ignored. */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return NaN;
  const mid = n >> 1;
  return n % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export interface Distribution {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function distribution(values: readonly number[]): Distribution {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return {
    count: n,
    min: n > 0 ? s[0]! : NaN,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: n > 0 ? s[n - 1]! : NaN,
    mean: n > 0 ? s.reduce((a, b) => a + b, 0) / n : NaN,
  };
}

/** Items per second; NaN when nothing was timed. */
export function perSecond(items: number, ms: number): number {
  return ms > 0 ? (items * 1000) / ms : NaN;
}

/** a / b, NaN when either is not a positive finite number. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN;
}

/** Rounds to `digits` significant digits: figures from a noisy machine deserve no more. */
export function significant(v: number, digits = 3): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const magnitude = Math.floor(Math.log10(Math.abs(v)));
  const factor = 10 ** (digits - 1 - magnitude);
  return Math.round(v * factor) / factor;
}

/** "1M", "150k", "10M": the label of a workload size. */
export function sizeLabel(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n >= 1_000_000) return `${significant(n / 1_000_000, 3)}M`;
  if (n >= 1_000 && n % 1_000 === 0) return `${n / 1_000}k`;
  return String(n);
}

/** A human form of a figure: thousands separated, at most 3 significant decimals below 100. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'n/a';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '-∞';
  const abs = Math.abs(v);
  if (abs >= 100) return Math.round(v).toLocaleString('en-US');
  if (abs >= 1) return String(Math.round(v * 100) / 100);
  return String(significant(v, 3));
}

// ---- timing and memory ----------------------------------------------------------------

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const t0 = performance.now();
  const result = await fn();
  return { ms: performance.now() - t0, result };
}

/**
 * Samples the resident set size on a timer. The timer runs between event-loop turns, so a
 * long synchronous stretch can hide a short peak: in a fresh process,
 * `process.resourceUsage().maxRSS` (the kernel's high-water mark) is the exact peak.
 */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private peakBytes = 0;
  private samples = 0;
  readonly baseline: number;

  constructor(private readonly intervalMs = 25) {
    this.baseline = process.memoryUsage.rss();
    this.peakBytes = this.baseline;
  }

  start(): this {
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  sample(): void {
    const rss = process.memoryUsage.rss();
    this.samples++;
    if (rss > this.peakBytes) this.peakBytes = rss;
  }

  stop(): { peak: number; baseline: number; samples: number } {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    return { peak: this.peakBytes, baseline: this.baseline, samples: this.samples };
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- progress on stderr ---------------------------------------------------------------

export interface Progress {
  update(done: number): void;
  stop(): void;
}

/**
 * A progress bar on stderr for long steps, only when stderr is a terminal (logs and CI get
 * one line per step instead). stdout is never touched: it carries the results.
 */
export function progress(label: string, total: number, unit = ''): Progress {
  if (!process.stderr.isTTY || total <= 0) {
    return { update() {}, stop() {} };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `  ${label.padEnd(28)} [{bar}] {percentage}% | {value}/{total}${unit ? ' ' + unit : ''} | {eta}s`,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update: (done) => bar.update(Math.min(total, Math.round(done))),
    stop: () => bar.stop(),
  };
}

export function say(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

// ---- the machine and the table --------------------------------------------------------

export interface Machine {
  cores: number;
  cpu: string;
  memoryBytes: number;
  node: string;
  platform: string;
  date: string;
}

export function machine(now = new Date()): Machine {
  const c = cpus();
  return {
    cores: c.length,
    cpu: c[0]?.model.trim() ?? 'unknown',
    memoryBytes: totalmem(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    date: now.toISOString(),
  };
}

export function machineRows(m: Machine): BenchRow[] {
  return [
    row('machine', 'cores', m.cores, 'cores', m.cpu),
    row('machine', 'memory', Math.round(m.memoryBytes / 2 ** 20), 'MiB'),
    row('machine', 'node', Number(m.node.slice(1).split('.')[0]), 'major', m.node),
    row('machine', 'date', Date.parse(m.date), 'epoch ms', m.date),
  ];
}

/** What a throughput row is compared with: tally / baseline, per baseline. */
export interface RatioColumn {
  header: string;
  /** the ratio for a row, or undefined when it does not apply to that row */
  of(r: BenchRow): number | undefined;
}

/** A plain-text table, columns aligned; values right-aligned. */
export function formatTable(rows: readonly BenchRow[], ratios: readonly RatioColumn[]): string {
  const header = ['name', 'metric', 'value', 'unit', ...ratios.map((c) => c.header), 'note'];
  const body = rows.map((r) => [
    r.name,
    r.metric,
    formatValue(r.value),
    r.unit,
    ...ratios.map((c) => {
      const v = c.of(r);
      return v === undefined ? '' : Number.isFinite(v) ? `${significant(v, 2)}×` : 'n/a';
    }),
    r.note ?? '',
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((cells) => cells[i]!.length)));
  const numeric = new Set([2, ...ratios.map((_, i) => 4 + i)]);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...body.map(line)].join('\n');
}

// ---- what entries are given -------------------------------------------------------------

/** Baseline figures over one workload file (bench/baselines), medians of the runs. */
export interface BaselineFigures {
  duckdb: number;
  naive: number;
}

/**
 * What index.ts hands every entry: the run's options, the workloads, and data dirs under the
 * run's temp dir (removed at the end). Entries never touch the user's --data-dir.
 */
export interface BenchContext {
  quick: boolean;
  /**
   * TALLY_BENCH_SMOKE=1 with --quick: every entry at a fraction of its quick size, for the test
   * that proves each entry runs and prints well-formed figures. The figures mean nothing then.
   */
  smoke: boolean;
  /** the user's config (defaults ← --config ← env); entries derive theirs with appConfig */
  config: Readonly<Config>;
  /** for the apps under test: warnings and errors only, on stderr */
  logger: Logger;
  /** repetitions of each throughput measurement on the smaller workload (median reported) */
  runs: number;
  /** the workloads of this run, smallest first */
  workloads: () => Promise<Workload[]>;
  /** a fresh, empty data dir */
  newDataDir(label: string): Promise<string>;
  /** the user's config with `dataDir` and fsync durability, plus `overrides` */
  appConfig(dataDir: string, overrides?: DeepPartial<Config>): Readonly<Config>;
  /** a data dir whose log holds `w`, not yet aggregated: a fresh copy on every call */
  ingestedCopy(w: Workload): Promise<string>;
  /** DuckDB and the naive loop over `w` (events/s), run once per workload and remembered */
  baselines(w: Workload): Promise<BaselineFigures>;
  /**
   * Offers a data dir holding `w` fully ingested (the ingest entry's output) as the template
   * of ingestedCopy; true if taken (then it must be kept), false if one is already there.
   */
  offerIngested(w: Workload, dataDir: string): boolean;
  /** removes a data dir this run made (the disk holds several GB in the full suite) */
  discard(dataDir: string): Promise<void>;
}
