/**
 * Bytes that are not UTF-8 are refused, record by record, on every path a body or a file
 * takes (the scanner's fast path hands them on; NDJSON lines, JSON arrays read by the scanner
 * or parsed as text, one JSON object, NDJSON sent as application/json, a stream cut into
 * chunks): TALLY_EVENT_INVALID_UTF8 naming the byte, its offset and the field. Never read as
 * U+FFFD and accepted. And the cap on records per body.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  BatchEncoder,
  rebaseNdjsonBatch,
  type EncodedBatch,
} from '../../../src/core/event/encode-batch.js';
import { NdjsonChunker } from '../../../src/core/event/ndjson-chunker.js';
import {
  decodeUtf8Marked,
  decodeUtf8Strict,
  invalidByteAt,
  utf8Offset,
} from '../../../src/core/event/utf8.js';

const NOW = Date.UTC(2026, 10, 25, 10);
const OPTS = { now: NOW, maxFutureSkewMs: 300_000, partitions: 4 };
const enc = new TextEncoder();
type Part = string | readonly number[] | Uint8Array;
const bytes = (...parts: Part[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? enc.encode(p) : Uint8Array.from(p))));
const click = (...fields: Part[]) =>
  bytes(`{"ad_id":"ad-1","timestamp":${NOW - 60_000},`, ...fields, '}');

function only(b: EncodedBatch) {
  assert.equal(b.rejected.length, 1, JSON.stringify(b.rejected));
  return b.rejected[0]!;
}

test('NDJSON: the record holding the byte is refused, naming byte, offset and field', () => {
  const e = new BatchEncoder();
  const b = e.encodeBody(
    bytes(click('"user_id":"u', [0xff], '1"'), '\n', click('"user_id":"fine"'), '\n'),
    'application/x-ndjson',
    OPTS,
  );
  assert.equal(b.accepted, 1);
  const r = only(b);
  assert.equal(r.code, 'TALLY_EVENT_INVALID_UTF8');
  assert.equal(r.field, 'user_id');
  assert.equal(r.index, 0);
  assert.equal(r.line, 1);
  assert.match(
    r.message,
    /^record 0 \(line 1\): not valid UTF-8: byte 0xFF at byte 54 .*"user_id"/,
  );
  // the payload kept as evidence reads U+FFFD where the byte was
  assert.ok(r.payload.includes('"u\ufffd1"'), r.payload);
});

test('every kind of invalid sequence, in every field, known or not', () => {
  const e = new BatchEncoder();
  const bad = [
    [0x80], // a lone continuation byte
    [0xc0, 0xaf], // an overlong
    [0xc3], // a truncated sequence
    [0xed, 0xa0, 0x80], // a surrogate
    [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
    [0xf5],
    [0xff],
  ];
  for (const seq of bad) {
    for (const field of ['event_id', 'user_id', 'country', 'ip', 'note', 'ad_id']) {
      const rec =
        field === 'ad_id'
          ? bytes(`{"ad_id":"a`, seq, `","timestamp":${NOW}}`)
          : click(`"${field}":"a`, seq, 'bcdefghij"');
      for (const ct of ['application/x-ndjson', 'application/json', 'text/plain']) {
        const r = only(e.encodeBody(rec, ct, OPTS));
        assert.equal(r.code, 'TALLY_EVENT_INVALID_UTF8', `${field} ${seq} ${ct}: ${r.message}`);
        assert.equal(r.field, field);
      }
    }
  }
});

test('a key, a nested value and the space between tokens', () => {
  const e = new BatchEncoder();
  const key = only(e.encodeBody(click('"n', [0xe2, 0x82], '":1'), 'application/x-ndjson', OPTS));
  assert.equal(key.field, undefined);
  assert.match(key.message, /byte 0xE2 .*in a key/);
  const nested = only(e.encodeBody(click('"x":{"y":["', [0xbf], '"]}'), 'application/json', OPTS));
  assert.equal(nested.field, 'x');
  const between = only(
    e.encodeBody(bytes(`{"ad_id":"ad-1",`, [0xa0], `"timestamp":${NOW}}`), 'text/plain', OPTS),
  );
  assert.equal(between.code, 'TALLY_EVENT_INVALID_UTF8');
  assert.equal(between.field, undefined);
});

test('JSON arrays: only the element holding the byte is refused, scanned or parsed', () => {
  const e = new BatchEncoder();
  for (const other of ['"x":1', '"x":[1,{"y":"\\u00e9"}]']) {
    const b = e.encodeBody(
      bytes(
        '[',
        click(other),
        ',\n ',
        click('"event_id":"abcdefgh', [0xc3, 0x28], '"'),
        ',',
        click(other),
        ']',
      ),
      'application/json',
      OPTS,
    );
    assert.equal(b.accepted, 2);
    const r = only(b);
    assert.equal(r.index, 1);
    assert.equal(r.line, 2);
    assert.equal(r.field, 'event_id');
  }
});

test('valid UTF-8 of every length is accepted as before, on both paths', () => {
  const e = new BatchEncoder();
  const cases: Array<[Buffer, string[]]> = [
    [click('"user_id":"é☕😀"'), ['application/x-ndjson', 'application/json']],
    [click('"user_id":"é☕😀","x":[1]'), ['application/x-ndjson', 'application/json']],
    [bytes('[', click('"user_id":"é☕😀"'), ',', click('"x":["😀"]'), ']'), ['application/json']],
  ];
  for (const [body, types] of cases) {
    for (const ct of types) {
      const b = e.encodeBody(body, ct, OPTS);
      assert.equal(b.rejected.length, 0, JSON.stringify(b.rejected));
    }
  }
});

test('streamed in chunks cut anywhere, renumbered: the same rejection, index and line', () => {
  const e = new BatchEncoder();
  const body = bytes(
    click('"a":1'),
    '\r\n\n',
    click('"user_id":"', [0xf0, 0x9f, 0x98], '"'),
    '\n',
    click('"a":2'),
  );
  for (let cut = 1; cut < body.length; cut += 7) {
    const chunker = new NdjsonChunker();
    const parts: EncodedBatch[] = [];
    let firstIndex = 0;
    let firstLine = 1;
    for (const piece of [
      chunker.push(body.subarray(0, cut)),
      chunker.push(body.subarray(cut)),
      chunker.end(),
    ]) {
      if (piece === undefined) continue;
      const b = rebaseNdjsonBatch(e.encodeNdjson(piece, OPTS), firstIndex, firstLine);
      firstIndex += b.records;
      firstLine += b.lines;
      parts.push(b);
    }
    const rejected = parts.flatMap((p) => p.rejected);
    assert.equal(
      parts.reduce((n, p) => n + p.accepted, 0),
      2,
    );
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0]!.index, 1);
    assert.equal(rejected[0]!.line, 3);
    assert.match(rejected[0]!.message, /^record 1 \(line 3\): not valid UTF-8: byte 0xF0/);
  }
});

test('property: a record with invalid bytes in a string is refused whatever the content type', () => {
  const e = new BatchEncoder();
  const invalid = fc.oneof(
    fc.integer({ min: 0x80, max: 0xbf }).map((b) => [b]),
    fc.integer({ min: 0xf5, max: 0xff }).map((b) => [b]),
    fc.integer({ min: 0xc2, max: 0xf4 }).map((b) => [b]), // truncated before the closing quote
    fc.constant([0xe0, 0x80, 0x80]),
    fc.constant([0xed, 0xbf, 0xbf]),
  );
  const text = fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s).slice(1, -1));
  fc.assert(
    fc.property(
      fc.constantFrom('event_id', 'user_id', 'ip', 'country', 'extra'),
      text,
      invalid,
      text,
      fc.constantFrom('application/x-ndjson', 'application/json', 'text/plain'),
      fc.boolean(),
      (field, before, seq, after, ct, asArray) => {
        const rec = click(`"${field}":"${before}`, seq, `${after}"`);
        const body = asArray && ct === 'application/json' ? bytes('[', rec, ']') : rec;
        const b = e.encodeBody(body, ct, OPTS);
        assert.equal(b.accepted, 0);
        assert.equal(only(b).code, 'TALLY_EVENT_INVALID_UTF8');
        assert.equal(only(b).field, field);
      },
    ),
    { numRuns: 5_000 },
  );
});

test('property: marked decoding agrees with the strict decoder', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
      const marked = decodeUtf8Marked(b, 0, b.length);
      const strict = decodeUtf8Strict(b, 0, b.length);
      if (strict === undefined) assert.ok(invalidByteAt(marked) >= 0);
      else {
        assert.equal(marked, strict);
        assert.equal(invalidByteAt(marked), -1);
        assert.equal(utf8Offset(marked, marked.length), b.length);
      }
    }),
    { numRuns: 20_000 },
  );
});

test('records per body: over EncodeOptions.maxRecords the batch is over the limit, early', () => {
  const e = new BatchEncoder();
  const max = { ...OPTS, maxRecords: 3 };
  const lines = (n: number) => Array.from({ length: n }, () => click('"a":1')).join('\n');
  assert.equal(e.encodeBody(lines(3), 'application/x-ndjson', max).overLimit, false);
  assert.equal(e.encodeBody(`${lines(3)}\n\n\n`, 'application/x-ndjson', max).overLimit, false);
  const over = e.encodeBody(lines(1000), 'application/x-ndjson', max);
  assert.equal(over.overLimit, true);
  assert.ok(over.records <= 4, `stopped after ${over.records} records`);
  assert.equal(
    e.encodeBody(`[${lines(3).replace(/\n/g, ',')}]`, 'application/json', max).overLimit,
    false,
  );
  assert.equal(
    e.encodeBody(`[${lines(4).replace(/\n/g, ',')}]`, 'application/json', max).overLimit,
    true,
  );
  // arrays the scanner does not read are counted before they are parsed
  const nested = Array.from({ length: 5 }, () => '{"a":[1,",",{"b":"]"}]}').join(',');
  const slow = e.encodeBody(`[${nested}]`, 'application/json', max);
  assert.equal(slow.overLimit, true);
  assert.equal(slow.rejected.length, 0);
  assert.equal(
    e.encodeBody(`[${nested.split('},{').slice(0, 3).join('},{')}}]`, 'application/json', max)
      .overLimit,
    false,
  );
  // without a cap, nothing changes
  assert.equal(e.encodeBody(lines(1000), 'application/x-ndjson', OPTS).overLimit, false);
});
