import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  BatchEncoder,
  encodeNdjsonBatch,
  rebaseNdjsonBatch,
  type EncodedBatch,
  type EncodedRejection,
} from '../../../src/core/event/encode-batch.js';
import { NdjsonChunker } from '../../../src/core/event/ndjson-chunker.js';
import { RecordWriter, decodeAll } from '../../../src/core/event/codec.js';
import { partitionFor } from '../../../src/core/event/hash.js';
import { parseBody, type ParsedRecord } from '../../../src/core/event/parse-body.js';
import { NdjsonRecordStream } from '../../helpers/ndjson-stream.js';
import { validateEvent } from '../../../src/core/event/validate.js';
import { isWellFormed } from '../../../src/core/event/utf8.js';
import { COUNTRY_CODES } from '../../../src/core/event/countries.js';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const SKEW = 5 * 60_000;
const PARTITIONS = 4;
const OPTS = { now: NOW, maxFutureSkewMs: SKEW, partitions: PARTITIONS };

const utf8 = new TextEncoder();

// ---------------------------------------------------------------------------------------
// The reference: what the ingest service did before the fast path — parsed records (the
// text path of parse-body.ts), validateEvent, partitionFor, RecordWriter.write.
// ---------------------------------------------------------------------------------------

interface Result {
  perPartition: Array<{ data: number[]; count: number }>;
  accepted: number;
  rejected: EncodedRejection[];
}

function reference(records: readonly ParsedRecord[]): Result {
  const writers = Array.from({ length: PARTITIONS }, () => new RecordWriter());
  const rejected: EncodedRejection[] = [];
  let accepted = 0;
  for (const rec of records) {
    if (!rec.ok) {
      const r = rec.rejection;
      rejected.push({
        index: rec.index,
        line: rec.line,
        code: r.code,
        field: r.field,
        message: r.message,
        payload: rec.raw,
      });
      continue;
    }
    const v = validateEvent(rec.value, { now: NOW, maxFutureSkewMs: SKEW });
    if (v.ok) {
      writers[partitionFor(v.event.adId, PARTITIONS)]!.write(v.event);
      accepted++;
      continue;
    }
    const r = v.rejection;
    rejected.push({
      index: rec.index,
      line: rec.line,
      code: r.code,
      field: r.field,
      message: r.message,
      payload: rec.raw ?? JSON.stringify(rec.value) ?? String(rec.value),
    });
  }
  return {
    perPartition: writers.map((w) => ({ data: [...w.bytes()], count: w.count })),
    accepted,
    rejected,
  };
}

/** The stream reference: NdjsonRecordStream over `chunks` (split anywhere, even inside UTF-8). */
function referenceStream(chunks: readonly Uint8Array[]): Result {
  const s = new NdjsonRecordStream();
  const records: ParsedRecord[] = [];
  for (const c of chunks) records.push(...s.push(c));
  records.push(...s.end());
  return reference(records);
}

function plain(b: EncodedBatch): Result {
  return {
    perPartition: b.perPartition.map((p) => ({ data: [...p.data], count: p.count })),
    accepted: b.accepted,
    rejected: b.rejected,
  };
}

/**
 * The new path over a stream: NdjsonChunker + BatchEncoder, chunk by chunk; numbered either
 * up front (firstIndex/firstLine) or afterwards (rebaseNdjsonBatch, as the encode pool does).
 */
function encodedStream(
  chunks: readonly Uint8Array[],
  encoder = new BatchEncoder(),
  rebase = false,
): Result {
  const chunker = new NdjsonChunker();
  const parts: EncodedBatch[] = [];
  let firstIndex = 0;
  let firstLine = 1;
  const run = (bytes: Uint8Array | undefined) => {
    if (bytes === undefined) return;
    const b = rebase
      ? rebaseNdjsonBatch(encoder.encodeNdjson(bytes, OPTS), firstIndex, firstLine)
      : encoder.encodeNdjson(bytes, { ...OPTS, firstIndex, firstLine });
    firstIndex += b.records;
    firstLine += b.lines;
    parts.push(b);
  };
  for (const c of chunks) run(chunker.push(c));
  run(chunker.end());
  return merge(parts);
}

