import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  daysFromCivil,
  formatIsoTimestamp,
  parseIsoTimestamp,
} from '../../../src/core/event/time.js';

test('ISO-8601 with an offset parses to epoch ms', () => {
  const cases: Array<[string, number]> = [
    ['1970-01-01T00:00:00Z', 0],
    ['2026-01-01T12:00:00Z', Date.UTC(2026, 0, 1, 12)],
    ['2026-01-01T12:00Z', Date.UTC(2026, 0, 1, 12)],
    ['2026-01-01t12:00:00z', Date.UTC(2026, 0, 1, 12)],
    ['2026-01-01 12:00:00Z', Date.UTC(2026, 0, 1, 12)],
    ['2026-01-01T12:00:00.5Z', Date.UTC(2026, 0, 1, 12, 0, 0, 500)],
    ['2026-01-01T12:00:00.12Z', Date.UTC(2026, 0, 1, 12, 0, 0, 120)],
    ['2026-01-01T12:00:00.123Z', Date.UTC(2026, 0, 1, 12, 0, 0, 123)],
    ['2026-01-01T12:00:00.123999Z', Date.UTC(2026, 0, 1, 12, 0, 0, 123)],
    ['2026-01-01T12:00:00,250Z', Date.UTC(2026, 0, 1, 12, 0, 0, 250)],
    ['2026-01-01T14:30:00+02:30', Date.UTC(2026, 0, 1, 12)],
    ['2026-01-01T14:30:00+0230', Date.UTC(2026, 0, 1, 12)],
    ['2026-01-01T14:00:00+02', Date.UTC(2026, 0, 1, 12)],
    ['2026-01-01T07:00:00-05:00', Date.UTC(2026, 0, 1, 12)],
    ['2025-12-31T23:00:00-13:00', Date.UTC(2026, 0, 1, 12)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)],
  ];
  for (const [s, ms] of cases) assert.equal(parseIsoTimestamp(s), ms, s);
});

test('offset-less, impossible or malformed times return a reason', () => {
  const bad: Array<[string, RegExp]> = [
    ['2026-01-01T12:00:00', /offset/],
    ['2026-01-01T12:00', /offset/],
    ['2026-01-01', /time and UTC offset/],
    ['2026-02-30T00:00:00Z', /day 30 does not exist/],
    ['2025-02-29T00:00:00Z', /day 29/],
    ['1900-02-29T00:00:00Z', /day 29/],
    ['2026-04-31T00:00:00Z', /day 31/],
    ['2026-13-01T00:00:00Z', /month 13/],
    ['2026-00-01T00:00:00Z', /month 0/],
    ['2026-01-00T00:00:00Z', /day 0/],
    ['2026-01-01T24:00:00Z', /hour 24/],
    ['2026-01-01T12:60:00Z', /minute 60/],
    ['2026-01-01T23:59:60Z', /second 60/],
    ['2026-01-01T12:00:00.Z', /digits/],
    ['2026-01-01T12:00:00+25:00', /offset/],
    ['2026-01-01T12:00:00+02:60', /offset/],
    ['2026-01-01T12:00:00+2', /offset/],
    ['2026-01-01T12:00:00Zjunk', /after/],
    ['2026-01-01X12:00:00Z', /'T'/],
    ['20260101T120000Z', /date/],
    ['26-01-01T12:00:00Z', /date/],
    ['yesterday', /date/],
    ['', /date/],
  ];
  for (const [s, why] of bad) {
    const r = parseIsoTimestamp(s);
    assert.equal(typeof r, 'string', s);
    assert.match(r as string, why, s);
  }
});

test('daysFromCivil counts days from 1970-01-01', () => {
  assert.equal(daysFromCivil(1970, 1, 1), 0);
  assert.equal(daysFromCivil(1969, 12, 31), -1);
  assert.equal(daysFromCivil(2000, 3, 1), Date.UTC(2000, 2, 1) / 86_400_000);
});

const instant = fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) });

test('property: formatIsoTimestamp matches Date#toISOString and parses back', () => {
  fc.assert(
    fc.property(instant, (ms) => {
      const s = formatIsoTimestamp(ms);
      assert.equal(s, new Date(ms).toISOString());
      assert.equal(parseIsoTimestamp(s), ms);
    }),
    { numRuns: 5000 },
  );
});

test('property: any offset gives the same instant as Date.parse', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(2100, 0, 1) }),
      fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
      (ms, offsetMin) => {
        const local = formatIsoTimestamp(ms + offsetMin * 60_000).slice(0, -1);
        const a = Math.abs(offsetMin);
        const off = `${offsetMin < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
        assert.equal(parseIsoTimestamp(local + off), ms);
        assert.equal(Date.parse(local + off), ms);
      },
    ),
    { numRuns: 3000 },
  );
});
