/**
 * `tally ingest --mode distributed` and `tally watch --mode distributed --once`: files into
 * `<ns>.clicks` (keyed by ad_id), rejected lines into `<ns>.deadletters`, through the real
 * command line.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tally } from '../../helpers/cli.js';
import { distributedFixture } from './fixture.js';
import { readPartition, settled } from './support.js';

const PARTITIONS = 4;

describe('tally ingest and watch --mode distributed', () => {
  const f = distributedFixture('cliingest');
  const { ns, topics, tmp } = f;
  const reader = f.reader();
  const env = { TALLY_NAMESPACE: ns, TALLY_PARTITIONS: String(PARTITIONS) };

  async function clicks(): Promise<string[]> {
    const out: string[] = [];
    for (let p = 0; p < PARTITIONS; p++) {
      await settled(topics.clicks, p, reader);
      out.push(...(await readPartition(reader, topics.clicks, p)).map((r) => r.value));
    }
    return out;
  }

  it('a file into <ns>.clicks, its invalid lines into <ns>.deadletters; then a watched file', async () => {
    const now = Date.now();
    const line = (i: number) =>
      JSON.stringify({ ad_id: `ad-${i % 7}`, timestamp: now, event_id: `f${i}` });
    const file = join(tmp.dir, 'clicks.ndjson');
    const lines = Array.from({ length: 50 }, (_, i) => line(i));
    lines.splice(10, 0, '{"ad_id":"bad ad","timestamp":1}', 'nope');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const r = tally(['ingest', '--mode', 'distributed', '--data-dir', join(tmp.dir, 'd'), file], {
      env,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { accepted: 50, rejected: 2 });
    assert.equal((await clicks()).length, 50);
    await settled(topics.deadletters, 0, reader);
    const letters = (await readPartition(reader, topics.deadletters, 0)).map(
      (x) => JSON.parse(x.value) as { source: string; payload: string },
    );
    assert.deepEqual(
      letters.map((l) => l.payload),
      ['{"ad_id":"bad ad","timestamp":1}', 'nope'],
    );
    assert.ok(letters.every((l) => l.source === `file:${file}`));

    const watched = join(tmp.dir, 'watched.log');
    writeFileSync(watched, `${Array.from({ length: 20 }, (_, i) => line(100 + i)).join('\n')}\n`);
    const w = tally(
      ['watch', '--mode', 'distributed', '--once', '--data-dir', join(tmp.dir, 'w'), watched],
      { env },
    );
    assert.equal(w.status, 0, w.stderr);
    assert.equal((JSON.parse(w.stdout) as { accepted: number }).accepted, 20);
    assert.equal((await clicks()).length, 70);
  });
});
