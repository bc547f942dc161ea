import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBatch } from '../../helpers/validate-batch.js';
import { parseBody } from '../../../src/core/event/parse-body.js';

const NOW = Date.UTC(2026, 0, 1, 12);
const OPTS = { now: NOW, maxFutureSkewMs: 300_000 };

test('valid records are accepted, invalid ones rejected with index, reason and raw payload', () => {
  const body = [
    '{"ad_id":"a","timestamp":"2026-01-01T11:00:00Z"}',
    '',
    '{"ad_id":"bad id","timestamp":0}',
    '{not json',
    '{"ad_id":"b","timestamp":1767268800000,"country":"fr"}',
    '[1]',
  ].join('\n');
  const { events, rejected } = validateBatch(parseBody(body), OPTS);
  assert.deepEqual(
    events.map((e) => [e.adId, e.country]),
    [
      ['a', undefined],
      ['b', 'FR'],
    ],
  );
  assert.deepEqual(
    rejected.map((r) => [r.index, r.rejection.code, r.rejection.field, r.payload]),
    [
      [1, 'TALLY_FIELD_FORMAT', 'ad_id', '{"ad_id":"bad id","timestamp":0}'],
      [2, 'TALLY_EVENT_MALFORMED_JSON', undefined, '{not json'],
      [4, 'TALLY_EVENT_NOT_OBJECT', undefined, '[1]'],
    ],
  );
});

test('a JSON array body: rejected payloads are the element text', () => {
  const { events, rejected } = validateBatch(
    parseBody('[{"ad_id":"a","timestamp":0},{"ad_id":"a"},42]', 'application/json'),
    OPTS,
  );
  assert.equal(events.length, 1);
  assert.deepEqual(
    rejected.map((r) => [r.index, r.rejection.code, r.payload]),
    [
      [1, 'TALLY_FIELD_MISSING', '{"ad_id":"a"}'],
      [2, 'TALLY_EVENT_NOT_OBJECT', '42'],
    ],
  );
});

test('an empty batch is empty', () => {
  assert.deepEqual(validateBatch(parseBody(''), OPTS), { events: [], rejected: [] });
});
