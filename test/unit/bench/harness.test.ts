import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  distribution,
  formatTable,
  formatValue,
  median,
  percentile,
  perSecond,
  ratio,
  row,
  significant,
  sizeLabel,
  skipped,
  toJsonRow,
} from '../../../bench/harness.js';
import { markdownTable, medianRows, renderSvg, targetFor } from '../../../bench/plot.js';

test('percentile is nearest-rank over sorted values', () => {
  const v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.equal(percentile(v, 50), 5);
  assert.equal(percentile(v, 90), 9);
  assert.equal(percentile(v, 99), 10);
  assert.equal(percentile(v, 100), 10);
  assert.equal(percentile(v, 0), 1);
  assert.equal(percentile(v, 10), 1);
  assert.equal(percentile(v, 11), 2);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
  // out-of-range p is clamped
  assert.equal(percentile(v, 150), 10);
  assert.equal(percentile(v, -5), 1);
});

test('percentile of 100 values: p99 is the 99th, not the max', () => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(v, 99), 99);
  assert.equal(percentile(v, 95), 95);
});

test('median: middle value, mean of the two middles, NaN ignored', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([5]), 5);
  assert.ok(Number.isNaN(median([])));
  assert.equal(median([NaN, 9, 1, NaN, 5]), 5);
  assert.ok(Number.isNaN(median([NaN])));
});

test('distribution summarises unsorted samples without changing them', () => {
  const samples = [30, 10, 20, 40];
  const d = distribution(samples);
  assert.deepEqual(samples, [30, 10, 20, 40]);
  assert.equal(d.count, 4);
  assert.equal(d.min, 10);
  assert.equal(d.max, 40);
  assert.equal(d.p50, 20);
  assert.equal(d.mean, 25);
  const empty = distribution([]);
  assert.equal(empty.count, 0);
  assert.ok(Number.isNaN(empty.p50) && Number.isNaN(empty.max) && Number.isNaN(empty.mean));
});

test('perSecond and ratio guard against nothing measured', () => {
  assert.equal(perSecond(1_000, 500), 2_000);
  assert.ok(Number.isNaN(perSecond(1_000, 0)));
  assert.equal(ratio(3, 2), 1.5);
  assert.ok(Number.isNaN(ratio(3, 0)));
  assert.ok(Number.isNaN(ratio(NaN, 2)));
  assert.ok(Number.isNaN(ratio(3, Infinity)));
});

test('significant digits and size labels', () => {
  assert.equal(significant(123_456, 3), 123_000);
  assert.equal(significant(0.0012345, 2), 0.0012);
  assert.equal(significant(-987.6, 2), -990);
  assert.equal(significant(0), 0);
  assert.equal(sizeLabel(1_000_000), '1M');
  assert.equal(sizeLabel(10_000_000), '10M');
  assert.equal(sizeLabel(150_000), '150k');
  assert.equal(sizeLabel(2_500_000), '2.5M');
  assert.equal(sizeLabel(999), '999');
});

test('formatValue: separators for large values, n/a for NaN', () => {
  assert.equal(formatValue(1_234_567.8), '1,234,568');
  assert.equal(formatValue(42.123), '42.12');
  assert.equal(formatValue(0.012345), '0.0123');
  assert.equal(formatValue(NaN), 'n/a');
  assert.equal(formatValue(Infinity), '∞');
});

test('a skipped row is null in JSON, with its note', () => {
  const r = toJsonRow(skipped('kafka', 'throughput', 'events/s', 'no broker at 127.0.0.1:9092'));
  assert.deepEqual(r, {
    name: 'kafka',
    metric: 'throughput',
    value: null,
    unit: 'events/s',
    note: 'skipped: no broker at 127.0.0.1:9092',
  });
  assert.equal(JSON.parse(JSON.stringify(r)).value, null);
  assert.deepEqual(toJsonRow(row('e2e', 'throughput_1M', 5, 'events/s')), {
    name: 'e2e',
    metric: 'throughput_1M',
    value: 5,
    unit: 'events/s',
  });
});

