import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { validateEvent, type ValidationResult } from '../../../src/core/event/validate.js';
import { canonicalEventId } from '../../../src/core/event/identity.js';
import { COUNTRY_CODES, isCountryCode } from '../../../src/core/event/countries.js';
import { decodeAll, encodeEvents } from '../../../src/core/event/codec.js';
import type { ClickEvent } from '../../../src/core/event/types.js';
import type { ErrorCode } from '../../../src/core/errors.js';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const OPTS = { now: NOW, maxFutureSkewMs: 5 * 60_000 };
const T = Date.UTC(2026, 0, 1, 11, 59, 0);

const validate = (input: unknown): ValidationResult => validateEvent(input, OPTS);

function ok(input: unknown): ClickEvent {
  const r = validate(input);
  if (!r.ok) assert.fail(`expected valid, got ${r.rejection.code}: ${r.rejection.message}`);
  return r.event;
}

function rejects(input: unknown, code: ErrorCode, field: string | undefined, msg?: RegExp): string {
  const r = validate(input);
  if (r.ok) assert.fail(`expected ${code} on ${field}, got valid ${JSON.stringify(r.event)}`);
  assert.equal(r.rejection.code, code, r.rejection.message);
  assert.equal(r.rejection.field, field, r.rejection.message);
  if (field !== undefined)
    assert.ok(r.rejection.message.startsWith(`${field}: `), r.rejection.message);
  if (msg) assert.match(r.rejection.message, msg);
  return r.rejection.message;
}

const base = { ad_id: 'ad-1', timestamp: T };

test('a minimal event: ad_id and an epoch ms timestamp', () => {
  const e = ok(base);
  assert.deepEqual(e, {
    adId: 'ad-1',
    timestamp: T,
    eventId: canonicalEventId('ad-1', T, undefined, undefined, undefined),
    eventIdGiven: false,
    userId: undefined,
    ip: undefined,
    country: undefined,
    extra: undefined,
  });
});

test('a full event keeps every field', () => {
  const e = ok({ ...base, event_id: 'e-1', user_id: 'u-1', ip: '10.1.2.3', country: 'de' });
  assert.equal(e.eventId, 'e-1');
  assert.equal(e.eventIdGiven, true);
  assert.equal(e.userId, 'u-1');
  assert.equal(e.ip, '10.1.2.3');
  assert.equal(e.country, 'DE');
});

test('non-objects are TALLY_EVENT_NOT_OBJECT', () => {
  for (const v of [null, 1, 'x', true, [], [base], undefined]) {
    rejects(v, 'TALLY_EVENT_NOT_OBJECT', undefined, /must be a JSON object/);
  }
});

test('ad_id: required string of 1–64 of [A-Za-z0-9_.:-]', () => {
  for (const id of ['a', 'A-z_0.9:x', 'x'.repeat(64), 'campaign:42.v1_b-2'])
    ok({ ...base, ad_id: id });
  rejects({ timestamp: T }, 'TALLY_FIELD_MISSING', 'ad_id', /required/);
  rejects({ ...base, ad_id: null }, 'TALLY_FIELD_MISSING', 'ad_id');
  rejects({ ...base, ad_id: 42 }, 'TALLY_FIELD_TYPE', 'ad_id', /must be a string, got number/);
  rejects({ ...base, ad_id: '' }, 'TALLY_FIELD_LENGTH', 'ad_id', /1–64/);
  rejects({ ...base, ad_id: 'x'.repeat(65) }, 'TALLY_FIELD_LENGTH', 'ad_id', /65 characters/);
  const m = rejects({ ...base, ad_id: 'bad id!' }, 'TALLY_FIELD_FORMAT', 'ad_id');
  assert.equal(m, 'ad_id: must be 1–64 characters of [A-Za-z0-9_.:-], got "bad id!"');
  for (const id of ['a/b', 'a b', 'é', 'a\n', 'a;b', 'ä'])
    rejects({ ...base, ad_id: id }, 'TALLY_FIELD_FORMAT', 'ad_id');
});

