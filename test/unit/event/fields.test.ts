import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AD_ID_PATTERN,
  DIMENSION_FIELDS,
  FIELD,
  FIELDS,
  fieldNumber,
  isAdId,
  isAdIdChar,
} from '../../../src/core/event/fields.js';
import {
  KNOWN_FIELD_COUNT,
  K_NUMBER,
  K_ABSENT,
  ScannedObject,
  kindOf,
  scanObject,
} from '../../../src/core/event/scan.js';
import { DIMENSIONS, dimensionTag } from '../../../src/core/aggregate/dimensions.js';
import { validateEvent } from '../../../src/core/event/validate.js';
import { FILTER_ATTRIBUTES } from '../../../src/services/query/filters.js';
import { loadConfig } from '../../../src/config/index.js';

const utf8 = new TextEncoder();

test('the per-character ad_id check is the pattern, for every UTF-16 code unit', () => {
  const re = new RegExp(AD_ID_PATTERN);
  for (let c = 0; c <= 0xffff; c++) {
    const ch = String.fromCharCode(c);
    assert.equal(isAdIdChar(c), re.test(ch), `code ${c}`);
    assert.equal(isAdId(ch), re.test(ch));
  }
  assert.ok(isAdId('x'.repeat(64)));
  assert.ok(!isAdId('x'.repeat(65)));
  assert.ok(!isAdId(''));
});

test('the byte scanner recognises exactly the table’s field names, by table position', () => {
  const s = new ScannedObject();
  // after a long unknown key (the unrolled matcher) and at the very end (the bounds-checked one)
  for (const tail of [',"an_unknown_key_of_some_length":1}', '}']) {
    for (let f = 0; f < FIELDS.length; f++) {
      const name = FIELDS[f]!.name;
      const bytes = utf8.encode(`{"${name}":1${tail}`);
      assert.ok(scanObject(bytes, 0, bytes.length, s, false) > 0, name);
      assert.equal(kindOf(s, f), K_NUMBER, name);
      assert.equal(s.unknownCount, tail === '}' ? 0 : 1, name);
      for (const near of [name + 'x', name.slice(0, -1), name.toUpperCase()]) {
        const other = utf8.encode(`{"${near}":1${tail}`);
        assert.ok(scanObject(other, 0, other.length, s, false) > 0, near);
        for (let g = 0; g < FIELDS.length; g++) assert.equal(kindOf(s, g), K_ABSENT, near);
      }
    }
  }
  assert.equal(KNOWN_FIELD_COUNT, FIELDS.length);
  // ScannedObject.kinds packs 3 bits per field into one 32-bit word
  assert.ok(KNOWN_FIELD_COUNT <= 10);
  assert.equal(fieldNumber('country'), FIELDS.indexOf(FIELD.country));
});

test('dimensions: the table’s dimension fields, tagged 0…n−1 in a fixed order', () => {
  // tags are stored in snapshots: this order must not change
  assert.deepEqual(DIMENSIONS, ['country', 'user_id', 'ip']);
  DIMENSION_FIELDS.forEach((f, i) => {
    assert.equal(f.dimensionTag, i);
    assert.equal(dimensionTag(f.name), i);
  });
  assert.deepEqual(FILTER_ATTRIBUTES, DIMENSIONS);
  for (const d of DIMENSIONS) {
    const c = loadConfig({ env: { TALLY_DIMENSIONS: d } });
    assert.deepEqual(c.aggregation.dimensions, [d]);
  }
});

test('a normalised field is stored as its normalise gives it', () => {
  const opts = { now: 1e13, maxFutureSkewMs: 0 };
  for (const [field, raw] of [
    [FIELD.country, 'de'],
    [FIELD.ip, '2001:DB8:0::1'],
  ] as const) {
    const r = validateEvent({ ad_id: 'a', timestamp: 0, [field.name]: raw }, opts);
    assert.ok(r.ok);
    assert.equal(r.event[field.key], field.normalise(raw));
    assert.notEqual(field.normalise(raw), raw);
  }
});