function merge(parts: readonly EncodedBatch[]): Result {
  const perPartition = Array.from({ length: PARTITIONS }, () => ({
    data: [] as number[],
    count: 0,
  }));
  let accepted = 0;
  const rejected: EncodedRejection[] = [];
  for (const b of parts) {
    b.perPartition.forEach((p, i) => {
      perPartition[i]!.data.push(...p.data);
      perPartition[i]!.count += p.count;
    });
    accepted += b.accepted;
    rejected.push(...b.rejected);
  }
  return { perPartition, accepted, rejected };
}

function cut(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  out.push(bytes.subarray(prev));
  return out;
}

// ---------------------------------------------------------------------------------------
// Generators: JSON text written by hand, so that every spelling JSON allows (and many it
// does not) reaches the scanner.
// ---------------------------------------------------------------------------------------

const T = NOW - 30_000;
const ws = fc.constantFrom('', '', '', ' ', '  ', '\t', ' \r ', '\r');

/** JSON text of string `s`, either as JSON.stringify writes it or with some chars escaped. */
const stringText = (s: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(s, fc.integer({ min: 0, max: 9 })).map(([v, mode]) => {
    if (mode === 0 && v.length > 0) {
      // escape one character that needs no escaping
      const i = v.length >> 1;
      const c = v.charCodeAt(i);
      return (
        JSON.stringify(v.slice(0, i)).slice(0, -1) +
        `\\u${c.toString(16).padStart(4, '0')}` +
        JSON.stringify(v.slice(i + 1)).slice(1)
      );
    }
    if (mode === 1) return JSON.stringify(v).replace(/\//g, '\\/');
    return JSON.stringify(v);
  });

const loneSurrogate = fc.constantFrom('\ud800', '\udc00', 'a\udbff', '\udfffb');
const anyString = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  loneSurrogate,
);

/** numbers in every JSON spelling, and some non-JSON ones */
const numberText = fc.oneof(
  fc.integer({ min: T - 600_000, max: T + 900_000 }).map(String),
  fc.integer({ min: -1e6, max: 1e6 }).map(String),
  fc.constantFrom(
    '0',
    '-0',
    '0.0',
    '1e3',
    '1E+3',
    '1e-3',
    '-1',
    '1.5',
    String(T) + '.0',
    String(T) + '.5',
    `${T / 1000}e3`,
    `${T}e0`,
    '8640000000000000',
    '8640000000000001',
    '86400000000000000',
    '123456789012345',
    '1234567890123456',
    '9007199254740993',
    '1e400',
    '-1e400',
    '01',
    '1.',
    '.5',
    '+1',
    '1e',
    '--1',
    '0x10',
    'NaN',
    'Infinity',
  ),
  fc.double({ noNaN: true }).map((d) => JSON.stringify(d)),
);

const isoText = fc.oneof(
  fc.integer({ min: T - 600_000, max: T + 900_000 }).map((ms) => new Date(ms).toISOString()),
  fc.constantFrom(
    '2026-01-01T11:59:00Z',
    '2026-01-01T13:59:00+02:00',
    '2026-01-01 11:59:00.123456z',
    '2026-01-01T11:59:00',
    '2026-02-30T00:00:00Z',
    '2026-01-01T24:00:00Z',
    '1969-12-31T23:59:59Z',
    '2026-01-01T11:59Z',
    '2026-01-01T11:59:00,5+0100',
    ' 2026-01-01T11:59:00Z',
    '1767268740000',
    '+1767268740000',
    '2026-01-01T11:59:00Z ',
    '2026-01-01T11:59:00\u00e9',
  ),
);

const adIdText = fc.oneof(
  fc.constantFrom(
    'ad-1',
    'ad-2',
    'ad_3.x:y',
    'A',
    'ad-1 ',
    'ad!',
    '',
    'x'.repeat(64),
    'x'.repeat(65),
    'ad\u00e9',
    'ad-\ud83d\ude00',
  ),
  fc.stringMatching(/^[A-Za-z0-9_.:-]{1,70}$/),
);
const idText = fc.oneof(
  fc.constantFrom(
    'e-1',
    'u-1',
    '',
    'é',
    '😀'.repeat(64),
    '😀'.repeat(65),
    'x'.repeat(128),
    'x'.repeat(129),
    'ü'.repeat(128),
    'ü'.repeat(129),
  ),
  anyString,
);
const ipText = fc.constantFrom(
  '10.1.2.3',
  '0.0.0.0',
  '255.255.255.255',
  '256.1.1.1',
  '01.2.3.4',
  '1.2.3',
  '1.2.3.4.5',
  '::',
  '::1',
  '2001:DB8::1',
  '2001:db8:0:0:1:0:0:1',
  '2001:0db8:0000:0000:0000:0000:0000:0001',
  '::ffff:1.2.3.4',
  '::FFFF:192.0.2.1',
  '1::2::3',
  'fe80::1%eth0',
  '[::1]',
  ' 1.2.3.4',
  '1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7:8:9',
  '1:2:3:4:5:6:1.2.3.4',
  '::1.2.3.4',
  'not-an-ip',
  '',
  '１.2.3.4',
  '0:0:0:0:0:0:0:0',
);
const countryText = fc.oneof(
  fc.constantFrom(...COUNTRY_CODES),
  fc.constantFrom('us', 'De', 'XX', 'UK', 'EU', 'USA', 'U', '', 'ßß', 'ÜS', 'u\u0161'),
);

const literal = fc.constantFrom('null', 'true', 'false');
const nested = fc.constantFrom('{}', '[]', '{"a":1}', '[1,"x",null]', '{"a":{"b":[]}}', '[ ]');
const garbageValue = fc.constantFrom(
  'nul',
  'tru',
  'undefined',
  "'x'",
  '"unterminated',
  '"a\\"',
  '"\\x"',
  '"\\u12"',
  'NaN',
  '"a\tb"',
);

function valueFor(key: string): fc.Arbitrary<string> {
  const common = [literal, nested, numberText, stringText(anyString), garbageValue];
  let own: fc.Arbitrary<string>[];
  switch (key) {
    case 'ad_id':
      own = [stringText(adIdText)];
      break;
    case 'timestamp':
    case 'click_timestamp':
      own = [numberText, stringText(isoText)];
      break;
    case 'event_id':
    case 'user_id':
      own = [stringText(idText)];
      break;
    case 'ip':
      own = [stringText(ipText)];
      break;
    case 'country':
      own = [stringText(countryText)];
      break;
    default:
      own = [stringText(anyString), numberText, literal];
  }
  return fc.oneof(
    { weight: 12, arbitrary: fc.oneof(...own) },
    { weight: 2, arbitrary: fc.oneof(...common) },
  );
}

const knownKeys = ['ad_id', 'timestamp', 'click_timestamp', 'event_id', 'user_id', 'ip', 'country'];
const otherKeys = [
  'campaign',
  'ua',
  'x',
  '',
  '1',
  '01',
  '1a',
  'a b',
  '__proto__',
  'é',
  'constructor',
  'ad_id2',
  'Ad_id',
  '\u2028',
];

const keyArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...knownKeys) },
  { weight: 3, arbitrary: fc.constantFrom(...otherKeys) },
  { weight: 1, arbitrary: anyString },
);

