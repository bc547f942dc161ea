/**
 * `tally bench`: the benchmark suite. Entries run one after another in this process (the
 * memory and recovery entries in child processes), over workloads generated once from a fixed
 * seed and cached under the OS temp dir, with data dirs in a temp dir removed at the end.
 *
 * Output: a table on stdout with the machine it ran on, Tally's throughput next to DuckDB's
 * and a naive Node loop's on the same file as ratios (tally / baseline); with --json, ONE
 * JSON array of {name, metric, value, unit[, note]} and nothing else on stdout (a skipped
 * figure has value null and a note "skipped: …"). Progress goes to stderr.
 *
 * The full suite (no --quick, no --only) also writes its results and a plot (bench/plot.ts)
 * to <tmpdir>/tally-bench/results/, and says where on stderr; docs/benchmarks.md is made from
 * the medians of several such result files (see there).
 *
 * TALLY_BENCH_SMOKE=1 (with --quick; the test suite's smoke run) shrinks every entry further:
 * the same code paths in seconds, figures not worth reading (the suite row says "smoke").
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { basename, join } from 'node:path';
import { TallyError } from '../src/core/errors.js';
import { loadConfig, type Config, type DeepPartial } from '../src/config/index.js';
import type { Logger } from '../src/services/observability/logger.js';
import { benchAggregate } from './aggregate.js';
import { benchArchive, benchReconcile } from './archive.js';
import { duckdbCount } from './baselines/duckdb.js';
import { naiveCount } from './baselines/naive.js';
import { benchCore } from './core.js';
import { benchE2e } from './e2e.js';
import { benchFreshness } from './freshness.js';
import {
  formatTable,
  machine,
  machineRows,
  median,
  perSecond,
  ratio,
  row,
  say,
  skipped,
  toJsonRow,
  type BaselineFigures,
  type BenchContext,
  type BenchRow,
  type RatioColumn,
} from './harness.js';
import { benchHttpIngest } from './http-ingest.js';
import { benchIngest, ingestOnce } from './ingest.js';
import { benchKafkaEndToEnd } from './kafka.js';
import { benchMemory } from './memory.js';
import { renderSvg } from './plot.js';
import { benchQuery } from './query.js';
import { benchRecovery } from './recovery.js';
import { benchSoak } from './soak.js';
import { benchWatch } from './watch.js';
import { cacheRoot, ensureWorkload, type Workload } from './workload.js';

export interface RunBenchOptions {
  only?: string[] | undefined;
  quick: boolean;
  json: boolean;
  config: Readonly<Config>;
  logger: Logger;
}

/**
 * Workload sizes (lines). The full suite's second size is 5M, not 10M: on a 2-core machine
 * 10M alone takes over 5 minutes through ingest, aggregate, e2e and the baselines, and the
 * whole suite has 10. The output says so (the workloads line; the `suite seconds` note).
 */
export const SIZES = {
  smoke: [20_000],
  quick: [150_000],
  full: [1_000_000, 5_000_000],
} as const;
const SCALED_NOTE =
  'the 10M workload is scaled to 5M to fit the 10-minute budget of the full suite';
const CORE_EVENTS = { smoke: 30_000, quick: 300_000, full: 3_000_000 } as const;

const KAFKA = { host: '127.0.0.1', port: 9092 };

type Entry = (ctx: BenchContext) => Promise<BenchRow[]>;

/**
 * `longRun`: its full form takes far longer than the suite's budget (the soak: about an hour
 * of machine time), so the full suite runs it only when named (`--only soak`); the quick
 * suite runs its quick form like any other entry.
 */
