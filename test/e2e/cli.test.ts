import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MINUTE_MS as MIN } from '../../src/core/window/minute.js';
import { tally, tempDir } from '../helpers/cli.js';

/** The `tally` command as a user runs it: JSON on stdout, errors on stderr, exit codes. */
describe('tally CLI (embedded)', () => {
  const t = tempDir('cli');
  const dd = ['--data-dir', join(t.dir, 'data')];
  const base = Math.floor((Date.now() - 30 * MIN) / MIN) * MIN; // a whole minute, in the past
  const file = join(t.dir, 'clicks.ndjson');
  const events = [
    { ad_id: 'ad-a', timestamp: base + 1_000, event_id: 'a1', country: 'us' },
    {
      ad_id: 'ad-a',
      timestamp: new Date(base + 2_000).toISOString(),
      event_id: 'a2',
      country: 'CA',
    },
    { ad_id: 'ad-a', click_timestamp: base + 3_000, event_id: 'a3', country: 'US', ip: '10.0.0.1' },
    { ad_id: 'ad-a', timestamp: base + 1_000, event_id: 'a1', country: 'US' }, // duplicate of a1
    { ad_id: 'ad-b', timestamp: base + MIN + 5, user_id: 'u1', extra_field: { x: 1 } }, // canonical id
    { ad_id: 'ad-b', timestamp: base + MIN + 5, user_id: 'u1', extra_field: { x: 1 } }, // its duplicate
    { ad_id: 'ad-b', timestamp: base + MIN + 6, event_id: 'b2', country: 'US' },
  ];
  const invalid = [
    '{"ad_id": "bad id!", "timestamp": 1}',
    '{"timestamp": 1}',
    'not json at all',
    `{"ad_id": "ad-c", "timestamp": ${Date.now() + 3_600_000}}`,
    '{"ad_id": "ad-c", "timestamp": "2026-01-01T00:00:00", "country": "US"}',
  ];

  before(() => {
    writeFileSync(file, [...events.map((e) => JSON.stringify(e)), ...invalid, ''].join('\n'));
  });
  after(() => t.cleanup());

  it('generate is deterministic NDJSON', () => {
    const a = tally([
      'generate',
      '--count',
      '50',
      '--seed',
      '9',
      '--start',
      '2026-11-25T00:00:00Z',
    ]);
    const b = tally([
      'generate',
      '--count',
      '50',
      '--seed',
      '9',
      '--start',
      '2026-11-25T00:00:00Z',
    ]);
    assert.equal(a.status, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.equal(a.stdout.trim().split('\n').length, 50);
  });

  it('ingest reports accepted and rejected; a re-sent file is not counted twice', () => {
    const r = tally([...dd, 'ingest', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { accepted: events.length, rejected: invalid.length });
    const again = tally([...dd, 'ingest', file]);
    assert.deepEqual(JSON.parse(again.stdout), {
      accepted: events.length,
      rejected: invalid.length,
    });
    const stdin = tally([...dd, 'ingest', '-'], { input: JSON.stringify(events[0]) + '\n' });
    assert.deepEqual(JSON.parse(stdin.stdout), { accepted: 1, rejected: 0 });
  });

  it('aggregate --drain counts each event once', () => {
    const r = tally([...dd, 'aggregate', '--drain']);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { drained: boolean; events: number; duplicates: number };
    assert.equal(out.drained, true);
    assert.equal(out.events, 5);
    assert.equal(out.duplicates, events.length * 2 + 1 - 5);
  });

  it('query count and top print the API JSON', () => {
    const count = tally([
      ...dd,
      'query',
      'count',
      'ad-a',
      '--from',
      String(base),
      '--to',
      String(base + 2 * MIN),
    ]);
    assert.equal(count.status, 0, count.stderr);
    assert.deepEqual(JSON.parse(count.stdout), {
      ad_id: 'ad-a',
      count: 3,
      from: new Date(base).toISOString(),
      to: new Date(base + 2 * MIN).toISOString(),
    });
    const us = tally([
      ...dd,
      'query',
      'count',
      'ad-a',
      '--from',
      String(base),
      '--to',
      String(base + MIN),
      '--filter',
      'country=US',
    ]);
    assert.equal(JSON.parse(us.stdout).count, 2);
    const named = tally([
      ...dd,
      'query',
      'count',
      'ad-b',
      '--from',
      String(base),
      '--to',
      String(base + 2 * MIN),
      '--filter',
      '001',
    ]);
    assert.equal(JSON.parse(named.stdout).count, 1);
    const raw = tally([
      ...dd,
      'query',
      'count',
      'ad-a',
      '--from',
      String(base),
      '--to',
      String(base + MIN),
      '--filter',
      'ip=10.0.0.1',
    ]);
    assert.equal(raw.status, 0, raw.stderr);
    assert.equal(JSON.parse(raw.stdout).count, 1);
    const top = tally([...dd, 'query', 'top', '--window', '5', '--to', String(base + 5 * MIN)]);
    assert.equal(top.status, 0, top.stderr);
    const body = JSON.parse(top.stdout) as {
      window: number;
      ad_ids: string[];
      ads: Array<{ ad_id: string; count: number }>;
    };
    assert.equal(body.window, 5);
    assert.deepEqual(body.ad_ids, ['ad-a', 'ad-b']);
    assert.deepEqual(body.ads, [
      { ad_id: 'ad-a', count: 3 },
      { ad_id: 'ad-b', count: 2 },
    ]);
  });

  it('deadletters lists every rejected record with its reason and payload', () => {
    const r = tally([...dd, 'deadletters']);
    assert.equal(r.status, 0, r.stderr);
    const letters = r.stdout
      .trim()
      .split('\n')
      .map(
        (l) => JSON.parse(l) as { payload: string; error: string; code: string; field?: string },
      );
    assert.equal(letters.length, invalid.length * 2);
    assert.deepEqual(
      letters.slice(0, invalid.length).map((l) => l.payload),
      invalid,
    );
    assert.equal(letters[0]!.field, 'ad_id');
    assert.equal(letters[1]!.field, 'ad_id');
    assert.equal(letters[4]!.field, 'timestamp');
    assert.equal(letters[2]!.code, 'TALLY_EVENT_MALFORMED_JSON');
    assert.equal(letters[3]!.code, 'TALLY_EVENT_IN_FUTURE');
  });

  it('late lists events beyond the allowed lateness', () => {
    const late = JSON.stringify({ ad_id: 'ad-late', timestamp: base - 20 * MIN, event_id: 'l1' });
    assert.equal(tally([...dd, 'ingest', '-'], { input: late }).status, 0);
    assert.equal(tally([...dd, 'aggregate', '--drain']).status, 0);
    const r = tally([...dd, 'late']);
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ad_id: string; event_id: string });
    assert.deepEqual(
      rows.map((x) => [x.ad_id, x.event_id]),
      [['ad-late', 'l1']],
    );
  });

  it('fails clearly: errors on stderr, non-zero exit, nothing on stdout', () => {
    const cases: Array<[string[], RegExp]> = [
      [[...dd, 'query', 'count', 'bad id!'], /ad_id/],
      [[...dd, 'query', 'count', 'ad-a', '--from', 'yesterday'], /from/],
      [[...dd, 'query', 'top', '--count', '0'], /count/],
      [[...dd, 'query', 'top', '--filter', 'shoe=1'], /filter/],
      [[...dd, 'ingest', join(t.dir, 'missing.ndjson')], /missing\.ndjson/],
      [['--config', join(t.dir, 'missing.json'), 'query', 'top'], /config/],
      [['generate', '--count', 'many'], /count/],
      [['no-such-command'], /unknown command/],
    ];
    for (const [args, re] of cases) {
      const r = tally(args);
      assert.notEqual(r.status, 0, `tally ${args.join(' ')} should fail`);
      assert.match(r.stderr, re);
      assert.equal(r.stdout, '', `tally ${args.join(' ')} printed to stdout`);
    }
  });
});

describe('tally ingest: bytes that are not UTF-8', () => {
  const t = tempDir('cli-utf8');
  after(() => t.cleanup());

  it('refuses the line holding them, naming line, byte and field; the rest is accepted', () => {
    const dd = ['--data-dir', join(t.dir, 'data')];
    const file = join(t.dir, 'latin1.ndjson');
    const at = Date.now() - 10 * MIN;
    const line = (user: string) => `{"ad_id":"ad-u","timestamp":${at},"user_id":"${user}"}\n`;
    // "Zoë" written in Latin-1 (0xEB), as a misconfigured logger would
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from(line('a')),
        Buffer.from(line('Zo\u00eb'), 'latin1'),
        Buffer.from(line('Zo\u00eb'), 'utf8'),
      ]),
    );
    const r = tally([...dd, 'ingest', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { accepted: 2, rejected: 1 });
    const letters = tally([...dd, 'deadletters'])
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { error: string; code: string; field?: string });
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.code, 'TALLY_EVENT_INVALID_UTF8');
    assert.equal(letters[0]!.field, 'user_id');
    assert.match(letters[0]!.error, /^record 1 \(line 2\): not valid UTF-8: byte 0xEB at byte \d+/);
  });
});
