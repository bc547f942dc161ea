import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClickGenerator,
  generateClicks,
  generateNdjson,
  type GenerateOptions,
  type LineKind,
} from '../../../src/core/generate/generate.js';
import { Prng } from '../../../src/core/generate/prng.js';
import { ZipfSampler } from '../../../src/core/generate/zipf.js';
import { validateEvent } from '../../../src/core/event/validate.js';
import { dedupKey } from '../../../src/core/event/identity.js';
import { TallyError } from '../../../src/core/errors.js';

const START = Date.UTC(2026, 0, 1);

function collect(opts: GenerateOptions): string[] {
  const out: string[] = [];
  for (const chunk of generateClicks(opts)) out.push(...chunk);
  return out;
}

test('the PRNG is deterministic per seed and roughly uniform', () => {
  const a = new Prng(42);
  const b = new Prng(42);
  const c = new Prng(43);
  const xs = Array.from({ length: 100 }, () => a.nextU32());
  assert.deepEqual(
    Array.from({ length: 100 }, () => b.nextU32()),
    xs,
  );
  assert.notDeepEqual(
    Array.from({ length: 100 }, () => c.nextU32()),
    xs,
  );
  const r = new Prng(7);
  const buckets = new Array<number>(10).fill(0);
  for (let i = 0; i < 100_000; i++) buckets[r.int(10)]!++;
  for (const n of buckets) assert.ok(n > 9_500 && n < 10_500, buckets.join(','));
});

test('zipf: ranks stay in range and follow k^-s', () => {
  const z = new ZipfSampler(1000, 1.0);
  const rng = new Prng(1);
  const counts = new Array<number>(1001).fill(0);
  const N = 200_000;
  for (let i = 0; i < N; i++) {
    const k = z.sample(rng);
    assert.ok(k >= 1 && k <= 1000);
    counts[k]!++;
  }
  // P(1) = 1/H(1000) ≈ 0.1336; P(2)/P(1) = 1/2; P(10)/P(1) = 1/10
  const h = Array.from({ length: 1000 }, (_, i) => 1 / (i + 1)).reduce((s, x) => s + x, 0);
  assert.ok(Math.abs(counts[1]! / N - 1 / h) < 0.005, `P(1) = ${counts[1]! / N}`);
  assert.ok(Math.abs(counts[2]! / counts[1]! - 0.5) < 0.03);
  assert.ok(Math.abs(counts[10]! / counts[1]! - 0.1) < 0.01);
  // works for a huge N and exponents around 1
  for (const s of [0.8, 1, 1.1, 2]) {
    const big = new ZipfSampler(2_000_000, s);
    for (let i = 0; i < 1000; i++) {
      const k = big.sample(rng);
      assert.ok(k >= 1 && k <= 2_000_000 && Number.isInteger(k));
    }
  }
  assert.throws(() => new ZipfSampler(0, 1), TallyError);
  assert.throws(() => new ZipfSampler(10, 0), TallyError);
});

test('the generator is deterministic for (seed, options), and the seed matters', () => {
  const opts = { seed: 7, count: 5000, startTime: START };
  assert.deepEqual(collect(opts), collect(opts));
  assert.notDeepEqual(collect(opts), collect({ ...opts, seed: 8 }));
  // chunking does not change the stream
  assert.deepEqual(collect({ ...opts, chunkSize: 333 }), collect(opts));
  assert.equal([...generateNdjson(opts)].join(''), collect(opts).join('\n') + '\n');
});

test('every line is of its kind: valid, duplicate and late pass validation, invalid fail', () => {
  const count = 60_000;
  const gen = new ClickGenerator({ seed: 3, count, startTime: START, eventsPerSecond: 2000 });
  const now = START + count / 2; // the end of event time (ms)
  const opts = { now, maxFutureSkewMs: 300_000 };
  const seen = new Map<string, string>(); // line → kind of its first appearance
  const keys = new Set<string>();
  const counts: Record<LineKind, number> = { valid: 0, duplicate: 0, late: 0, invalid: 0 };
  const invalidCodes = new Set<string>();
  const parseFailures = { n: 0 };
  for (let i = 0; i < count; i++) {
    const line = gen.next();
    const kind = gen.kind;
    counts[kind]++;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      assert.equal(kind, 'invalid', line);
      parseFailures.n++;
      continue;
    }
    const r = validateEvent(value, opts);
    if (kind === 'invalid') {
      assert.ok(!r.ok, `invalid line accepted: ${line}`);
      invalidCodes.add(r.rejection.code);
      continue;
    }
    assert.ok(r.ok, `${kind} line rejected: ${line} ${r.ok ? '' : r.rejection.message}`);
    const key = [...dedupKey(r.event.adId, r.event.eventId, new Uint32Array(4))].join(',');
    const base = START + Math.floor(i / 2);
    if (kind === 'duplicate') {
      assert.ok(seen.has(line), 'a duplicate repeats an earlier line verbatim');
      assert.ok(keys.has(key));
    } else {
      assert.ok(!keys.has(key), `originals are distinct: ${line}`);
      keys.add(key);
      seen.set(line, kind);
      const behind = base - r.event.timestamp;
      if (kind === 'valid') assert.ok(behind >= 0 && behind <= 30_000, `disorder ${behind}`);
      else assert.ok(behind >= 15 * 60_000 && behind < 30 * 60_000, `late by ${behind}`);
    }
  }
  assert.deepEqual(gen.stats, {
    lines: count,
    valid: counts.valid,
    duplicates: counts.duplicate,
    late: counts.late,
    invalid: counts.invalid,
  });
  const near = (got: number, rate: number, tol: number): boolean =>
    Math.abs(got / count - rate) < tol;
  assert.ok(near(counts.duplicate, 0.03, 0.004), `duplicates ${counts.duplicate}`);
  assert.ok(near(counts.invalid, 0.01, 0.002), `invalid ${counts.invalid}`);
  assert.ok(near(counts.late, 0.001, 0.0006), `late ${counts.late}`);
  assert.ok(parseFailures.n > 0, 'some malformed JSON lines');
  for (const code of [
    'TALLY_FIELD_MISSING',
    'TALLY_FIELD_TYPE',
    'TALLY_FIELD_FORMAT',
    'TALLY_FIELD_LENGTH',
    'TALLY_EVENT_IN_FUTURE',
    'TALLY_EVENT_NOT_OBJECT',
  ]) {
    assert.ok(invalidCodes.has(code), `a variety of invalid lines: ${code}`);
  }
});

