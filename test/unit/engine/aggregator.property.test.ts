/**
 * The engine against the brute-force oracle, call for call, on random streams: several
 * partitions, duplicates (a small pool of event ids), disorder inside and beyond the
 * lateness, idle partitions and a random wall clock, random watermarks (computed and
 * arbitrary, including minute boundaries and +Infinity), random dimensions and top
 * windows (the '*' lists and the lists per dimension value); and the same with a
 * snapshot/restore at a random point.
 *
 * TALLY_PROPERTY_RUNS scales the number of runs; TALLY_PROPERTY_SEED replays one seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ClickEvent } from '../../../src/core/event/types.js';
import { partitionFor } from '../../../src/core/event/hash.js';
import type { Dimension } from '../../../src/core/aggregate/types.js';
import type {
  AggregatorConfig,
  EngineTuning,
  OperatorOutput,
} from '../../../src/core/operator/aggregator.js';
import { ClickAggregator } from '../../../src/core/operator/aggregator.js';
import { Oracle, foldRows, sortRows } from './oracle.js';
import { click, MIN } from './helpers.js';

const RUNS = Number(process.env.TALLY_PROPERTY_RUNS ?? 500);
const SEED = process.env.TALLY_PROPERTY_SEED;
const params = (runs: number): fc.Parameters<unknown> => ({
  numRuns: runs,
  ...(SEED === undefined ? {} : { seed: Number(SEED) }),
});

const ADS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'ad-10', 'ad-9', 'Z'];
const COUNTRIES = ['US', 'FR', 'DE'];

type Op =
  | { kind: 'batch'; events: EventSpec[]; route: number | null; dt: number; advance: number }
  | { kind: 'tick'; dt: number }
  | { kind: 'wm'; delta: number; snap: number }
  | { kind: 'drain' };

interface EventSpec {
  /** a client retry: resend the k-th most recent event exactly, if any */
  repeat: number | null;
  ad: number;
  /** how far behind the scenario's event-time front (negative: ahead of it) */
  lag: number;
  /** 0: as is; 1: snapped to its minute's start; 2: to 1 ms before it */
  snap: number;
  id: number | null;
  country: number | null;
  user: number | null;
  ip: number | null;
}

interface Scenario {
  /** memory layout knobs: 0 makes every open minute dense (see DenseCounts) */
  tuning: EngineTuning;
  partitions: number;
  base: number;
  /** the wall clock starts this far after base */
  wallStart: number;
  cfg: AggregatorConfig;
  ops: Op[];
  snapshotAt: number;
}

// Event times follow a front that advances batch by batch; each event lags it by a little
// (in order-ish), by minutes (inside or beyond the lateness) or leads it slightly. Snapping to
// a minute boundary (or 1 ms before) hits the comparisons that flip there: lateness, window
// membership, dedup expiry.
const lagArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 90_000 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 8 * MIN }) },
  { weight: 1, arbitrary: fc.integer({ min: -30_000, max: 0 }) },
);
const snapArb = fc.constantFrom(0, 0, 1, 2);
// wall-clock steps, sometimes exactly an idle timeout (where idleness flips)
const dtArb = (max: number): fc.Arbitrary<number> =>
  fc.oneof(fc.integer({ min: 0, max }), fc.constantFrom(0, 1_000, 10_000));