const member = keyArb.chain((k) =>
  fc
    .tuple(stringText(fc.constant(k)), valueFor(k), ws, ws, ws)
    .map(([kt, v, a, b, c]) => `${a}${kt}${b}:${c}${v}`),
);

/** a mostly valid event, each field spelled in one of its forms */
const likelyValid = fc
  .record(
    {
      ad_id: stringText(adIdText),
      timestamp: fc.oneof(numberText, stringText(isoText)),
      event_id: stringText(idText),
      user_id: stringText(idText),
      ip: stringText(ipText),
      country: stringText(countryText),
      campaign: fc.oneof(stringText(anyString), numberText, literal),
      ua: stringText(anyString),
    },
    { requiredKeys: ['ad_id'] },
  )
  .chain((o) =>
    fc.tuple(fc.shuffledSubarray(Object.keys(o)), ws, fc.boolean()).map(([keys, w, ct]) => {
      const parts = keys.map(
        (k) => `"${k === 'timestamp' && ct ? 'click_timestamp' : k}":${w}${o[k as keyof typeof o]}`,
      );
      return `{${parts.join(',')}}`;
    }),
  );

/** a clean, valid event: the common case */
const cleanValid = fc
  .record({
    ad: fc.stringMatching(/^[a-z0-9-]{1,12}$/),
    ts: fc.integer({ min: T - 600_000, max: T + 200_000 }),
    ev: fc.option(fc.stringMatching(/^[a-z0-9-]{1,20}$/), { nil: undefined }),
    user: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
    ip: fc.option(fc.constantFrom('10.1.2.3', '2001:db8::1', '::ffff:1.2.3.4', '2001:DB8:0:0::1'), {
      nil: undefined,
    }),
    country: fc.option(fc.constantFrom('US', 'de', 'JP'), { nil: undefined }),
    iso: fc.boolean(),
    extra: fc.option(
      fc.dictionary(
        fc.stringMatching(/^[a-z]{1,5}$/),
        fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.constant(null)),
      ),
      { nil: undefined },
    ),
  })
  .map((e) =>
    JSON.stringify({
      ...(e.extra ?? {}),
      ad_id: e.ad,
      timestamp: e.iso ? new Date(e.ts).toISOString() : e.ts,
      ...(e.ev === undefined ? {} : { event_id: e.ev }),
      ...(e.user === undefined ? {} : { user_id: e.user }),
      ...(e.ip === undefined ? {} : { ip: e.ip }),
      ...(e.country === undefined ? {} : { country: e.country }),
    }),
  );

