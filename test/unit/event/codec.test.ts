import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  RECORD_HEADER_BYTES,
  RecordCursor,
  RecordWriter,
  countRecords,
  decodeAll,
  encodeEvents,
} from '../../../src/core/event/codec.js';
import { canonicalEventId, dedupKey } from '../../../src/core/event/identity.js';
import { F_COUNTRY, F_IP, F_USER_ID } from '../../../src/core/event/fields.js';
import type { ClickEvent } from '../../../src/core/event/types.js';
import { TallyError } from '../../../src/core/errors.js';

function ev(over: Partial<ClickEvent> = {}): ClickEvent {
  const base = {
    adId: 'ad-1',
    timestamp: 1_767_225_600_000,
    userId: undefined,
    ip: undefined,
    country: undefined,
    extra: undefined,
    ...over,
  };
  const given = over.eventId !== undefined;
  return {
    ...base,
    eventId: given
      ? over.eventId!
      : canonicalEventId(base.adId, base.timestamp, base.userId, base.ip, base.country),
    eventIdGiven: given,
  };
}

test('round-trips a full event and a minimal one', () => {
  const full = ev({
    eventId: 'e-1',
    userId: 'u-42',
    ip: '2001:db8::1',
    country: 'US',
    extra: '{"campaign":"spring","n":3}',
  });
  const min = ev();
  assert.deepEqual(decodeAll(encodeEvents([full, min])), [full, min]);
});

test('unicode user_id, event_id and extra survive', () => {
  const e = ev({
    eventId: 'ünïcødé-✓-😀',
    userId: 'ユーザー😀\u0000x',
    extra: '{"note":"naïve ☕ 𝄞"}',
  });
  assert.deepEqual(decodeAll(encodeEvents([e])), [e]);
});

test('absent optional fields stay absent; empty user_id stays empty', () => {
  const e = ev({ userId: '' });
  const [d] = decodeAll(encodeEvents([e]));
  assert.equal(d!.userId, '');
  assert.equal(d!.ip, undefined);
  assert.equal(d!.country, undefined);
  assert.equal(d!.extra, undefined);
  assert.equal(d!.eventIdGiven, false);
});

test('a minimal record is header + ad_id bytes', () => {
  const data = encodeEvents([ev({ adId: 'abc' })]);
  assert.equal(data.length, RECORD_HEADER_BYTES + 3);
  assert.equal(data[4], 1, 'version byte');
});

test('the cursor exposes positions and the precomputed dedup key', () => {
  const e = ev({ eventId: 'e-9', userId: 'u', ip: '10.0.0.1', country: 'DE' });
  const data = encodeEvents([ev(), e]);
  const c = new RecordCursor(data);
  assert.ok(c.next());
  assert.equal(c.fieldStart[F_COUNTRY], -1);
  assert.equal(c.fieldStart[F_USER_ID], -1);
  assert.ok(c.next());
  const text = (s: number, en: number): string => new TextDecoder().decode(data.subarray(s, en));
  const field = (f: number): string => text(c.fieldStart[f]!, c.fieldEnd[f]!);
  assert.equal(text(c.adIdStart, c.adIdEnd), 'ad-1');
  assert.equal(field(F_COUNTRY), 'DE');
  assert.equal(field(F_USER_ID), 'u');
  assert.equal(field(F_IP), '10.0.0.1');
  assert.equal(c.timestamp, e.timestamp);
  assert.equal(c.recordEnd, data.length);
  assert.equal(c.eventId(), 'e-9');
  const k = dedupKey('ad-1', 'e-9', new Uint32Array(4));
  assert.deepEqual([c.key0, c.key1, c.key2, c.key3], [...k]);
  assert.equal(c.next(), false);
});

test('the canonical event id is recomputed on decode, and keys the same as encode', () => {
  const e = ev({ userId: 'u1', ip: '1.2.3.4', country: 'FR' });
  const c = new RecordCursor(encodeEvents([e]));
  assert.ok(c.next());
  assert.equal(c.eventIdGiven(), false);
  assert.equal(c.eventId(), e.eventId);
  assert.match(c.eventId(), /^[0-9a-f]{32}$/);
  const k = dedupKey(e.adId, e.eventId, new Uint32Array(4));
  assert.deepEqual([c.key0, c.key1, c.key2, c.key3], [...k]);
});

test('the dedup key is scoped by ad', () => {
  const a = [...dedupKey('ad-a', 'e-1', new Uint32Array(4))];
  const b = [...dedupKey('ad-b', 'e-1', new Uint32Array(4))];
  assert.notDeepEqual(a, b);
});

test('the writer grows, counts, resets and finish() returns an independent copy', () => {
  const w = new RecordWriter(64);
  const events = Array.from({ length: 500 }, (_, i) =>
    ev({ adId: `ad-${i % 17}`, timestamp: 1_700_000_000_000 + i, eventId: `e-${i}` }),
  );
  for (const e of events) w.write(e);
  assert.equal(w.count, 500);
  const first = w.finish();
  assert.equal(first.length, w.byteLength);
  w.reset();
  assert.equal(w.count, 0);
  assert.equal(w.byteLength, 0);
  w.write(ev({ adId: 'zzz' }));
  assert.deepEqual(decodeAll(first), events);
  assert.equal(countRecords(first), 500);
  assert.equal(decodeAll(w.bytes())[0]!.adId, 'zzz');
});