const eventArb: fc.Arbitrary<EventSpec> = fc.record({
  repeat: fc.option(fc.integer({ min: 0, max: 20 }), { freq: 4 }),
  ad: fc.integer({ min: 0, max: ADS.length - 1 }),
  lag: lagArb,
  snap: snapArb,
  // a small id pool makes duplicates common; null: canonical id (content hash)
  id: fc.option(fc.integer({ min: 0, max: 12 }), { freq: 4 }),
  country: fc.option(fc.integer({ min: 0, max: COUNTRIES.length - 1 }), { freq: 3 }),
  user: fc.option(fc.integer({ min: 0, max: 3 }), { freq: 2 }),
  ip: fc.option(fc.integer({ min: 0, max: 2 }), { freq: 2 }),
});

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 60,
    arbitrary: fc.record({
      kind: fc.constant('batch' as const),
      events: fc.array(eventArb, { minLength: 1, maxLength: 8 }),
      // null: each ad to its partition (partitionFor); a number: all to that partition
      route: fc.option(fc.integer({ min: 0, max: 3 }), { freq: 5 }),
      dt: dtArb(12_000),
      advance: fc.integer({ min: 0, max: 60_000 }),
    }),
  },
  {
    weight: 30,
    arbitrary: fc.record({ kind: fc.constant('tick' as const), dt: dtArb(30_000) }),
  },
  {
    weight: 20,
    arbitrary: fc.record({
      kind: fc.constant('wm' as const),
      delta: fc.integer({ min: -4 * MIN, max: 2 * MIN }),
      snap: snapArb,
    }),
  },
  // rare: after a drain every event is late
  { weight: 1, arbitrary: fc.constant({ kind: 'drain' as const }) },
);

const cfgArb: fc.Arbitrary<AggregatorConfig> = fc.record({
  watermarkDelayMs: fc.constantFrom(0, 5_000, 15_000, 70_000),
  allowedLatenessMs: fc.constantFrom(0, 30_000, 60_000, 120_000, 300_000),
  dedupHorizonMs: fc.constantFrom(1, 60_000, 180_000, 3_600_000),
  idleTimeoutMs: fc.constantFrom(1_000, 10_000),
  dimensions: fc.subarray<Dimension>(['country', 'user_id', 'ip']),
  topN: fc.integer({ min: 1, max: 4 }),
  topWindows: fc.subarray([1, 2, 3, 5]),
});

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  tuning: fc.record({
    denseMinAds: fc.constantFrom(0, 3, 1024),
    denseMaxPanes: fc.constantFrom(1, 3),
    // 1: every per-ad array grows while the run goes
    initialAds: fc.constantFrom(1, 4096),
  }),
  partitions: fc.integer({ min: 1, max: 4 }),
  // a minute-aligned base, sometimes negative (minute() must floor)
  base: fc.constantFrom(1_704_067_200_000, -5 * MIN, 0),
  wallStart: fc.integer({ min: 0, max: 3 * MIN }),
  cfg: cfgArb,
  ops: fc.array(opArb, { minLength: 1, maxLength: 60, size: 'medium' }),
  snapshotAt: fc.nat(),
});

function snapTime(t: number, snap: number): number {
  if (snap === 0) return t;
  const m = Math.floor(t / MIN) * MIN;
  return snap === 1 ? m : m - 1;
}

function toEvent(s: EventSpec, front: number): ClickEvent {
  const ad = ADS[s.ad]!;
  return click(ad, snapTime(front - s.lag, s.snap), {
    ...(s.id === null ? {} : { eventId: `ev-${s.id}` }),
    ...(s.country === null ? {} : { country: COUNTRIES[s.country]! }),
    ...(s.user === null ? {} : { userId: `user-${s.user}` }),
    ...(s.ip === null ? {} : { ip: `10.0.0.${s.ip}` }),
  });
}

interface Runner {
  onEvents(p: number, evs: ClickEvent[], first: number, now: number): void;
  computeWatermark(now: number): number;
  onWatermark(wm: number): void;
  takeOutput(): OperatorOutput;
}