const objectLine = fc
  .tuple(fc.array(member, { maxLength: 9 }), ws, ws, fc.boolean())
  .map(([ms, a, b, comma]) => `${a}{${ms.join(',')}${comma && ms.length > 0 ? ',' : ''}}${b}`);

const garbageLine = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom(
    '',
    ' ',
    '\t',
    '\ufeff',
    '\ufeff{"ad_id":"a","timestamp":1}',
    '[]',
    '[{"ad_id":"a"}]',
    '"click"',
    '42',
    'null',
    '{',
    '}',
    '{"ad_id":"a",}',
    '{"ad_id" "a"}',
    '{"ad_id":"a"}}',
    '{"ad_id":"a"} x',
    '{"a":1}{"b":2}',
    '{"ad_id":"a","timestamp":1}\u00a0',
  ),
  likelyValid.map((l) => l.slice(0, Math.max(0, l.length - 3))),
);

const lineArb = fc.oneof(
  { weight: 5, arbitrary: cleanValid },
  { weight: 5, arbitrary: likelyValid },
  { weight: 4, arbitrary: objectLine },
  { weight: 1, arbitrary: garbageLine },
);

/** bytes of a stream: lines joined by LF or CRLF, maybe a BOM, maybe invalid UTF-8 bytes */
const streamArb = fc
  .tuple(
    fc.array(lineArb, { maxLength: 12 }),
    fc.constantFrom('\n', '\r\n'),
    fc.constantFrom('', '', '\ufeff', '\ufeff\ufeff', '\ufeff\ufeff\ufeff'),
    fc.boolean(),
    fc.array(
      fc.tuple(
        fc.nat(),
        fc.constantFrom(
          0x80,
          0xbf,
          0xc0,
          0xc3,
          0xe2,
          0xed,
          0xef,
          0xf0,
          0xf4,
          0xf5,
          0xff,
          0x00,
          0x0a,
          0x0d,
        ),
      ),
      { maxLength: 2 },
    ),
  )
  .map(([lines, nl, bom, trailing, corrupt]) => {
    const bytes = utf8.encode(bom + lines.join(nl) + (trailing ? nl : ''));
    // corrupt a byte or two: invalid UTF-8 inside strings, keys, anywhere
    for (const [at, b] of corrupt) if (bytes.length > 0) bytes[at % bytes.length] = b;
    return bytes;
  });