test('formatTable aligns columns and shows ratios only where they apply', () => {
  const rows = [
    row('e2e', 'throughput_1M', 500_000, 'events/s'),
    row('memory', 'peak', 12, 'MiB', 'n'),
  ];
  const text = formatTable(rows, [
    { header: 'vs duckdb', of: (r) => (r.name === 'e2e' ? 0.5 : undefined) },
  ]);
  const lines = text.split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /^name\s+metric\s+value\s+unit\s+vs duckdb\s+note$/);
  assert.match(lines[2]!, /500,000 {2}events\/s\s+0\.5×$/);
  assert.match(lines[3]!, /memory\s+peak\s+12 {2}MiB\s+n$/);
  // values are right-aligned: each ends where the header's "value" ends
  const valueEnd = lines[0]!.indexOf('value') + 'value'.length;
  assert.equal(lines[2]!.indexOf('500,000') + '500,000'.length, valueEnd);
  assert.equal(lines[3]!.indexOf('12 ') + '12'.length, valueEnd);
});

test('medianRows takes medians per (name, metric) across runs; all-null stays null', () => {
  const runs = [
    [
      { name: 'e2e', metric: 'throughput_1M', value: 10, unit: 'events/s' },
      { name: 'kafka', metric: 'throughput', value: null, unit: 'events/s', note: 'skipped: x' },
    ],
    [{ name: 'e2e', metric: 'throughput_1M', value: 30, unit: 'events/s' }],
    [{ name: 'e2e', metric: 'throughput_1M', value: 20, unit: 'events/s' }],
  ];
  const m = medianRows(runs);
  assert.equal(m.length, 2);
  assert.equal(m[0]!.value, 20);
  assert.equal(m[0]!.runs, 3);
  assert.equal(m[1]!.value, null);
  assert.equal(m[1]!.runs, 0);
  const md = markdownTable(runs);
  assert.match(
    md,
    /\| e2e \| throughput_1M \| 20 \| events\/s \| 3 \| ❌ embedded end to end ≥ 1M events\/s \|/,
  );
  assert.match(md, /\| kafka \| throughput \| n\/a \|/);
});

test('targets match by name, unit and metric (or metric_ prefix)', () => {
  const t = (name: string, metric: string, unit: string) => targetFor({ name, metric, unit });
  assert.equal(t('e2e', 'throughput_10M', 'events/s')?.value, 1_000_000);
  assert.equal(t('e2e', 'throughput_1M_vs_duckdb', '×'), undefined);
  assert.equal(t('query', 'aggregated_count_p99', 'ms')?.value, 2);
  assert.equal(t('query', 'aggregated_count_p50', 'ms'), undefined);
  assert.equal(t('ingest', 'throughput_1M', 'events/s'), undefined);
  assert.equal(t('core.aggregate', 'throughputs', 'events/s'), undefined);
});

test('renderSvg produces one well-formed svg element with both panels', () => {
  const svg = renderSvg([
    [
      { name: 'e2e', metric: 'throughput_1M', value: 400_000, unit: 'events/s' },
      { name: 'baseline.duckdb', metric: 'throughput_1M', value: 2_000_000, unit: 'events/s' },
      { name: 'query', metric: 'aggregated_count_p99', value: 1.5, unit: 'ms' },
      { name: 'recovery', metric: 'resume_ms', value: 2_500, unit: 'ms' },
      { name: 'x<y', metric: 'throughput', value: 5, unit: 'events/s' },
    ],
  ]);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  assert.match(svg, /Throughput/);
  assert.match(svg, /Latency/);
  assert.match(svg, /x&lt;y/);
  assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
  assert.equal(svg.match(/class="missed"/g)?.length, 1); // e2e under its 1M target
  assert.equal(svg.match(/class="baseline"/g)?.length, 1);
});
