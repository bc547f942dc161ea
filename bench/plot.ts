/**
 * The plot of a benchmark run: throughput (events/s) and latency (ms) as horizontal bars on
 * log scales, each with its target, written as a hand-made SVG (no plotting library, no
 * download). Several result files give their medians, figure by figure.
 *
 *   tally bench --json > run1.json   (× 3 or more)
 *   node dist/bench/plot.js --svg docs/benchmarks-plot.svg --markdown run1.json run2.json run3.json
 *
 * --markdown prints the medians as a Markdown table on stdout (for docs/benchmarks.md).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { formatValue, median, type JsonRow } from './harness.js';

/**
 * The targets of docs/benchmarks.md. A row has the target of its name when its metric is the
 * target's metric or starts with it and `_` (`throughput_1M`), and its unit is the target's:
 * the ratio rows (unit ×) of a throughput have none.
 */
export const TARGETS: ReadonlyArray<{
  name: string;
  metric: string;
  unit: string;
  value: number;
  better: 'higher' | 'lower';
  what: string;
}> = [
  {
    name: 'e2e',
    metric: 'throughput',
    unit: 'events/s',
    value: 1_000_000,
    better: 'higher',
    what: 'embedded end to end ≥ 1M events/s',
  },
  {
    name: 'http-ingest',
    metric: 'events_per_second',
    unit: 'events/s',
    value: 500_000,
    better: 'higher',
    what: 'HTTP ingest ≥ 500k events/s',
  },
  {
    name: 'kafka',
    metric: 'throughput',
    unit: 'events/s',
    value: 200_000,
    better: 'higher',
    what: 'Kafka exactly-once ≥ 200k events/s',
  },
  {
    name: 'query',
    metric: 'aggregated_count_p99',
    unit: 'ms',
    value: 2,
    better: 'lower',
    what: 'count p99 ≤ 2 ms',
  },
  {
    name: 'query',
    metric: 'popular_ads_filtered_p99',
    unit: 'ms',
    value: 5,
    better: 'lower',
    what: 'top-N with filter p99 ≤ 5 ms',
  },
  {
    name: 'freshness',
    metric: 'final_after_watermark_max',
    unit: 'ms',
    value: 1_000,
    better: 'lower',
    what: 'minute final ≤ watermark + 1 s',
  },
  {
    name: 'recovery',
    metric: 'resume_ms',
    unit: 'ms',
    value: 5_000,
    better: 'lower',
    what: 'resume ≤ 5 s after kill -9',
  },
  {
    name: 'core.aggregate',
    metric: 'throughput',
    unit: 'events/s',
    value: 10_000_000,
    better: 'higher',
    what: 'core ≥ 10M events/s',
  },
];

export function targetFor(r: { name: string; metric: string; unit: string }) {
  return TARGETS.find(
    (t) =>
      t.name === r.name &&
      t.unit === r.unit &&
      (r.metric === t.metric || r.metric.startsWith(`${t.metric}_`)),
  );
}

/** Per (name, metric): the median of the runs' finite values; null if none had one. */
export function medianRows(
  runs: readonly (readonly JsonRow[])[],
): Array<JsonRow & { runs: number }> {
  const order: string[] = [];
  const byKey = new Map<string, { first: JsonRow; values: number[] }>();
  for (const run of runs) {
    for (const r of run) {
      const key = `${r.name}\u0000${r.metric}`;
      let e = byKey.get(key);
      if (!e) {
        e = { first: r, values: [] };
        byKey.set(key, e);
        order.push(key);
      }
      if (typeof r.value === 'number' && Number.isFinite(r.value)) e.values.push(r.value);
    }
  }
  return order.map((k) => {
    const e = byKey.get(k)!;
    const m = median(e.values);
    return { ...e.first, value: Number.isFinite(m) ? m : null, runs: e.values.length };
  });
}

const esc = (s: string) =>
  s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');

function short(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

interface Bar {
  label: string;
  value: number;
  target?: number;
  better?: 'higher' | 'lower';
  baseline: boolean;
}

/** One panel: bars on a log10 axis, the target as a red tick; returns its SVG and height. */
function panel(
  title: string,
  unit: string,
  bars: Bar[],
  y0: number,
  width: number,
): { svg: string; height: number } {
  const labelW = 300;
  const left = labelW + 10;
  const right = width - 70;
  const rowH = 22;
  const values = bars
    .flatMap((b) => [b.value, ...(b.target ? [b.target] : [])])
    .filter((v) => v > 0);
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values))));
  const x = (v: number) =>
    left + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (right - left);
  const top = y0 + 30;
  const bottom = top + bars.length * rowH;
  const out: string[] = [];
  out.push(`<text x="10" y="${y0 + 18}" class="title">${esc(title)}</text>`);
  for (let d = lo; d <= hi; d++) {
    const gx = x(10 ** d).toFixed(1);
    out.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${bottom}" class="grid"/>`);
    out.push(
      `<text x="${gx}" y="${bottom + 14}" class="axis" text-anchor="middle">${short(10 ** d)}</text>`,
    );
  }
  out.push(
    `<text x="${right}" y="${bottom + 28}" class="axis" text-anchor="end">${esc(unit)} (log scale)</text>`,
  );
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const w = Math.max(1, x(b.value) - left);
    const missed =
      b.target !== undefined &&
      ((b.better === 'higher' && b.value < b.target) ||
        (b.better === 'lower' && b.value > b.target));
    const cls = b.baseline ? 'baseline' : missed ? 'missed' : 'bar';
    out.push(
      `<text x="${labelW}" y="${y + 15}" class="label" text-anchor="end">${esc(b.label)}</text>`,
    );
    out.push(
      `<rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" class="${cls}"/>`,
    );
    const end = left + w;
    const tx = b.target === undefined ? undefined : x(b.target);
    // the value's label goes past the target's tick when the tick sits just after the bar
    const labelX = tx !== undefined && tx > end - 3 && tx < end + 45 ? tx + 5 : end + 4;
    out.push(`<text x="${labelX.toFixed(1)}" y="${y + 15}" class="value">${short(b.value)}</text>`);
    if (tx !== undefined) {
      const t = tx.toFixed(1);
      out.push(`<line x1="${t}" y1="${y + 1}" x2="${t}" y2="${y + rowH - 1}" class="target"/>`);
    }
  });
  return { svg: out.join('\n'), height: bottom + 40 - y0 };
}