// ---------------------------------------------------------------------------------------

test('property: NDJSON streams encode exactly as parse + validateEvent + RecordWriter', () => {
  const encoder = new BatchEncoder();
  fc.assert(
    fc.property(
      streamArb,
      fc.array(fc.nat(), { maxLength: 4 }),
      fc.boolean(),
      (bytes, cuts, rebase) => {
        const chunks = cut(bytes, cuts);
        assert.deepEqual(encodedStream(chunks, encoder, rebase), referenceStream(chunks));
      },
    ),
    { numRuns: 3000 },
  );
  // the fast path did the work: the property is not checking the fallback against itself
  assert.ok(encoder.stats.fast > 2000, `fast path taken ${encoder.stats.fast} times`);
  assert.ok(
    encoder.stats.checked > 1000,
    `full rules on scanned records ${encoder.stats.checked} times`,
  );
  assert.ok(encoder.stats.slow > 1000, `slow path taken ${encoder.stats.slow} times`);
});

test('property: one line at a time, the fast path decides as validateEvent does', () => {
  const encoder = new BatchEncoder();
  fc.assert(
    fc.property(lineArb, (line) => {
      const bytes = utf8.encode(line.replace(/\n/g, ' '));
      assert.deepEqual(encodedStream([bytes], encoder), referenceStream([bytes]));
    }),
    { numRuns: 20000 },
  );
});

test('property: bodies (string or bytes, any content type) encode as parseBody + validateEvent', () => {
  const body = fc.oneof(
    streamArb.map((b) => new TextDecoder('utf-8', { ignoreBOM: true }).decode(b)),
    fc.array(lineArb, { maxLength: 5 }).map((ls) => `[${ls.join(',\n')}]`),
    fc.array(lineArb, { maxLength: 5 }).map((ls) => ` \ufeff[${ls.join(',')}] `),
    lineArb,
    likelyValid.map((l) => l.replace(/,/g, ',\n  ')),
    fc.tuple(lineArb, loneSurrogate).map(([l, s]) => l.replace('"', `"${s}`)),
  );
  const contentType = fc.constantFrom(
    undefined,
    'application/x-ndjson',
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'application/vnd.x+json',
  );
  const encoder = new BatchEncoder();
  fc.assert(
    fc.property(body, contentType, fc.boolean(), (text, ct, asBytes) => {
      const expected = reference(parseBody(text, ct));
      const input = asBytes && isWellFormed(text) ? utf8.encode(text) : text;
      assert.deepEqual(plain(encoder.encodeBody(input, ct, OPTS)), expected);
    }),
    { numRuns: 5000 },
  );
});

