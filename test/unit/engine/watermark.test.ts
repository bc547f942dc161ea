import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isIdle,
  partitionWatermark,
  pipelineWatermark,
} from '../../../src/core/watermark/watermark.js';
import { ClickAggregator } from '../../../src/core/operator/aggregator.js';
import { click, config, T0 } from './helpers.js';

const rules = { watermarkDelayMs: 15_000, idleTimeoutMs: 10_000 };

test('a partition watermark trails its largest event time by the delay; none before an event', () => {
  assert.equal(partitionWatermark({ maxEventTime: 100_000, lastArrival: 0 }, rules), 85_000);
  assert.equal(partitionWatermark({ maxEventTime: undefined, lastArrival: 0 }, rules), undefined);
});

test('idle: no arrival for idleTimeout of wall time, or never', () => {
  assert.equal(isIdle({ maxEventTime: 1, lastArrival: 1_000 }, 10_999, rules), false);
  assert.equal(isIdle({ maxEventTime: 1, lastArrival: 1_000 }, 11_000, rules), true);
  assert.equal(isIdle({ maxEventTime: undefined, lastArrival: undefined }, 0, rules), true);
});

test('the pipeline watermark is the minimum over partitions that are not idle', () => {
  const parts = [
    { maxEventTime: 200_000, lastArrival: 58_000 },
    { maxEventTime: 100_000, lastArrival: 55_000 },
    // idle (its last arrival is 10 s old): excluded although it is far behind
    { maxEventTime: 10_000, lastArrival: 45_000 },
  ];
  assert.equal(pipelineWatermark(parts, 55_000, rules, -Infinity, 0), 85_000);
  // once partition 1 is idle too, partition 0 leads
  assert.equal(pipelineWatermark(parts, 65_000, rules, -Infinity, 0), 185_000);
});

test('when every partition is idle the watermark follows the wall clock', () => {
  const parts = [
    { maxEventTime: 100_000, lastArrival: 0 },
    { maxEventTime: undefined, lastArrival: undefined },
  ];
  assert.equal(pipelineWatermark(parts, 1_000_000, rules, -Infinity, 0), 985_000);
});

test('a pipeline that just started waits idleTimeout before following the wall clock', () => {
  const never = [
    { maxEventTime: undefined, lastArrival: undefined },
    { maxEventTime: undefined, lastArrival: undefined },
  ];
  assert.equal(pipelineWatermark(never, 1_009_999, rules, -Infinity, 1_000_000), -Infinity);
  assert.equal(pipelineWatermark(never, 1_010_000, rules, -Infinity, 1_000_000), 995_000);
  // the quiet period counts from the last arrival anywhere, not only from the start
  const quiet = [{ maxEventTime: 5_000, lastArrival: 1_005_000 }, never[0]!];
  assert.equal(pipelineWatermark(quiet, 1_014_999, rules, -10_000, 1_000_000), -10_000);
  assert.equal(pipelineWatermark(quiet, 1_015_000, rules, -10_000, 1_000_000), 1_000_000);
});

test('the watermark never goes backwards', () => {
  const parts = [{ maxEventTime: 100_000, lastArrival: 0 }];
  assert.equal(pipelineWatermark(parts, 5_000, rules, 90_000, 0), 90_000);
});

test('an active partition without a watermark holds the pipeline watermark', () => {
  const parts = [
    { maxEventTime: 100_000, lastArrival: 0 },
    { maxEventTime: undefined, lastArrival: 1_000 },
  ];
  assert.equal(pipelineWatermark(parts, 2_000, rules, 7, 0), 7);
});

test('the operator computes but does not apply the watermark', () => {
  const agg = new ClickAggregator(config(), 2, 0);
  assert.equal(agg.computeWatermark(0), -Infinity, 'nothing arrived yet: no watermark');
  assert.equal(agg.computeWatermark(10_000), -5_000, 'nothing for idleTimeout: the wall clock');
  agg.onEvents(0, [click('a', T0 + 30_000)], 0, 1_000);
  // partition 1 never received anything: idle; partition 0 leads
  assert.equal(agg.computeWatermark(2_000), T0 + 15_000);
  assert.equal(agg.watermark, -Infinity);
  agg.onWatermark(agg.computeWatermark(2_000));
  assert.equal(agg.watermark, T0 + 15_000);
  // once partition 0 is idle too, the wall clock leads only if it is ahead
  assert.equal(agg.computeWatermark(11_000), T0 + 15_000);
  const status = agg.partitionStatus(2_000);
  assert.deepEqual(status[0], {
    partition: 0,
    maxEventTime: T0 + 30_000,
    watermark: T0 + 15_000,
    idle: false,
    lastArrival: 1_000,
    nextOffset: 1,
  });
  assert.equal(status[1]!.idle, true);
  assert.equal(status[1]!.watermark, null);
});