test('attribute mix: event ids, canonical ids, countries, ipv4/ipv6, time formats, extras', () => {
  const lines = collect({
    seed: 11,
    count: 40_000,
    startTime: START,
    invalidRate: 0,
    duplicateRate: 0,
  });
  const objs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const share = (f: (o: Record<string, unknown>) => boolean): number =>
    objs.filter(f).length / objs.length;
  assert.ok(Math.abs(share((o) => 'event_id' in o) - 0.9) < 0.01);
  assert.ok(Math.abs(share((o) => o['country'] === 'US') - 0.28) < 0.03);
  assert.ok(share((o) => !('country' in o)) > 0.02);
  assert.ok(share((o) => typeof o['ip'] === 'string' && o['ip'].includes(':')) > 0.05);
  assert.ok(share((o) => typeof o['ip'] === 'string' && !o['ip'].includes(':')) > 0.5);
  assert.ok(share((o) => typeof o['timestamp'] === 'string') > 0.05);
  assert.ok(share((o) => 'click_timestamp' in o) > 0.05);
  assert.ok(share((o) => 'campaign' in o) > 0.01);
  assert.ok(new Set(objs.map((o) => o['country'])).size > 60, 'a long tail of countries');
});

test('zipf popularity: the head is far heavier than the tail', () => {
  const lines = collect({ seed: 5, count: 50_000, startTime: START, ads: 100_000, invalidRate: 0 });
  const perAd = new Map<string, number>();
  for (const l of lines) {
    const ad = (JSON.parse(l) as { ad_id: string }).ad_id;
    perAd.set(ad, (perAd.get(ad) ?? 0) + 1);
  }
  const c = (k: number): number => perAd.get(`ad-${k}`) ?? 0;
  assert.ok(c(1) > 2000, `ad-1 ${c(1)}`);
  assert.ok(c(1) > c(10) && c(10) > c(1000));
  const ranked = [...perAd.values()].sort((a, b) => b - a);
  const top10 = ranked.slice(0, 10).reduce((s, x) => s + x, 0);
  assert.ok(top10 > 0.2 * lines.length, `top 10 share ${top10 / lines.length}`);
  assert.ok(perAd.size > 10_000, 'a long tail of ads');
});

test('event time advances at eventsPerSecond', () => {
  const lines = collect({
    seed: 1,
    count: 10_000,
    startTime: START,
    eventsPerSecond: 100,
    disorderMs: 0,
    invalidRate: 0,
    duplicateRate: 0,
    lateRate: 0,
  });
  const ts = lines.map((l) =>
    validateEvent(JSON.parse(l), { now: START + 1e9, maxFutureSkewMs: 0 }),
  );
  const times = ts.map((r) => (r.ok ? r.event.timestamp : NaN));
  assert.equal(times[0], START);
  assert.equal(times[9999], START + 99_990);
  for (let i = 1; i < times.length; i++) assert.ok(times[i]! >= times[i - 1]!);
});

test('bad options are TALLY_BAD_PARAMETER naming the option', () => {
  const bad: Array<[Partial<GenerateOptions>, string]> = [
    [{ count: -1 }, 'count'],
    [{ ads: 0 }, 'ads'],
    [{ duplicateRate: 2 }, 'duplicateRate'],
    [{ eventsPerSecond: 0 }, 'eventsPerSecond'],
    [{ invalidRate: 0.6, duplicateRate: 0.6 }, 'invalidRate'],
    [{ startTime: NaN }, 'startTime'],
  ];
  for (const [over, field] of bad) {
    assert.throws(
      () => collect({ seed: 1, count: 1, startTime: START, ...over }),
      (e: unknown) =>
        e instanceof TallyError && e.code === 'TALLY_BAD_PARAMETER' && e.field === field,
      field,
    );
  }
  assert.deepEqual(collect({ seed: 1, count: 0, startTime: START }), []);
});