const ENTRIES: Record<string, { what: string; run: Entry; longRun?: boolean }> = {
  core: {
    what: 'the aggregation engine alone, binary records in memory, one thread',
    run: async (ctx) =>
      benchCore({
        events: ctx.smoke ? CORE_EVENTS.smoke : ctx.quick ? CORE_EVENTS.quick : CORE_EVENTS.full,
        ads: ctx.smoke ? 20_000 : 2_000_000,
        quick: ctx.quick,
      }),
  },
  ingest: { what: 'NDJSON file → durable log (IngestService, fsync)', run: benchIngest },
  aggregate: { what: 'log → committed aggregates (runner.drain)', run: benchAggregate },
  e2e: { what: 'NDJSON file → queryable, embedded, one process', run: benchE2e },
  baselines: { what: 'DuckDB and a naive Node loop over the same file', run: benchBaselines },
  'http-ingest': {
    what: 'POST /v1/clicks on loopback, durable acks',
    run: async (ctx) => {
      const dataDir = await ctx.newDataDir('http');
      return benchHttpIngest({ quick: ctx.quick, smoke: ctx.smoke, dataDir }).finally(() =>
        ctx.discard(dataDir),
      );
    },
  },
  query: {
    what: 'count, top-N (with and without a filter) and series latency over HTTP, under ingest',
    run: async (ctx) => {
      const dataDir = await ctx.newDataDir('query');
      return benchQuery({
        quick: ctx.quick,
        smoke: ctx.smoke,
        dataDir,
        ...(ctx.quick ? { ads: ctx.smoke ? 2_000 : 20_000 } : {}),
      }).finally(() => ctx.discard(dataDir));
    },
  },
  kafka: { what: 'the distributed mode, exactly-once through Kafka', run: benchKafka },
  memory: { what: 'peak RSS during aggregate, bytes per remembered event id', run: benchMemory },
  recovery: {
    what: 'resume after kill -9 under load (tally start as a child)',
    run: benchRecovery,
  },
  freshness: { what: "a minute's end → its final count queryable", run: benchFreshness },
  soak: {
    what: 'an hour at 10k/s then 10 min at 50k/s: bounded state, snapshot cost, worst-case resume',
    run: benchSoak,
    longRun: true,
  },
  watch: { what: 'NDJSON file followed by the log watcher → durable log', run: benchWatch },
  archive: { what: 'raw log → Parquet archive (DuckDB, ZSTD, manifest)', run: benchArchive },
  reconcile: {
    what: 'per-minute counts recomputed from Parquet and compared with the store',
    run: benchReconcile,
  },
};

/** Entries whose throughput is compared with the baselines: they bring the baselines along. */
const COMPARED = ['ingest', 'aggregate', 'e2e'];
/** Entries that read the NDJSON workloads. */
const WORKLOAD_ENTRIES = [...COMPARED, 'baselines', 'memory', 'recovery', 'watch', 'archive'];

async function benchBaselines(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const w of await ctx.workloads()) {
    const b = await ctx.baselines(w);
    rows.push(
      row(
        'baseline.duckdb',
        `throughput_${w.label}`,
        Math.round(b.duckdb),
        'events/s',
        'batch; no durability, no dedup, no validation',
      ),
      row(
        'baseline.naive',
        `throughput_${w.label}`,
        Math.round(b.naive),
        'events/s',
        'JSON.parse + Map; nothing durable, no dedup',
      ),
    );
  }
  return rows;
}

function brokerListening(timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(KAFKA);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function benchKafka(ctx: BenchContext): Promise<BenchRow[]> {
  const at = `${KAFKA.host}:${KAFKA.port}`;
  if (!(await brokerListening())) {
    return [skipped('kafka', 'throughput', 'events/s', `no broker at ${at} (npm run services:up)`)];
  }
  return benchKafkaEndToEnd({ quick: ctx.quick, smoke: ctx.smoke });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k], v) : v;
  }
  return out;
}

function ratioColumns(rows: readonly BenchRow[]): RatioColumn[] {
  const baseline = new Map<string, number>();
  for (const r of rows) {
    if (r.name.startsWith('baseline.')) baseline.set(`${r.name}|${r.metric}`, r.value);
  }
  const column = (which: 'duckdb' | 'naive'): RatioColumn => ({
    header: `vs ${which}`,
    of: (r) => {
      if (!COMPARED.includes(r.name) || !r.metric.startsWith('throughput_')) return undefined;
      const b = baseline.get(`baseline.${which}|${r.metric}`);
      return b === undefined ? undefined : ratio(r.value, b);
    },
  });
  return baseline.size > 0 ? [column('duckdb'), column('naive')] : [];
}

