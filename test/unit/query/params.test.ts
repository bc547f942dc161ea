import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dimKeysFor, parseFilter } from '../../../src/services/query/filters.js';
import { parseIntParam, parseRange, parseTime } from '../../../src/services/query/params.js';
import { isTallyError } from '../../../src/core/errors.js';

function paramOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    assert.ok(isTallyError(e));
    assert.equal(e.code, 'TALLY_BAD_PARAMETER');
    return e.field;
  }
  assert.fail('expected TALLY_BAD_PARAMETER');
}

describe('query parameters', () => {
  it('parses ISO-8601 with a zone and epoch ms', () => {
    assert.equal(parseTime('to', '2026-11-25T10:00:00Z'), Date.UTC(2026, 10, 25, 10));
    assert.equal(parseTime('to', '2026-11-25T11:00:00+01:00'), Date.UTC(2026, 10, 25, 10));
    assert.equal(parseTime('to', '1764064800000'), 1764064800000);
    assert.equal(parseTime('to', undefined), undefined);
  });

  it('rejects times without a zone or that are not dates, naming the parameter', () => {
    assert.equal(
      paramOf(() => parseTime('from', '2026-11-25T10:00:00')),
      'from',
    );
    assert.equal(
      paramOf(() => parseTime('to', 'yesterday')),
      'to',
    );
    assert.equal(
      paramOf(() => parseTime('to', '2026-13-45T10:00:00Z')),
      'to',
    );
  });

  it('defaults the range to the last minute and refuses from > to', () => {
    assert.deepEqual(parseRange(undefined, undefined, 600_000, 100), {
      from: 540_000,
      to: 600_000,
    });
    assert.equal(
      paramOf(() => parseRange('600000', '0', 0, 100)),
      'from',
    );
  });

  it('bounds integers', () => {
    assert.equal(parseIntParam('count', undefined, 100, 1, 1000), 100);
    assert.equal(parseIntParam('count', '7', 100, 1, 1000), 7);
    for (const bad of ['0', '-1', '1.5', 'x', '1001']) {
      assert.equal(
        paramOf(() => parseIntParam('count', bad, 100, 1, 1000)),
        'count',
      );
    }
  });

  it('parses inline and named filters', () => {
    const named = { '001': 'country=US' };
    assert.deepEqual([...parseFilter('001', named)!.terms], [['country', ['US']]]);
    assert.deepEqual([...parseFilter('country=us,CA', named)!.terms], [['country', ['US', 'CA']]]);
    const two = parseFilter('country=US;user_id=u1', named)!;
    assert.equal(two.terms.size, 2);
    assert.equal(parseFilter('', named), undefined);
    for (const bad of ['nope', 'shoe=1', 'country=', 'country=USA', 'country=US;country=CA']) {
      assert.equal(
        paramOf(() => parseFilter(bad, named)),
        'filter',
      );
    }
  });

  it('checks and normalises filter values by the field rules the stored events went through', () => {
    const terms = (f: string) => [...parseFilter(f, {})!.terms];
    assert.deepEqual(terms('ip=2001:DB8:0::1'), [['ip', ['2001:db8::1']]]);
    assert.deepEqual(terms('user_id=u1'), [['user_id', ['u1']]]);
    for (const bad of ['country=XX', 'ip=10.0.0.01', 'ip=nope', `user_id=${'u'.repeat(129)}`]) {
      assert.equal(
        paramOf(() => parseFilter(bad, {})),
        'filter',
      );
    }
  });

  it('maps single pre-aggregated attributes to dimension keys, the rest to raw scans', () => {
    const f = parseFilter('country=US,CA', {})!;
    assert.deepEqual(dimKeysFor(f, ['country']), ['country=US', 'country=CA']);
    assert.equal(dimKeysFor(parseFilter('user_id=u1', {})!, ['country']), undefined);
    assert.equal(
      dimKeysFor(parseFilter('country=US;ip=1.2.3.4', {})!, ['country', 'ip']),
      undefined,
    );
  });
});