test('appendRaw copies framed records verbatim', () => {
  const data = encodeEvents([ev({ eventId: 'a' }), ev({ eventId: 'b' })]);
  const c = new RecordCursor(data);
  c.next();
  c.next();
  const w = new RecordWriter();
  w.appendRaw(c.buf, c.recordStart, c.recordEnd, 1);
  assert.deepEqual(decodeAll(w.finish()), [ev({ eventId: 'b' })]);
});

test('the cursor reads records from a subarray view', () => {
  const data = encodeEvents([ev({ eventId: 'x' })]);
  const padded = new Uint8Array(data.length + 10);
  padded.set(data, 3);
  assert.deepEqual(decodeAll(padded.subarray(3, 3 + data.length)), [ev({ eventId: 'x' })]);
});

function assertCorrupt(data: Uint8Array, offset: number): void {
  assert.throws(
    () => decodeAll(data),
    (e: unknown) =>
      e instanceof TallyError &&
      e.code === 'TALLY_LOG_CORRUPT' &&
      e.details?.['offset'] === offset &&
      e.message.includes(`byte ${offset}`),
  );
}

test('a truncated or corrupt record throws TALLY_LOG_CORRUPT with its offset', () => {
  const one = encodeEvents([ev({ eventId: 'e-1', userId: 'u', extra: '{"a":1}' })]);
  const two = encodeEvents([ev(), ev({ eventId: 'e-1', userId: 'u', extra: '{"a":1}' })]);
  const second = two.length - one.length;
  for (let cut = 1; cut < one.length; cut++) assertCorrupt(two.subarray(0, second + cut), second);

  const badVersion = two.slice();
  badVersion[second + 4] = 9;
  assertCorrupt(badVersion, second);

  const badLen = two.slice();
  new DataView(badLen.buffer).setUint32(second, 0xffffff, true);
  assertCorrupt(badLen, second);

  const badFlags = two.slice();
  badFlags[second + 5] = 0x80;
  assertCorrupt(badFlags, second);

  const badAd = two.slice();
  badAd[second + 6] = 0;
  assertCorrupt(badAd, second);

  const longer = two.slice();
  new DataView(longer.buffer).setUint32(second, one.length - 4 - 1, true);
  assertCorrupt(longer, second);
});

test('a record whose field lengths disagree with its frame is corrupt', () => {
  const data = encodeEvents([ev({ userId: 'abc' })]).slice();
  // the user_id length sits right after ad_id ('ad-1')
  new DataView(data.buffer).setUint16(RECORD_HEADER_BYTES + 4, 2, true);
  assertCorrupt(data, 0);
});

test('random bytes never crash the cursor with anything but TALLY_LOG_CORRUPT', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        decodeAll(bytes);
      } catch (e) {
        assert.ok(e instanceof TallyError && e.code === 'TALLY_LOG_CORRUPT', String(e));
      }
    }),
    { numRuns: 2000 },
  );
});

const adIdArb = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/);
const textArb = (max: number): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', maxLength: max });
const optional = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.option(a, { nil: undefined });

const clickEventArb: fc.Arbitrary<ClickEvent> = fc
  .record({
    adId: adIdArb,
    timestamp: fc.integer({ min: 0, max: 8_640_000_000_000 }),
    eventId: optional(fc.string({ unit: 'binary', minLength: 1, maxLength: 128 })),
    userId: optional(textArb(128)),
    ip: optional(fc.oneof(fc.ipV4(), fc.ipV6())),
    country: optional(fc.constantFrom('US', 'DE', 'JP', 'BR', 'ZA')),
    extra: optional(
      fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }).map((o) => JSON.stringify(o)),
    ),
  })
  .map((r) => ev(r.eventId === undefined ? { ...r, eventId: undefined } : r));

test('property: arbitrary valid events round-trip', () => {
  fc.assert(
    fc.property(fc.array(clickEventArb, { maxLength: 20 }), (events) => {
      const data = encodeEvents(events);
      assert.deepEqual(decodeAll(data), events);
      assert.equal(countRecords(data), events.length);
    }),
    { numRuns: 500 },
  );
});

test('property: a writer reused across batches encodes like a fresh one', () => {
  const w = new RecordWriter(64);
  fc.assert(
    fc.property(fc.array(clickEventArb, { maxLength: 10 }), (events) => {
      w.reset();
      for (const e of events) w.write(e);
      assert.deepEqual(w.finish(), encodeEvents(events));
    }),
    { numRuns: 200 },
  );
});

test('the writer refuses fields the format cannot hold', () => {
  const w = new RecordWriter();
  assert.throws(() => w.write(ev({ adId: 'a'.repeat(256) })), /ad_id/);
  assert.throws(() => w.write(ev({ userId: 'x'.repeat(70_000) })), /user_id/);
  assert.throws(() => w.write(ev({ country: 'USA' })), /country/);
});