test('echoed values are truncated', () => {
  const m = rejects({ ...base, ad_id: '!'.repeat(60) }, 'TALLY_FIELD_FORMAT', 'ad_id');
  assert.ok(m.endsWith(`"${'!'.repeat(40)}…"`), m);
});

test('timestamp: epoch ms must be a non-negative whole JSON number', () => {
  assert.equal(ok({ ad_id: 'a', timestamp: 0 }).timestamp, 0);
  rejects({ ad_id: 'a', timestamp: 1.5 }, 'TALLY_FIELD_FORMAT', 'timestamp', /whole number/);
  rejects({ ad_id: 'a', timestamp: -1 }, 'TALLY_FIELD_FORMAT', 'timestamp', /between 0/);
  rejects({ ad_id: 'a', timestamp: NaN }, 'TALLY_FIELD_FORMAT', 'timestamp');
  rejects({ ad_id: 'a', timestamp: Infinity }, 'TALLY_FIELD_FORMAT', 'timestamp');
  rejects(
    { ad_id: 'a', timestamp: String(T) },
    'TALLY_FIELD_TYPE',
    'timestamp',
    /JSON number, not a string/,
  );
  rejects({ ad_id: 'a', timestamp: true }, 'TALLY_FIELD_TYPE', 'timestamp', /got boolean/);
  rejects({ ad_id: 'a', timestamp: {} }, 'TALLY_FIELD_TYPE', 'timestamp', /got object/);
  rejects({ ad_id: 'a', timestamp: [T] }, 'TALLY_FIELD_TYPE', 'timestamp', /got array/);
});

test('timestamp: ISO-8601 must carry an offset and be a real date', () => {
  assert.equal(ok({ ad_id: 'a', timestamp: '2026-01-01T11:59:00Z' }).timestamp, T);
  assert.equal(ok({ ad_id: 'a', timestamp: '2026-01-01T12:59:00+01:00' }).timestamp, T);
  rejects(
    { ad_id: 'a', timestamp: '2026-01-01T11:59:00' },
    'TALLY_FIELD_FORMAT',
    'timestamp',
    /offset/,
  );
  rejects(
    { ad_id: 'a', timestamp: '2026-02-30T00:00:00Z' },
    'TALLY_FIELD_FORMAT',
    'timestamp',
    /day 30/,
  );
  rejects({ ad_id: 'a', timestamp: 'yesterday' }, 'TALLY_FIELD_FORMAT', 'timestamp', /ISO-8601/);
  rejects(
    { ad_id: 'a', timestamp: '1969-12-31T23:59:59Z' },
    'TALLY_FIELD_FORMAT',
    'timestamp',
    /1970/,
  );
});

test('timestamp: missing (both names absent or null) is TALLY_FIELD_MISSING on timestamp', () => {
  rejects({ ad_id: 'a' }, 'TALLY_FIELD_MISSING', 'timestamp', /click_timestamp/);
  rejects(
    { ad_id: 'a', timestamp: null, click_timestamp: null },
    'TALLY_FIELD_MISSING',
    'timestamp',
  );
});

test('click_timestamp is accepted alone and errors name it', () => {
  assert.equal(ok({ ad_id: 'a', click_timestamp: T }).timestamp, T);
  rejects({ ad_id: 'a', click_timestamp: 'soon' }, 'TALLY_FIELD_FORMAT', 'click_timestamp');
  rejects(
    { ad_id: 'a', click_timestamp: NOW + 6 * 60_000 },
    'TALLY_EVENT_IN_FUTURE',
    'click_timestamp',
  );
});

