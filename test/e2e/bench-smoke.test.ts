import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tally } from '../helpers/cli.js';

/**
 * `tally bench --quick --json` prints ONE parsable JSON array of {name, metric, value, unit}:
 * every value a finite number or explicitly skipped. Shape only: no figure is asserted, a
 * benchmark is never a timed test. At the smoke size (TALLY_BENCH_SMOKE=1: every entry's
 * workload a fraction of --quick's, the same steps): the proof is that each entry runs through
 * and prints well-formed figures, which the quick size's minutes of load add nothing to.
 */
test('tally bench --quick --json prints one JSON array of finite or skipped figures', () => {
  const r = tally(['bench', '--quick', '--json'], { env: { TALLY_BENCH_SMOKE: '1' } });
  assert.equal(r.status, 0, r.stderr.slice(-4000));
  assert.equal(
    r.stdout.trim().split('\n').length,
    1,
    'stdout holds the JSON array and nothing else',
  );
  const rows = JSON.parse(r.stdout) as unknown;
  assert.ok(Array.isArray(rows) && rows.length > 0);
  for (const row of rows as Array<Record<string, unknown>>) {
    assert.equal(typeof row.name, 'string', JSON.stringify(row));
    assert.equal(typeof row.metric, 'string', JSON.stringify(row));
    assert.equal(typeof row.unit, 'string', JSON.stringify(row));
    const ok =
      (typeof row.value === 'number' && Number.isFinite(row.value)) ||
      (row.value === null && typeof row.note === 'string' && row.note.startsWith('skipped'));
    assert.ok(ok, `a finite value or an explicit skip: ${JSON.stringify(row)}`);
  }
  const names = new Set((rows as Array<{ name: string }>).map((x) => x.name));
  for (const n of [
    'core.aggregate',
    'ingest',
    'aggregate',
    'e2e',
    'baseline.duckdb',
    'baseline.naive',
    'http-ingest',
    'query',
    'kafka',
    'memory',
    'recovery',
    'freshness',
    'soak',
    'watch',
    'machine',
  ]) {
    assert.ok(names.has(n), `a row for ${n}`);
  }
  const suite = (rows as Array<{ name: string; note?: string }>).find((x) => x.name === 'suite');
  assert.match(suite?.note ?? '', /^smoke/, 'the run was the smoke size');
});
