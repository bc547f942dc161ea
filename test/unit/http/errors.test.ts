import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyRequest } from 'fastify';
import { ERROR_CODES, TallyError, type ErrorCode } from '../../../src/core/errors.js';
import { HTTP_STATUS, toHttpError } from '../../../src/services/http/errors.js';

const req = { id: 'req-9', url: '/x', headers: {}, routeOptions: {} } as unknown as FastifyRequest;

test('every error code has one HTTP status; retryable codes are 429, 503 or 507', () => {
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const status = HTTP_STATUS[code];
    assert.ok(status >= 400 && status <= 599, `${code} → ${status}`);
    if (ERROR_CODES[code].retryable) assert.ok([429, 503, 507].includes(status), code);
  }
  assert.deepEqual(Object.keys(HTTP_STATUS).sort(), Object.keys(ERROR_CODES).sort());
});

test('retryable errors carry Retry-After, from the error when it says', () => {
  const e = toHttpError(
    new TallyError('TALLY_BACKPRESSURE', 'busy', { details: { retryAfterSeconds: 2.2 } }),
    req,
  );
  assert.equal(e.status, 429);
  assert.equal(e.headers['retry-after'], '3');
  assert.equal(e.body.retry_after_seconds, 3);
  assert.equal(e.internal, false, 'load shedding is not a server failure');
  const behind = toHttpError(new TallyError('TALLY_AGGREGATOR_BEHIND', 'behind'), req);
  assert.equal(behind.status, 503);
  assert.equal(behind.headers['retry-after'], '5');
  const store = toHttpError(new TallyError('TALLY_STORE_FAILURE', 'disk'), req);
  assert.equal(store.status, 503);
  assert.equal(store.internal, true, 'a store failure is logged');
});

test('parameter errors name the parameter twice: parameter and field', () => {
  const e = toHttpError(
    new TallyError('TALLY_BAD_PARAMETER', 'count: nope', { field: 'count' }),
    req,
  );
  assert.equal(e.status, 400);
  assert.deepEqual(e.body, {
    error: 'count: nope',
    code: 'TALLY_BAD_PARAMETER',
    field: 'count',
    parameter: 'count',
  });
  const f = toHttpError(
    new TallyError('TALLY_FIELD_FORMAT', 'ad_id: bad', { field: 'ad_id' }),
    req,
  );
  assert.equal(f.body.parameter, undefined);
  assert.equal(f.body.field, 'ad_id');
});

test('unknown errors are a bare 500: no message, no stack', () => {
  for (const thrown of [
    new Error('disk /secret/x failed'),
    'a string',
    undefined,
    { weird: true },
  ]) {
    const e = toHttpError(thrown, req);
    assert.equal(e.status, 500);
    assert.equal(e.body.code, 'TALLY_INTERNAL');
    assert.equal(e.internal, true);
    assert.ok(!JSON.stringify(e.body).includes('secret'));
    assert.equal(e.body.request_id, 'req-9');
  }
});