/** The SVG of one run's rows, or of the medians of several runs. */
export function renderSvg(runs: readonly (readonly JsonRow[])[]): string {
  const rows = medianRows(runs).filter(
    (r): r is JsonRow & { runs: number; value: number } => r.value !== null,
  );
  const width = 960;
  const thr: Bar[] = rows
    .filter((r) => r.unit === 'events/s' && r.metric !== 'throughput_second_half')
    .map((r) => {
      const t = targetFor(r);
      return {
        label: `${r.name} ${r.metric}`,
        value: r.value,
        baseline: r.name.startsWith('baseline.'),
        ...(t ? { target: t.value, better: t.better } : {}),
      };
    });
  const latency: Bar[] = rows
    .filter(
      (r) =>
        r.unit === 'ms' &&
        ((r.name === 'query' && /_(p50|p99)$/.test(r.metric)) ||
          (r.name === 'freshness' &&
            r.metric.startsWith('final_after_watermark_') &&
            !r.metric.endsWith('_min')) ||
          (r.name === 'recovery' && (r.metric === 'resume_ms' || r.metric === 'restored_ms')) ||
          (r.name === 'http-ingest' && r.metric.startsWith('latency_'))),
    )
    .map((r) => {
      const t = targetFor(r);
      return {
        label: `${r.name} ${r.metric}`,
        value: Math.max(r.value, 0.01),
        baseline: false,
        ...(t ? { target: t.value, better: t.better } : {}),
      };
    });
  const parts: string[] = [];
  let y = 10;
  const caption = rows.find((r) => r.name === 'machine' && r.metric === 'cores');
  const node = rows.find((r) => r.name === 'machine' && r.metric === 'node');
  const date = rows.find((r) => r.name === 'machine' && r.metric === 'date');
  const runsNote = runs.length > 1 ? `medians of ${runs.length} runs` : 'one run';
  parts.push(
    `<text x="10" y="${y + 14}" class="caption">${esc(
      `tally bench — ${runsNote}; ${caption ? `${caption.value} cores` : ''}${node?.note ? `, Node ${node.note}` : ''}${date?.note ? `, ${date.note.slice(0, 10)}` : ''}. Red tick: target; red bar: target missed; grey: baselines.`,
    )}</text>`,
  );
  y += 24;
  for (const [title, unit, bars] of [
    ['Throughput (higher is better)', 'events/s', thr],
    ['Latency (lower is better)', 'ms', latency],
  ] as const) {
    if (bars.length === 0) continue;
    const p = panel(title, unit, bars, y, width);
    parts.push(p.svg);
    y += p.height;
  }
  const style = `
    text { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; fill: #222; }
    .title { font-size: 15px; font-weight: 600; }
    .caption { font-size: 12px; fill: #555; }
    .label, .value { font-size: 12px; }
    .axis { font-size: 11px; fill: #666; }
    .grid { stroke: #ddd; stroke-width: 1; }
    .bar { fill: #3b6fb6; }
    .missed { fill: #c4453c; }
    .baseline { fill: #9a9a9a; }
    .target { stroke: #d00; stroke-width: 2.5; }`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" viewBox="0 0 ${width} ${y + 10}">\n` +
    `<style>${style}\n</style>\n<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`
  );
}

/** The medians as a Markdown table, with the target and whether it is met. */
export function markdownTable(runs: readonly (readonly JsonRow[])[]): string {
  const lines = [
    '| name | metric | value | unit | runs | target | note |',
    '| --- | --- | ---: | --- | ---: | --- | --- |',
  ];
  for (const r of medianRows(runs)) {
    const t = targetFor(r);
    const met =
      t && r.value !== null
        ? (t.better === 'higher' ? r.value >= t.value : r.value <= t.value)
          ? '✅ '
          : '❌ '
        : '';
    const value = r.value === null ? 'n/a' : formatValue(r.value);
    lines.push(
      `| ${r.name} | ${r.metric} | ${value} | ${r.unit} | ${r.runs} | ${t ? met + t.what : ''} | ${(r.note ?? '').replaceAll('|', '\\|')} |`,
    );
  }
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.length === 0 || args.includes('--help')) {
    process.stdout.write(
      'usage: node dist/bench/plot.js [--svg OUT.svg] [--markdown] RESULTS.json…\n' +
        '  RESULTS.json: the output of `tally bench --json` (one array); medians are taken over the files\n',
    );
    return;
  }
  let svgOut: string | undefined;
  let markdown = false;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--svg') svgOut = args[++i];
    else if (args[i] === '--markdown') markdown = true;
    else files.push(args[i]!);
  }
  const runs = await Promise.all(
    files.map(async (f) => JSON.parse(await readFile(f, 'utf8')) as JsonRow[]),
  );
  if (svgOut) {
    await writeFile(svgOut, renderSvg(runs));
    process.stderr.write(`plot: ${svgOut}\n`);
  }
  if (markdown) process.stdout.write(markdownTable(runs));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
