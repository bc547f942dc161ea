/**
 * The engine against the oracle at a scale the random scenarios do not reach: thousands of
 * Zipf-popular ads (tables grow, open minutes turn dense, top lists have many candidates),
 * default tuning and config, disorder, client retries, stragglers inside and beyond the
 * lateness, and a snapshot/restore half way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClickEvent } from '../../../src/core/event/types.js';
import { partitionFor } from '../../../src/core/event/hash.js';
import { Prng } from '../../../src/core/generate/prng.js';
import { ZipfSampler } from '../../../src/core/generate/zipf.js';
import { ClickAggregator } from '../../../src/core/operator/aggregator.js';
import { Oracle, sortRows } from './oracle.js';
import { click, config, T0 } from './helpers.js';

for (const tuning of [{}, { denseMinAds: 0, initialAds: 1 }])
  test(`engine = oracle on 60 000 Zipf clicks over 3 000 ads, restart half way (${JSON.stringify(tuning)})`, () => {
    const cfg = config({ topN: 10, topWindows: [1, 5, 60], dimensions: ['country', 'user_id'] });
    const P = 4;
    const rng = new Prng(7);
    const zipf = new ZipfSampler(3_000, 1.05);
    const countries = ['US', 'FR', 'DE', 'IN', 'BR'];
    let engine = new ClickAggregator(cfg, P, T0, tuning);
    const oracle = new Oracle(cfg, P, T0);
    const offsets = new Array<number>(P).fill(0);
    const recent: ClickEvent[] = [];
    const events = 60_000;
    const perTick = 1_500;
    let outputs = 0;
    for (let start = 0; start < events; start += perTick) {
      const byPart = Array.from({ length: P }, () => [] as ClickEvent[]);
      for (let i = start; i < start + perTick; i++) {
        let ev: ClickEvent;
        const r = rng.next();
        if (r < 0.03 && recent.length > 0) {
          ev = recent[rng.int(recent.length)]!; // a retry
        } else {
          // 100 events per second of event time: 10 minutes in all
          let ts = T0 + i * 10 - rng.int(5_000);
          if (r > 0.995)
            ts -= 600_000; // beyond the lateness
          else if (r > 0.98) ts -= 30_000 + rng.int(240_000); // a straggler within it
          ev = click(`ad-${zipf.sample(rng)}`, ts, {
            eventId: `e-${i}`,
            country: countries[rng.int(countries.length)]!,
            userId: `u-${rng.int(50)}`,
          });
          recent.push(ev);
          if (recent.length > 500) recent.shift();
        }
        byPart[partitionFor(ev.adId, P)]!.push(ev);
      }
      const now = T0 + (start + perTick) * 10;
      for (let p = 0; p < P; p++) {
        engine.onEvents(p, byPart[p]!, offsets[p]!, now);
        oracle.onEvents(p, byPart[p]!, offsets[p]!, now);
        offsets[p]! += byPart[p]!.length;
      }
      const wm = engine.computeWatermark(now);
      assert.equal(wm, oracle.computeWatermark(now));
      engine.onWatermark(wm);
      oracle.onWatermark(wm);
      compare(engine, oracle);
      outputs++;
      if (start === 30_000)
        engine = ClickAggregator.restore(cfg, P, engine.snapshot(), now, tuning);
    }
    engine.onWatermark(Infinity);
    oracle.onWatermark(Infinity);
    compare(engine, oracle);
    assert.ok(outputs > 10);
  });

function compare(engine: ClickAggregator, oracle: Oracle): void {
  const e = engine.takeOutput();
  const o = oracle.takeOutput();
  assert.deepEqual(sortRows(e.rows), sortRows(o.rows), 'rows');
  assert.deepEqual(e.top, o.top, 'top');
  assert.deepEqual(e.late, o.late, 'late');
  assert.deepEqual(e.stats, o.stats, 'stats');
}