/** Plays the scenario on the given runners in lockstep, calling check after every op. */
function play(
  sc: Scenario,
  runners: () => Runner[],
  check: (outs: OperatorOutput[], step: number, now: number, wms: number[]) => void,
  beforeOp?: (step: number, now: number) => void,
): void {
  let now = sc.base + sc.wallStart;
  let front = sc.base + 5 * MIN;
  const offsets = new Array<number>(sc.partitions).fill(0);
  const sent: ClickEvent[] = [];
  sc.ops.forEach((op, step) => {
    beforeOp?.(step, now);
    const rs = runners();
    if (op.kind === 'batch') {
      now += op.dt;
      front += op.advance;
      // group by partition, keeping the input order within each partition
      const byPart = new Map<number, ClickEvent[]>();
      for (const spec of op.events) {
        const ev =
          spec.repeat !== null && sent.length > 0
            ? sent[sent.length - 1 - (spec.repeat % sent.length)]!
            : toEvent(spec, front);
        sent.push(ev);
        const p =
          op.route === null ? partitionFor(ev.adId, sc.partitions) : op.route % sc.partitions;
        let list = byPart.get(p);
        if (list === undefined) byPart.set(p, (list = []));
        list.push(ev);
      }
      for (const [p, evs] of byPart) {
        for (const r of rs) r.onEvents(p, evs, offsets[p]!, now);
        offsets[p]! += evs.length;
      }
    } else if (op.kind === 'tick') {
      now += op.dt;
      const wms = rs.map((r) => r.computeWatermark(now));
      for (const r of rs) r.onWatermark(wms[0]!);
    } else if (op.kind === 'wm') {
      for (const r of rs) r.onWatermark(snapTime(front + op.delta, op.snap));
    } else {
      for (const r of rs) r.onWatermark(Infinity);
    }
    check(
      rs.map((r) => r.takeOutput()),
      step,
      now,
      rs.map((r) => r.computeWatermark(now)),
    );
  });
}

function assertSameOutput(
  a: OperatorOutput,
  b: OperatorOutput,
  what: string,
  exactOrder: boolean,
): void {
  if (exactOrder) assert.deepEqual(a.rows, b.rows, `${what}: rows`);
  else assert.deepEqual(sortRows(a.rows), sortRows(b.rows), `${what}: rows`);
  assert.deepEqual(a.top, b.top, `${what}: top rows`);
  assert.deepEqual(a.late, b.late, `${what}: late events`);
  assert.deepEqual(a.stats, b.stats, `${what}: stats`);
}

test(`engine = oracle, call for call (${RUNS} runs)`, (t) => {
  // what the runs exercised, reported so a weakened generator shows
  const seen = {
    events: 0,
    duplicates: 0,
    late: 0,
    rows: 0,
    corrections: 0,
    topRows: 0,
    topCorrections: 0,
    /** per dimension value lists, and those re-emitted after a correction */
    dimTopRows: 0,
    dimTopCorrections: 0,
  };
  fc.assert(
    fc.property(scenarioArb, (sc) => {
      const eng = new ClickAggregator(sc.cfg, sc.partitions, 0, sc.tuning);
      const orc = new Oracle(sc.cfg, sc.partitions, 0);
      const folded = new Map<string, number>();
      const emittedTops = new Set<string>();
      const emittedMinutes = new Set<number>();
      play(
        { ...sc, ops: [...sc.ops, { kind: 'drain' }] },
        () => [eng, orc],
        ([e, o], step, _now, wms) => {
          assertSameOutput(e!, o!, `step ${step}`, false);
          assert.equal(wms[0], wms[1], `step ${step}: computeWatermark`);
          assert.equal(eng.watermark, orc.W, `step ${step}: watermark`);
          // one onWatermark emits a (minute, ad, dim) at most once
          const keys = new Set(e!.rows.map((r) => `${r.minute}|${r.adId}|${r.dim}`));
          assert.equal(keys.size, e!.rows.length, `step ${step}: a row emitted twice`);
          // a row of a minute emitted by an earlier call: a correction
          for (const r of e!.rows) if (emittedMinutes.has(r.minute)) seen.corrections++;
          for (const r of e!.rows) emittedMinutes.add(r.minute);
          for (const r of e!.top) {
            const k = `${r.windowMinutes}:${r.endMinute}:${r.dim ?? '*'}`;
            const again = emittedTops.has(k);
            if (again) seen.topCorrections++;
            if (r.dim !== undefined) {
              seen.dimTopRows++;
              if (again) seen.dimTopCorrections++;
            }
            emittedTops.add(k);
          }
          seen.events += e!.stats.events;
          seen.duplicates += e!.stats.duplicates;
          seen.late += e!.stats.late;
          seen.rows += e!.rows.length;
          seen.topRows += e!.top.length;
          foldRows(folded, e!.rows);
        },
      );
      // after the drain, the last emitted counts are the complete counts
      assert.deepEqual(
        new Map([...folded].sort()),
        new Map([...orc.finalCounts()].sort()),
        'final counts',
      );
    }),
    params(RUNS),
  );
  t.diagnostic(`exercised: ${JSON.stringify(seen)}`);
});