test('timestamp and click_timestamp together must denote the same instant', () => {
  const e = ok({ ad_id: 'a', timestamp: '2026-01-01T11:59:00Z', click_timestamp: T });
  assert.equal(e.timestamp, T);
  assert.equal(e.extra, undefined, 'both are known fields');
  rejects(
    { ad_id: 'a', timestamp: T, click_timestamp: T + 1 },
    'TALLY_FIELD_FORMAT',
    'click_timestamp',
    /same instant/,
  );
  rejects({ ad_id: 'a', timestamp: 'x', click_timestamp: T }, 'TALLY_FIELD_FORMAT', 'timestamp');
  rejects(
    { ad_id: 'a', timestamp: T, click_timestamp: 'x' },
    'TALLY_FIELD_FORMAT',
    'click_timestamp',
  );
  assert.equal(ok({ ad_id: 'a', timestamp: null, click_timestamp: T }).timestamp, T);
});

test('an event more than maxFutureSkew ahead of now is TALLY_EVENT_IN_FUTURE', () => {
  ok({ ad_id: 'a', timestamp: NOW + 5 * 60_000 });
  const m = rejects(
    { ad_id: 'a', timestamp: NOW + 5 * 60_000 + 1 },
    'TALLY_EVENT_IN_FUTURE',
    'timestamp',
  );
  assert.match(m, /ahead of the server clock/);
  assert.match(m, /5 min \(maxFutureSkew\)/);
  const r = validateEvent({ ad_id: 'a', timestamp: NOW + 1000 }, { now: NOW, maxFutureSkewMs: 0 });
  assert.equal(r.ok, false);
});

test('event_id: optional string of 1–128 characters', () => {
  assert.equal(ok({ ...base, event_id: 'x'.repeat(128) }).eventId, 'x'.repeat(128));
  assert.equal(
    ok({ ...base, event_id: '😀'.repeat(128) }).eventIdGiven,
    true,
    'code points, not UTF-16 units',
  );
  assert.equal(ok({ ...base, event_id: null }).eventIdGiven, false);
  rejects({ ...base, event_id: '' }, 'TALLY_FIELD_LENGTH', 'event_id', /empty/);
  rejects({ ...base, event_id: 'x'.repeat(129) }, 'TALLY_FIELD_LENGTH', 'event_id', /1–128/);
  rejects({ ...base, event_id: '😀'.repeat(129) }, 'TALLY_FIELD_LENGTH', 'event_id');
  rejects({ ...base, event_id: 7 }, 'TALLY_FIELD_TYPE', 'event_id', /got number/);
  rejects({ ...base, event_id: 'a\ud800' }, 'TALLY_FIELD_FORMAT', 'event_id', /surrogate/);
});

test('the canonical id: same instant in any notation, canonical country and ip', () => {
  const a = ok({ ad_id: 'a', timestamp: T, user_id: 'u', ip: '2001:DB8:0::1', country: 'us' });
  const b = ok({
    ad_id: 'a',
    timestamp: '2026-01-01T06:59:00-05:00',
    user_id: 'u',
    ip: '2001:db8::1',
    country: 'US',
  });
  const c = ok({
    ad_id: 'a',
    click_timestamp: '2026-01-01T11:59:00.000Z',
    user_id: 'u',
    ip: '2001:0db8::0001',
    country: 'Us',
  });
  assert.match(a.eventId, /^[0-9a-f]{32}$/);
  assert.equal(a.eventId, b.eventId);
  assert.equal(a.eventId, c.eventId);
  assert.equal(a.eventId, canonicalEventId('a', T, 'u', '2001:db8::1', 'US'));
  // any difference in content changes it; an absent field differs from an empty one
  const ids = new Set([
    a.eventId,
    ok({ ad_id: 'b', timestamp: T, user_id: 'u', ip: '2001:db8::1', country: 'US' }).eventId,
    ok({ ad_id: 'a', timestamp: T + 1, user_id: 'u', ip: '2001:db8::1', country: 'US' }).eventId,
    ok({ ad_id: 'a', timestamp: T, user_id: 'v', ip: '2001:db8::1', country: 'US' }).eventId,
    ok({ ad_id: 'a', timestamp: T, user_id: 'u', country: 'US' }).eventId,
    ok({ ad_id: 'a', timestamp: T, user_id: 'u', ip: '2001:db8::1' }).eventId,
    ok({ ad_id: 'a', timestamp: T, ip: '2001:db8::1', country: 'US' }).eventId,
    ok({ ad_id: 'a', timestamp: T, user_id: '', ip: '2001:db8::1', country: 'US' }).eventId,
  ]);
  assert.equal(ids.size, 8);
  // unknown fields are not part of the canonical content
  assert.equal(ok({ ...base, foo: 1 }).eventId, ok(base).eventId);
});

