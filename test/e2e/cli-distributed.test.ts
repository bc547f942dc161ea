/**
 * `tally … --mode distributed` on the command line without any service: bad flags and
 * environment values are usage errors naming them, and a process whose broker does not answer
 * listens at once, says what it waits for, answers /healthz 503 naming it and POST /v1/clicks
 * 503 with Retry-After (never 200 for what no broker has).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exited, tally, tallySpawn, tempDir } from '../helpers/cli.js';

describe('tally --mode distributed: flags, environment, waiting', () => {
  it('--help documents --mode and --role', () => {
    const r = tally(['start', '--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /--mode <mode>/);
    assert.match(r.stdout, /--role <roles>/);
    assert.match(r.stdout, /ingest,aggregator,writer,query/);
    for (const cmd of ['ingest', 'watch']) assert.match(tally([cmd, '--help']).stdout, /--mode/);
  });

  it('bad values: exit 2, naming the flag or the environment key', () => {
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [['start', '--mode', 'cluster'], {}, /--mode: must be embedded or distributed/],
      [['start', '--mode', 'distributed', '--role', 'ingest,mapper'], {}, /--role: "mapper"/],
      [['start', '--mode', 'distributed', '--role', 'query,query'], {}, /--role: .*twice/],
      [['start', '--role', 'ingest'], {}, /--role: only with --mode distributed/],
      [
        ['start', '--mode', 'distributed'],
        { TALLY_KAFKA_BROKERS: 'nohost' },
        /^tally: TALLY_KAFKA_BROKERS/,
      ],
      [
        ['start', '--mode', 'distributed'],
        { TALLY_DATABASE_URL: 'mysql://x' },
        /^tally: TALLY_DATABASE_URL/,
      ],
      [
        ['ingest', '--mode', 'distributed', '-'],
        { TALLY_NAMESPACE: 'Prod' },
        /^tally: TALLY_NAMESPACE/,
      ],
      [
        ['start'],
        { TALLY_ROLE: 'all,everything', TALLY_MODE: 'distributed' },
        /^tally: TALLY_ROLE/,
      ],
    ];
    for (const [args, env, want] of cases) {
      const r = tally(args, { env });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want, args.join(' '));
    }
  });

  it('an unreachable broker: listening, waiting with backoff and saying for what; 503 meanwhile', async () => {
    const t = tempDir('dist-wait');
    const child = tallySpawn(
      ['start', '--mode', 'distributed', '--port', '0', '--data-dir', t.dir],
      { TALLY_KAFKA_BROKERS: '127.0.0.1:1', TALLY_NAMESPACE: 'never_reached' },
    );
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    try {
      const deadline = Date.now() + 30_000;
      let base: string | undefined;
      while (base === undefined || !/waiting for Kafka at 127\.0\.0\.1:1/.test(err)) {
        base ??= /listening on (http:\/\/\S+?);/.exec(err)?.[1];
        assert.ok(Date.now() < deadline, `no waiting line in 30 s: ${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 503);
      const body = (await health.json()) as {
        ready: boolean;
        problems: Array<{ component: string; reason: string }>;
      };
      assert.equal(body.ready, false);
      assert.equal(body.problems[0]?.component, 'startup');
      assert.match(body.problems[0]?.reason ?? '', /waiting for Kafka at 127\.0\.0\.1:1/);
      const post = await fetch(`${base}/v1/clicks`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: JSON.stringify({ ad_id: 'a', timestamp: Date.now() }),
      });
      assert.equal(post.status, 503);
      assert.ok(Number(post.headers.get('retry-after')) > 0, 'Retry-After');
      // the attempts back off: several lines, further apart (each attempt is the client's own
      // retries first, a few seconds)
      let attempts: number[] = [];
      while (attempts.length < 2) {
        assert.ok(Date.now() < deadline + 30_000, `fewer than 2 attempts: ${err}`);
        await new Promise((r) => setTimeout(r, 200));
        attempts = [...err.matchAll(/"retryInMs":(\d+)/g)].map((m) => Number(m[1]));
      }
      assert.ok(attempts[1]! > attempts[0]!, `backoff: ${attempts.join(',')}`);
    } finally {
      child.kill('SIGKILL');
      await exited(child);
      t.cleanup();
    }
  });
});
