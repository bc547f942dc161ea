import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MINUTE_MS, minuteOf, windowEnds } from '../../../src/core/window/minute.js';

const M = MINUTE_MS;

test('minuteOf floors, also before the epoch', () => {
  assert.equal(minuteOf(0), 0);
  assert.equal(minuteOf(59_999), 0);
  assert.equal(minuteOf(60_000), 60_000);
  assert.equal(minuteOf(-1), -60_000);
  assert.equal(minuteOf(-60_000), -60_000);
  assert.equal(minuteOf(-60_001), -120_000);
  assert.equal(minuteOf(1_704_067_234_567), 1_704_067_200_000);
});

test('windowEnds lists each end holding data once, ascending', () => {
  // data in minutes 0 and 2; 3-minute windows end at 1..3 (minute 0) and 3..5 (minute 2)
  assert.deepEqual(
    windowEnds([0, 2 * M], 3, -Infinity, Infinity),
    [1, 2, 3, 4, 5].map((k) => k * M),
  );
  // a gap: no end between the two groups
  assert.deepEqual(
    windowEnds([0, 10 * M], 2, -Infinity, Infinity),
    [1, 2, 11, 12].map((k) => k * M),
  );
});

test('windowEnds keeps after < e ≤ upTo, with non-boundary bounds', () => {
  assert.deepEqual(windowEnds([0, 2 * M], 3, 2 * M, 4 * M), [3 * M, 4 * M]);
  assert.deepEqual(windowEnds([0, 2 * M], 3, 2 * M + 1, 4 * M - 1), [3 * M]);
  assert.deepEqual(windowEnds([0], 1, M, Infinity), []);
  assert.deepEqual(windowEnds([-2 * M], 1, -Infinity, 0), [-M]);
});

test('windowEnds to +Infinity is bounded by the data, not by the watermark', () => {
  const ends = windowEnds([5 * M, 6 * M, 1_000 * M], 60, -Infinity, Infinity);
  assert.equal(ends.length, 61 + 60);
  assert.equal(ends[0], 6 * M);
  assert.equal(ends[ends.length - 1], 1_060 * M);
});