test(`snapshot/restore at a random point changes nothing (${Math.ceil(RUNS / 2)} runs)`, () => {
  fc.assert(
    fc.property(scenarioArb, (sc) => {
      const straight = new ClickAggregator(sc.cfg, sc.partitions, 0, sc.tuning);
      let restored: ClickAggregator | null = null;
      const orc = new Oracle(sc.cfg, sc.partitions, 0);
      const cut = sc.snapshotAt % (sc.ops.length + 1);
      play(
        { ...sc, ops: [...sc.ops, { kind: 'drain' }] },
        () => (restored === null ? [straight, orc] : [straight, orc, restored]),
        ([s, o, r], step) => {
          assertSameOutput(s!, o!, `step ${step} (straight vs oracle)`, false);
          if (r !== undefined) assertSameOutput(s!, r, `step ${step} (straight vs restored)`, true);
        },
        (step, now) => {
          if (step !== cut) return;
          // a snapshot between calls; a restored copy then runs beside the original
          const bytes = straight.snapshot();
          // under the other memory layout: the snapshot does not depend on it
          const other = { denseMinAds: sc.tuning.denseMinAds === 0 ? 1024 : 0, initialAds: 2 };
          restored = ClickAggregator.restore(sc.cfg, sc.partitions, bytes, now, other);
        },
      );
    }),
    params(Math.ceil(RUNS / 2)),
  );
});

test(`incremental snapshot chains restore what a full snapshot restores (${Math.ceil(RUNS / 2)} runs)`, () => {
  fc.assert(
    fc.property(
      scenarioArb,
      fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
      fc.constantFrom(0, 0.5, 1000),
      (sc, pieceSteps, ratio) => {
        const straight = new ClickAggregator(sc.cfg, sc.partitions, 0, sc.tuning);
        const at = new Set(pieceSteps.map((s) => s % (sc.ops.length + 1)));
        const cut = Math.max(...at);
        let chain: Uint8Array[][] = [];
        let fromChain: ClickAggregator | null = null;
        let fromFull: ClickAggregator | null = null;
        let deltas = 0;
        play(
          { ...sc, ops: [...sc.ops, { kind: 'drain' }] },
          () =>
            fromChain === null || fromFull === null ? [straight] : [straight, fromChain, fromFull],
          ([s, c, f], step) => {
            if (c === undefined || f === undefined) return;
            assertSameOutput(s!, c, `step ${step} (straight vs chain-restored)`, true);
            assertSameOutput(f, c, `step ${step} (full-restored vs chain-restored)`, true);
          },
          (step, now) => {
            if (!at.has(step)) return;
            const piece = straight.snapshotPiece(ratio, step % 7 === 3);
            // the chunks may be views of the live state: the store copies them
            const copy = piece.chunks.map((c) => c.slice());
            if (piece.base) chain = [copy];
            else {
              chain.push(copy);
              deltas++;
            }
            if (step !== cut) return;
            const other = { denseMinAds: sc.tuning.denseMinAds === 0 ? 1024 : 0, initialAds: 2 };
            fromChain = ClickAggregator.restoreChain(sc.cfg, sc.partitions, chain, now, other);
            fromFull = ClickAggregator.restore(sc.cfg, sc.partitions, straight.snapshot(), now);
            assert.deepEqual(
              fromChain.memoryStats().dedupEntries,
              straight.memoryStats().dedupEntries,
              'dedup slots restored as they were',
            );
            assert.deepEqual(fromChain.snapshotChain, straight.snapshotChain, 'chain sizes');
          },
        );
        return deltas >= 0;
      },
    ),
    params(Math.ceil(RUNS / 2)),
  );
});
