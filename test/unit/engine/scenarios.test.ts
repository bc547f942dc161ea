/**
 * Golden scenarios as data: test/scenarios/<name>/events.ndjson holds raw click JSON, one per
 * line, validated like ingest validates it, plus:
 *   `_partition`  the partition it is appended to (default: partitionFor(ad_id, partitions))
 *   `_now`        the wall clock at its arrival, ISO-8601 (default: the previous line's)
 * and control lines:
 *   {"_control": "tick", "now": ISO}      W := computeWatermark(now), then onWatermark(W)
 *   {"_control": "watermark", "at": ISO}  onWatermark(at)
 *   {"_control": "restart"}               snapshot, then continue on a restored operator
 *   {"_control": "drain"}                 onWatermark(+Infinity)
 * Consecutive clicks of one partition and one `_now` arrive as one batch. Every scenario
 * ends with a drain. expected.json: `partitions`, `config` (overrides of the defaults), and
 * what must come out: `minutes` (last emitted count per "minute|ad|dim"), optionally
 * `emitted` (every count emitted for a row, in order), `top` (last emitted list per window
 * and end, all of them), `late` (event ids), `duplicates`, optionally `watermarks` (W after
 * each tick). The engine is also checked against the oracle call for call.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { ClickEvent } from '../../../src/core/event/types.js';
import { validateEvent } from '../../../src/core/event/validate.js';
import { partitionFor } from '../../../src/core/event/hash.js';
import type { AggregatorConfig, OperatorOutput } from '../../../src/core/operator/aggregator.js';
import { ClickAggregator } from '../../../src/core/operator/aggregator.js';
import { Oracle, sortRows } from './oracle.js';
import { config } from './helpers.js';

// dist/test/unit/engine → the repository's test/scenarios
const ROOT = fileURLToPath(new URL('../../../../test/scenarios/', import.meta.url));

interface Expected {
  description: string;
  partitions: number;
  config?: Partial<AggregatorConfig>;
  minutes: Record<string, number>;
  emitted?: Record<string, number[]>;
  top: Array<{ window: number; end: string; ads: Array<[string, number]> }>;
  late: string[];
  duplicates: number;
  watermarks?: string[];
}

type Line = Record<string, unknown>;

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}

function time(v: unknown, what: string): number {
  const t = typeof v === 'number' ? v : Date.parse(String(v));
  assert.ok(Number.isFinite(t), `${what}: bad time ${JSON.stringify(v)}`);
  return t;
}

function runScenario(dir: string): void {
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
  const cfg = config(expected.config ?? {});
  const parts = expected.partitions;
  const lines = readFileSync(join(dir, 'events.ndjson'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);

  let now = 0;
  let engine = new ClickAggregator(cfg, parts, now);
  const oracle = new Oracle(cfg, parts, now);
  const offsets = new Array<number>(parts).fill(0);
  const last = new Map<string, number>();
  const emitted = new Map<string, number[]>();
  const tops = new Map<string, TopKey>();
  const late: string[] = [];
  const watermarks: string[] = [];
  let duplicates = 0;

  const collect = (): void => {
    const e = engine.takeOutput();
    const o = oracle.takeOutput();
    assertSame(e, o);
    for (const r of e.rows) {
      const k = `${iso(r.minute)}|${r.adId}|${r.dim}`;
      last.set(k, r.count);
      emitted.set(k, [...(emitted.get(k) ?? []), r.count]);
    }
    // the golden files hold the '*' lists; the per-value ones are checked against the oracle
    for (const t of e.top)
      if (t.dim === undefined)
        tops.set(`${t.windowMinutes}|${t.endMinute}`, {
          window: t.windowMinutes,
          end: iso(t.endMinute),
          ads: t.ads.map((a) => [a.adId, a.count]),
        });
    for (const l of e.late) late.push(l.event.eventId);
    duplicates += e.stats.duplicates;
  };

  let batch: { partition: number; now: number; events: ClickEvent[] } | null = null;
  const flush = (): void => {
    if (batch === null) return;
    const { partition, events } = batch;
    engine.onEvents(partition, events, offsets[partition]!, batch.now);
    oracle.onEvents(partition, events, offsets[partition]!, batch.now);
    offsets[partition]! += events.length;
    batch = null;
    collect();
  };

  lines.forEach((line, i) => {
    const where = `${dir} line ${i + 1}`;
    const control = line['_control'];
    if (control !== undefined) {
      flush();
      if (control === 'tick') {
        now = time(line['now'], where);
        const wm = engine.computeWatermark(now);
        assert.equal(wm, oracle.computeWatermark(now), `${where}: computeWatermark`);
        engine.onWatermark(wm);
        oracle.onWatermark(wm);
        watermarks.push(iso(engine.watermark));
      } else if (control === 'watermark') {
        const at = time(line['at'], where);
        engine.onWatermark(at);
        oracle.onWatermark(at);
      } else if (control === 'restart') {
        engine = ClickAggregator.restore(cfg, parts, engine.snapshot(), now);
      } else if (control === 'drain') {
        engine.onWatermark(Infinity);
        oracle.onWatermark(Infinity);
      } else {
        assert.fail(`${where}: unknown control ${JSON.stringify(control)}`);
      }
      collect();
      return;
    }
    const raw: Line = {};
    for (const [k, v] of Object.entries(line)) if (!k.startsWith('_')) raw[k] = v;
    const v = validateEvent(raw, { now: Number.MAX_SAFE_INTEGER, maxFutureSkewMs: 0 });
    assert.ok(v.ok, `${where}: invalid click ${JSON.stringify(v)}`);
    if (line['_now'] !== undefined) now = time(line['_now'], where);
    const p =
      line['_partition'] === undefined
        ? partitionFor(v.event.adId, parts)
        : Number(line['_partition']);
    if (batch !== null && (batch.partition !== p || batch.now !== now)) flush();
    if (batch === null) batch = { partition: p, now, events: [] };
    batch.events.push(v.event);
  });
  flush();
  engine.onWatermark(Infinity);
  oracle.onWatermark(Infinity);
  collect();

  assert.deepEqual(
    Object.fromEntries([...last].sort()),
    sortKeys(expected.minutes),
    'final minute counts',
  );
  for (const [k, seq] of Object.entries(expected.emitted ?? {}))
    assert.deepEqual(emitted.get(k), seq, `emissions of ${k}`);
  const gotTops = [...tops.values()].sort(
    (a, b) => Date.parse(a.end) - Date.parse(b.end) || a.window - b.window,
  );
  assert.deepEqual(gotTops, expected.top, 'top lists');
  assert.deepEqual(late, expected.late, 'late events');
  assert.equal(duplicates, expected.duplicates, 'duplicates');
  if (expected.watermarks !== undefined)
    assert.deepEqual(watermarks, expected.watermarks, 'watermarks');
}

interface TopKey {
  window: number;
  end: string;
  ads: Array<[string, number]>;
}

function sortKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function assertSame(e: OperatorOutput, o: OperatorOutput): void {
  assert.deepEqual(sortRows(e.rows), sortRows(o.rows), 'engine vs oracle: rows');
  assert.deepEqual(e.top, o.top, 'engine vs oracle: top');
  assert.deepEqual(e.late, o.late, 'engine vs oracle: late');
  assert.deepEqual(e.stats, o.stats, 'engine vs oracle: stats');
}

const names = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

test('there are golden scenarios', () => {
  assert.ok(names.length >= 6, `found ${names.join(', ')}`);
});

for (const name of names) {
  test(`scenario ${name}`, () => runScenario(join(ROOT, name)));
}