/** The ratio columns as rows, for --json: `<metric>_vs_<baseline>`, unit ×. */
function ratioRows(rows: readonly BenchRow[], columns: readonly RatioColumn[]): BenchRow[] {
  const out: BenchRow[] = [];
  for (const r of rows) {
    for (const c of columns) {
      const v = c.of(r);
      if (v !== undefined)
        out.push(
          row(
            r.name,
            `${r.metric}_${c.header.replace('vs ', 'vs_')}`,
            Math.round(v * 1000) / 1000,
            '×',
          ),
        );
    }
  }
  return out;
}

export async function runBench(opts: RunBenchOptions): Promise<void> {
  const names = Object.keys(ENTRIES);
  const wanted =
    opts.only && opts.only.length > 0
      ? opts.only
      : names.filter((n) => opts.quick || ENTRIES[n]!.longRun !== true);
  for (const n of wanted) {
    if (!(n in ENTRIES)) {
      throw new TallyError(
        'TALLY_BAD_PARAMETER',
        `--only: unknown entry "${n}"; the entries are ${names.join(', ')}`,
        {
          field: 'only',
        },
      );
    }
  }
  const selected = new Set(wanted);
  if (COMPARED.some((n) => selected.has(n))) selected.add('baselines');
  const order = names.filter((n) => selected.has(n));
  const full = !opts.quick && !(opts.only && opts.only.length > 0);
  const smoke = opts.quick && process.env.TALLY_BENCH_SMOKE === '1';

  await mkdir(cacheRoot(), { recursive: true });
  const runDir = await mkdtemp(join(cacheRoot(), 'run-'));
  const logger = opts.logger.child({ component: 'bench' }, { level: 'warn' });
  const ctx = makeContext(opts, smoke, runDir, logger);
  const started = performance.now();
  const m = machine();
  say(
    `${smoke ? 'smoke' : opts.quick ? 'quick' : 'full'} suite: ${order.join(', ')} on ${m.cores} cores, ` +
      `${Math.round(m.memoryBytes / 2 ** 30)} GiB, Node ${m.node}`,
  );
  const rows: BenchRow[] = [];
  let failed = 0;
  try {
    for (const name of order) {
      const t0 = performance.now();
      say(`${name}: ${ENTRIES[name]!.what}`);
      try {
        rows.push(...(await ENTRIES[name]!.run(ctx)));
      } catch (err) {
        failed++;
        const message = err instanceof Error ? err.message : String(err);
        say(`${name} FAILED: ${err instanceof Error ? (err.stack ?? message) : message}`);
        rows.push({
          name,
          metric: 'failed',
          value: NaN,
          unit: '',
          note: `failed: ${message.split('\n')[0]}`,
        });
      }
      say(`${name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  const columns = ratioColumns(rows);
  const usesWorkloads = order.some((n) => WORKLOAD_ENTRIES.includes(n));
  const suiteNote = smoke
    ? 'smoke (TALLY_BENCH_SMOKE): a run-through of every entry, not figures'
    : opts.quick
      ? 'quick'
      : usesWorkloads
        ? `full; ${SCALED_NOTE}`
        : 'full';
  const all = [
    ...rows,
    ...ratioRows(rows, columns),
    ...machineRows(m),
    row('suite', 'seconds', Math.round(seconds * 10) / 10, 's', suiteNote),
  ];
  if (opts.json) {
    process.stdout.write(JSON.stringify(all.map(toJsonRow)) + '\n');
  } else {
    const head =
      `tally bench (${opts.quick ? 'quick' : 'full'}) — ${m.cores} cores (${m.cpu}), ` +
      `${Math.round(m.memoryBytes / 2 ** 30)} GiB, Node ${m.node}, ${m.platform}, ${m.date}`;
    const wl = usesWorkloads
      ? (await ctx.workloads())
          .map(
            (w) =>
              `${w.label}: ${w.lines} lines, ${Math.round(w.bytes / 2 ** 20)} MiB (${basename(w.file)})`,
          )
          .join('; ')
      : '';
    process.stdout.write(
      `${head}\n${usesWorkloads ? `workloads: ${wl}${opts.quick ? '' : ` (${SCALED_NOTE})`}\n` : ''}\n` +
        `${formatTable(rows, columns)}\n\n` +
        (columns.length > 0
          ? `ratios are tally / baseline on the same file in the same run (> 1×: Tally is faster); ` +
            `the baselines keep no durability, no dedup, no validation.\n`
          : '') +
        `suite: ${seconds.toFixed(1)} s\n`,
    );
  }
  if (full) {
    const dir = join(cacheRoot(), 'results');
    await mkdir(dir, { recursive: true });
    const stamp = m.date.replace(/[:.]/g, '-');
    const json = join(dir, `bench-${stamp}.json`);
    const svg = join(dir, `bench-${stamp}.svg`);
    await writeFile(json, JSON.stringify(all.map(toJsonRow), null, 1) + '\n');
    await writeFile(svg, renderSvg([all.map(toJsonRow)]));
    say(`results: ${json}; plot: ${svg} (docs: node dist/bench/plot.js --help)`);
  }
  if (failed > 0) process.exitCode = 1;
}

function makeContext(
  opts: RunBenchOptions,
  smoke: boolean,
  runDir: string,
  logger: Logger,
): BenchContext {
  let workloads: Promise<Workload[]> | undefined;
  const templates = new Map<string, Promise<string>>();
  const baselines = new Map<string, Promise<BaselineFigures>>();
  const sizes = smoke ? SIZES.smoke : opts.quick ? SIZES.quick : SIZES.full;
  const runsFor = (w: Workload) => (w.lines === sizes[0] ? ctx.runs : 1);

  const ctx: BenchContext = {
    quick: opts.quick,
    smoke,
    config: opts.config,
    logger,
    runs: opts.quick ? 1 : 3,
    workloads: () => {
      workloads ??= (async () => {
        const out: Workload[] = [];
        for (const n of sizes) out.push(await ensureWorkload(n));
        return out;
      })();
      return workloads;
    },
    newDataDir: (label) => mkdtemp(join(runDir, `${label}-`)),
    appConfig(dataDir, overrides = {}) {
      const base = structuredClone(opts.config) as unknown as Record<string, unknown>;
      const forced = { dataDir, log: { durability: 'fsync' } };
      const merged = deepMerge(deepMerge(base, forced), overrides as Record<string, unknown>);
      return loadConfig({ env: {}, overrides: merged as DeepPartial<Config> });
    },
    offerIngested(w, dataDir) {
      if (templates.has(w.label)) return false;
      templates.set(w.label, Promise.resolve(dataDir));
      return true;
    },
    discard: (dataDir) => rm(dataDir, { recursive: true, force: true }),
    async ingestedCopy(w) {
      let template = templates.get(w.label);
      if (!template) {
        template = (async () => {
          say(`preparing a data dir holding the ${w.label} workload (untimed)`);
          const dir = await ctx.newDataDir(`ingested-${w.label}`);
          await ingestOnce(ctx, w, dir);
          return dir;
        })();
        templates.set(w.label, template);
      }
      const src = await template;
      const dest = await ctx.newDataDir(`copy-${w.label}`);
      await cp(src, dest, { recursive: true, filter: (f) => basename(f) !== 'tally.lock' });
      return dest;
    },
    baselines(w) {
      let b = baselines.get(w.label);
      if (!b) {
        b = (async () => {
          const runs = runsFor(w);
          const duck: number[] = [];
          const naive: number[] = [];
          for (let r = 0; r < runs; r++) {
            say(`baselines ${w.label}: run ${r + 1}/${runs}`);
            const d = await duckdbCount(w.file);
            duck.push(perSecond(w.lines, d.ms));
            const n = await naiveCount(w.file);
            naive.push(perSecond(w.lines, n.ms));
          }
          return { duckdb: median(duck), naive: median(naive) };
        })();
        baselines.set(w.label, b);
      }
      return b;
    },
  };
  return ctx;
}