test('property: JSON array bodies of objects take the fast path and match parseBody', () => {
  const element = fc.oneof(cleanValid, likelyValid, objectLine);
  const body = fc
    .tuple(
      fc.array(fc.tuple(element, ws, ws), { maxLength: 8 }),
      ws,
      fc.constantFrom('', '\n', ' \r\n'),
    )
    .map(([els, a, nl]) => `${a}[${els.map(([e, b, c]) => `${b}${e}${c}`).join(`,${nl}`)}]${a}`);
  const encoder = new BatchEncoder();
  fc.assert(
    fc.property(body, fc.constantFrom('application/json', 'application/vnd.x+json'), (text, ct) => {
      assert.deepEqual(plain(encoder.encodeBody(text, ct, OPTS)), reference(parseBody(text, ct)));
    }),
    { numRuns: 2000 },
  );
  assert.ok(encoder.stats.fast > 500, `fast path taken ${encoder.stats.fast} times`);
  assert.ok(
    encoder.stats.checked > 200,
    `full rules on scanned records ${encoder.stats.checked} times`,
  );
});

// ---------------------------------------------------------------------------------------
// Examples
// ---------------------------------------------------------------------------------------

test('the generator shape takes the fast path and decodes to the validated event', () => {
  const line = `{"ad_id":"ad-1","timestamp":${T},"event_id":"e-1","user_id":"u-1","ip":"2001:DB8::1","country":"us","campaign":"c-7","ua":"Mozilla/5.0"}\n`;
  const encoder = new BatchEncoder();
  const b = encoder.encodeNdjson(utf8.encode(line), OPTS);
  assert.equal(encoder.stats.fast, 1);
  assert.equal(b.accepted, 1);
  const p = partitionFor('ad-1', PARTITIONS);
  assert.deepEqual(decodeAll(b.perPartition[p]!.data), [
    {
      adId: 'ad-1',
      timestamp: T,
      eventId: 'e-1',
      eventIdGiven: true,
      userId: 'u-1',
      ip: '2001:db8::1',
      country: 'US',
      extra: '{"campaign":"c-7","ua":"Mozilla/5.0"}',
    },
  ]);
});

test('rejections carry index, code, field, message and the line as payload', () => {
  const text =
    '{"ad_id":"ad-1","timestamp":1}\n\n{"ad_id":"a b","timestamp":1}\n{bad\n{"ad_id":"ad-1","timestamp":"2026-01-01T12:30:00Z"}\n';
  const b = encodeNdjsonBatch(utf8.encode(text), { ...OPTS, firstIndex: 10, firstLine: 5 });
  const again = rebaseNdjsonBatch(encodeNdjsonBatch(utf8.encode(text), OPTS), 10, 5);
  assert.deepEqual(again, b);
  assert.equal(b.accepted, 1);
  assert.equal(b.records, 4);
  assert.equal(b.lines, 5);
  assert.deepEqual(
    b.rejected.map((r) => [r.index, r.code, r.field, r.payload]),
    [
      [11, 'TALLY_FIELD_FORMAT', 'ad_id', '{"ad_id":"a b","timestamp":1}'],
      [12, 'TALLY_EVENT_MALFORMED_JSON', undefined, '{bad'],
      [
        13,
        'TALLY_EVENT_IN_FUTURE',
        'timestamp',
        '{"ad_id":"ad-1","timestamp":"2026-01-01T12:30:00Z"}',
      ],
    ],
  );
  assert.match(b.rejected[1]!.message, /^record 12 \(line 8\): not valid JSON/);
});

test('NdjsonChunker: whole lines per chunk, BOMs at the start, a last line without LF', () => {
  const c = new NdjsonChunker();
  const dec = (u: Uint8Array | undefined) =>
    u === undefined ? undefined : new TextDecoder('utf-8', { ignoreBOM: true }).decode(u);
  assert.equal(dec(c.push(utf8.encode('\ufeff').subarray(0, 2))), undefined);
  assert.equal(dec(c.push(utf8.encode('\ufeff').subarray(2))), undefined);
  assert.equal(dec(c.push(utf8.encode('\ufeffa\nb'))), 'a\n');
  assert.equal(dec(c.push(utf8.encode('c\nd\n'))), 'bc\nd\n');
  assert.equal(dec(c.push(utf8.encode('e'))), undefined);
  assert.equal(dec(c.end()), 'e');
  assert.equal(c.end(), undefined);
});