test('user_id: optional string of at most 128 characters (empty allowed)', () => {
  assert.equal(ok({ ...base, user_id: '' }).userId, '');
  assert.equal(ok({ ...base, user_id: 'ü'.repeat(128) }).userId, 'ü'.repeat(128));
  assert.equal(ok({ ...base, user_id: null }).userId, undefined);
  rejects({ ...base, user_id: 'x'.repeat(129) }, 'TALLY_FIELD_LENGTH', 'user_id', /at most 128/);
  rejects({ ...base, user_id: 12 }, 'TALLY_FIELD_TYPE', 'user_id');
  rejects({ ...base, user_id: '\udc00' }, 'TALLY_FIELD_FORMAT', 'user_id');
  for (const c of ['\u0000', '\n', '\u007f', '\u0085', '\u009f']) {
    rejects({ ...base, user_id: `u${c}` }, 'TALLY_FIELD_FORMAT', 'user_id', /control/);
    rejects({ ...base, event_id: `e${c}` }, 'TALLY_FIELD_FORMAT', 'event_id', /control/);
  }
  assert.equal(ok({ ...base, user_id: 'u\u00a0\u2028' }).userId, 'u\u00a0\u2028');
});

test('ip: IPv4 or IPv6, stored canonical', () => {
  assert.equal(ok({ ...base, ip: '192.0.2.1' }).ip, '192.0.2.1');
  assert.equal(ok({ ...base, ip: '2001:DB8:0:0:0:0:0:1' }).ip, '2001:db8::1');
  assert.equal(ok({ ...base, ip: '::FFFF:192.0.2.1' }).ip, '::ffff:192.0.2.1');
  assert.equal(ok({ ...base, ip: null }).ip, undefined);
  for (const bad of [
    '192.0.2',
    '192.0.2.01',
    '300.1.1.1',
    'fe80::1%eth0',
    'localhost',
    '',
    ' 1.2.3.4',
  ]) {
    rejects({ ...base, ip: bad }, 'TALLY_FIELD_FORMAT', 'ip', /IPv4 .* or an IPv6/);
  }
  rejects({ ...base, ip: 3232235777 }, 'TALLY_FIELD_TYPE', 'ip');
});

test('country: upper-cased, one of the 249 assigned alpha-2 codes', () => {
  assert.equal(COUNTRY_CODES.length, 249);
  assert.equal(ok({ ...base, country: 'us' }).country, 'US');
  assert.equal(ok({ ...base, country: 'gB' }).country, 'GB');
  assert.equal(ok({ ...base, country: null }).country, undefined);
  for (const c of COUNTRY_CODES) assert.equal(ok({ ...base, country: c }).country, c);
  for (const bad of ['UK', 'EU', 'XK', 'ZZ', 'AA', 'XX', 'USA', 'U', '', 'U1', 'ß', 'ıt', ' US']) {
    rejects({ ...base, country: bad }, 'TALLY_FIELD_FORMAT', 'country', /ISO 3166-1 alpha-2/);
  }
  rejects({ ...base, country: 1 }, 'TALLY_FIELD_TYPE', 'country');
});

