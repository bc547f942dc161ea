import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateClicks } from '../../src/core/generate/index.js';
import { MINUTE_MS as MINUTE } from '../../src/core/window/minute.js';
import { openSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { countByAdMinute, distinctEvents } from '../helpers/oracle.js';
import { exited, tally, tallySpawn, tempDir } from '../helpers/cli.js';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs `tally …args` and kills it with SIGKILL after `ms` (if it has not finished by then). */
async function killAfter(
  args: string[],
  ms: number,
  env: NodeJS.ProcessEnv = {},
): Promise<'killed' | 'finished'> {
  const child = tallySpawn(args, env);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = exited(child);
  const winner = await Promise.race([
    done.then(() => 'finished' as const),
    sleep(ms).then(() => 'timer' as const),
  ]);
  if (winner === 'timer') {
    child.kill('SIGKILL');
    await done;
    return 'killed';
  }
  assert.equal(child.exitCode, 0, `tally ${args.join(' ')} failed: ${stderr}`);
  return 'finished';
}

/**
 * kill -9 of `tally ingest` and `tally aggregate` at random moments, many cycles; the file is
 * re-sent whole after each crashed ingest; then `aggregate --drain`. Every distinct valid
 * event must be in exactly one place: its minute's count, or the late records.
 */
describe('exactly-once through kill -9 (embedded, CLI)', () => {
  const tmp = tempDir('crash');
  const dataDir = join(tmp.dir, 'data');
  const file = join(tmp.dir, 'clicks.ndjson');
  const lines: string[] = [];
  const now = Date.now();

  before(() => {
    const it = generateClicks({
      seed: 7,
      count: 120_000,
      ads: 3_000,
      // 5 minutes of event time ending a minute ago: inside the dedup horizon throughout, so a
      // re-sent event is a duplicate whether its first copy was counted or recorded late
      startTime: now - 6 * MINUTE,
      eventsPerSecond: 400,
    });
    for (let r = it.next(); !r.done; r = it.next()) lines.push(...r.value);
    writeFileSync(file, lines.join('\n') + '\n');
  });
  // TALLY_TEST_KEEP=1 keeps the data dir for a post-mortem
  after(() => (process.env.TALLY_TEST_KEEP ? console.error(`kept ${tmp.dir}`) : tmp.cleanup()));

  it(
    'counts every accepted event once, whatever is killed when',
    { timeout: 600_000 },
    async () => {
      const seed = Number(process.env.TALLY_CRASH_SEED ?? Date.now() % 100_000);
      let rnd = seed;
      const random = () => (rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0) / 2 ** 32;
      const dd = ['--data-dir', dataDir];
      // frequent commits and snapshots: more crash points between them
      const env = { TALLY_COMMIT_INTERVAL_MS: '100', TALLY_SNAPSHOT_INTERVAL_MS: '700' };
      let kills = 0;
      for (let cycle = 0; cycle < 8; cycle++) {
        if (random() < 0.6) {
          if ((await killAfter([...dd, 'ingest', file], 300 + random() * 1500)) === 'killed')
            kills++;
        }
        if ((await killAfter([...dd, 'aggregate'], 400 + random() * 2000, env)) === 'killed')
          kills++;
      }
      // one complete, unkilled ingest of the whole file, then the final drain
      const ing = tally([...dd, 'ingest', file]);
      assert.equal(ing.status, 0, ing.stderr);
      const drain = tally([...dd, 'aggregate', '--drain']);
      assert.equal(drain.status, 0, drain.stderr);
      assert.ok(kills > 0, `seed ${seed}: nothing was killed; the test proved nothing`);

      const expected = countByAdMinute(distinctEvents(lines, now));
      const store = await openSqliteStore({ file: join(dataDir, 'tally.sqlite') });
      try {
        const counted = new Map<string, number>();
        for (const r of await store.rows(-Infinity, Infinity, '*')) {
          counted.set(`${r.adId}|${r.minute}`, r.count);
        }
        for (const l of await store.late(10_000_000)) {
          const k = `${l.adId}|${Math.floor(l.timestamp / MINUTE) * MINUTE}`;
          counted.set(k, (counted.get(k) ?? 0) + 1);
        }
        let lost = 0;
        let twice = 0;
        for (const [k, n] of expected) {
          const got = counted.get(k) ?? 0;
          if (got < n) lost += n - got;
          if (got > n) twice += got - n;
        }
        for (const [k, got] of counted) if (!expected.has(k)) twice += got;
        assert.equal(lost, 0, `seed ${seed}: ${lost} events lost`);
        assert.equal(twice, 0, `seed ${seed}: ${twice} events counted twice`);

        // the top lists per country, made by operators restored after every kill, are those
        // of the (exact) rows: every (window, end) with events of a country has its list
        const lists = await store.topRows(-1e15, 1e15);
        const dims = [...new Set(lists.flatMap((t) => (t.dim === undefined ? [] : [t.dim])))];
        assert.ok(dims.length > 1, `seed ${seed}: lists of ${dims.length} countries`);
        let checked = 0;
        for (const t of lists) {
          if (t.dim !== undefined) continue;
          const from = t.endMinute - t.windowMinutes * MINUTE;
          for (const dim of dims) {
            const grouped = await store.top(from, t.endMinute, 100, { dims: [dim] });
            const stored = await store.storedTop(t.windowMinutes, t.endMinute, dim);
            const what = `seed ${seed}: ${dim}, ${t.windowMinutes} min to ${t.endMinute}`;
            if (grouped.length === 0) assert.equal(stored, undefined, what);
            else assert.deepEqual(stored?.ads, grouped, what);
            checked++;
          }
        }
        assert.ok(checked > 100, `seed ${seed}: ${checked} lists checked`);
      } finally {
        await store.close();
      }
    },
  );
});