test('the country list holds the codes one expects, sorted and unique', () => {
  for (const c of ['US', 'DE', 'JP', 'BR', 'IN', 'SS', 'AX', 'BQ', 'CW', 'SX', 'AQ', 'TW', 'PS']) {
    assert.ok(isCountryCode(c), c);
  }
  assert.deepEqual([...COUNTRY_CODES].sort(), COUNTRY_CODES);
  assert.equal(new Set(COUNTRY_CODES).size, 249);
});

test('unknown fields are kept as JSON object text in key order', () => {
  const e = ok({ zeta: 1, ...base, alpha: { nested: [1, 'two', null] }, mid: 'x', country: 'US' });
  assert.equal(e.extra, '{"zeta":1,"alpha":{"nested":[1,"two",null]},"mid":"x"}');
  assert.deepEqual(JSON.parse(e.extra!), {
    zeta: 1,
    alpha: { nested: [1, 'two', null] },
    mid: 'x',
  });
  assert.equal(ok({ ...base, n: null }).extra, '{"n":null}', 'null is kept for unknown fields');
  assert.equal(ok({ ...base, u: undefined }).extra, undefined, 'undefined is not JSON');
});

test('a __proto__ key from JSON is kept as data, not as a prototype', () => {
  const e = ok(JSON.parse('{"ad_id":"a","timestamp":0,"__proto__":{"x":1}}'));
  assert.equal(e.extra, '{"__proto__":{"x":1}}');
});

test('an unknown field that is not JSON is rejected, not thrown', () => {
  const cyclic: Record<string, unknown> = { ...base };
  cyclic['self'] = cyclic;
  // a cycle is infinitely deep: the record limits refuse it before anything recurses
  rejects(cyclic, 'TALLY_RECORD_LIMIT', undefined);
  rejects({ ...base, big: 1n }, 'TALLY_FIELD_TYPE', 'big');
});

test('inherited properties are not fields', () => {
  const proto = { ad_id: 'inherited', timestamp: T };
  rejects(Object.create(proto), 'TALLY_FIELD_MISSING', 'ad_id');
});

test('rules are checked in field order: the first failing field is named', () => {
  rejects({ ad_id: '', timestamp: 'bad', country: 'XX' }, 'TALLY_FIELD_LENGTH', 'ad_id');
  rejects({ ad_id: 'a', timestamp: 'bad', country: 'XX' }, 'TALLY_FIELD_FORMAT', 'timestamp');
});

// ids hold no control characters (C0, DEL, C1): the rest of Unicode's code points
// eslint-disable-next-line no-control-regex -- the control characters are what it looks for
const noControl = (s: string) => !/[\u0000-\u001f\u007f-\u009f]/.test(s);
const eventInput = fc.record(
  {
    ad_id: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/),
    timestamp: fc.integer({ min: 0, max: NOW }),
    event_id: fc.string({ unit: 'binary', minLength: 1, maxLength: 128 }).filter(noControl),
    user_id: fc.string({ unit: 'binary', maxLength: 128 }).filter(noControl),
    ip: fc.oneof(fc.ipV4(), fc.ipV6()),
    country: fc.constantFrom(...COUNTRY_CODES),
    extra_field: fc.jsonValue(),
  },
  { requiredKeys: ['ad_id', 'timestamp'] },
);

test('property: every generated valid input is accepted and survives the codec', () => {
  fc.assert(
    fc.property(fc.array(eventInput, { maxLength: 8 }), (inputs) => {
      const events = inputs.map(ok);
      assert.deepEqual(decodeAll(encodeEvents(events)), events);
    }),
    { numRuns: 300 },
  );
});

test('property: validation never throws on arbitrary JSON', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const r = validate(v);
      if (!r.ok) assert.ok(r.rejection.message.length > 0);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.constantFrom(
          'ad_id',
          'timestamp',
          'click_timestamp',
          'event_id',
          'user_id',
          'ip',
          'country',
          'x',
        ),
        fc.oneof(fc.jsonValue(), fc.string(), fc.integer()),
      ),
      (v) => {
        validate(v);
      },
    ),
    { numRuns: 2000 },
  );
});
