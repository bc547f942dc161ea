/**
 * A real full disk under a real `tally start`: the data dir is a small tmpfs (mounted by the
 * test when it runs as root, as in CI; elsewhere it says why it skipped), a filler file takes
 * most of it, and HTTP clients post clicks (duplicates, disorder, late and invalid records),
 * retrying what is refused. While the disk is full: 507 with Retry-After, /healthz not ready
 * and why, a handful of log lines. Then the filler is deleted: ingest resumes by itself, with
 * no restart; after a drain, every acknowledged event is counted once.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { generateClicks } from '../../src/core/generate/index.js';
import { MINUTE_MS as MINUTE } from '../../src/core/window/minute.js';
import { exited, tally, tallySpawn, tempDir } from '../helpers/cli.js';
import { countByAdMinute, distinctEvents } from '../helpers/oracle.js';
import { sleep } from './support.js';

const TMPFS_MIB = 48;

function canMount(): string | undefined {
  if (process.platform !== 'linux') return 'tmpfs mounts need Linux';
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root (CI runs as root)';
  return undefined;
}

describe('a full disk under tally start (tmpfs data dir, HTTP clients retrying)', () => {
  it(
    'answers 507 while full, resumes by itself once space is freed, loses nothing',
    { timeout: 300_000 },
    async (t) => {
      const why = canMount();
      if (why !== undefined) {
        t.skip(why);
        return;
      }
      const tmp = tempDir('full-disk');
      const mnt = join(tmp.dir, 'mnt');
      mkdirSync(mnt);
      const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MIB}m`, 'tmpfs', mnt], {
        encoding: 'utf8',
      });
      if (mount.status !== 0) {
        t.skip(`mount -t tmpfs failed: ${mount.stderr.trim()}`);
        tmp.cleanup();
        return;
      }
      const dataDir = join(mnt, 'data');
      const filler = join(mnt, 'filler');
      let child: ReturnType<typeof tallySpawn> | undefined;
      try {
        const now = Date.now();
        const lines: string[] = [];
        const gen = generateClicks({
          seed: 9,
          count: 60_000,
          ads: 2_000,
          startTime: now - 6 * MINUTE,
          eventsPerSecond: 200,
        });
        for (let r = gen.next(); !r.done; r = gen.next()) lines.push(...r.value);
        const batches: string[] = [];
        for (let i = 0; i < lines.length; i += 500)
          batches.push(lines.slice(i, i + 500).join('\n') + '\n');

        child = tallySpawn(['--data-dir', dataDir, 'start', '--port', '0'], {
          TALLY_LOG_LEVEL: 'info',
          TALLY_COMMIT_INTERVAL_MS: '200',
          TALLY_SNAPSHOT_INTERVAL_MS: '2000',
        });
        let stderr = '';
        child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
        let base = '';
        for (let i = 0; i < 200 && base === ''; i++) {
          base = /serving on (http:\/\/\S+)/.exec(stderr)?.[1] ?? '';
          await sleep(50);
        }
        assert.ok(base, `tally start did not come up: ${stderr}`);
        // the filler leaves 2 MiB: the log fills them within the first batches
        const free = statfsSync(mnt);
        writeFileSync(filler, Buffer.alloc(free.bavail * free.bsize - 2 * 1024 * 1024, 1));

        const seen = new Map<number, number>();
        let fullSeen = 0;
        let healthWhileFull: { status: number; body: string } | undefined;
        let acked = 0;
        let next = 0;
        const client = async () => {
          while (next < batches.length) {
            const body = batches[next++]!;
            for (;;) {
              const res = await fetch(`${base}/v1/clicks`, {
                method: 'POST',
                headers: { 'content-type': 'application/x-ndjson' },
                body,
              });
              await res.arrayBuffer();
              seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
              if (res.status === 200) {
                acked++;
                break;
              }
              assert.ok([429, 503, 507].includes(res.status), `status ${res.status}`);
              assert.ok(res.headers.get('retry-after'), 'no Retry-After');
              if (res.status === 507 && ++fullSeen === 150) {
                const h = await fetch(`${base}/healthz`);
                healthWhileFull = { status: h.status, body: await h.text() };
                // space comes back: the filler goes, and nothing is restarted
                rmSync(filler);
              }
              // a client faster than Retry-After asks: more load on the refusing path
              await sleep(Math.min(Number(res.headers.get('retry-after')) * 1000, 100));
            }
          }
        };
        await Promise.all([client(), client(), client()]);
        assert.ok(
          fullSeen >= 150,
          `the disk never filled: ${JSON.stringify(Object.fromEntries(seen))}`,
        );
        assert.equal(acked, batches.length);
        assert.equal(healthWhileFull?.status, 503, healthWhileFull?.body);
        assert.match(healthWhileFull!.body, /TALLY_STORAGE_FULL/);
        // the aggregator's backoff (≤ 5 s) ends, and it commits again: ready
        let after = await fetch(`${base}/healthz`);
        for (let i = 0; i < 100 && after.status !== 200; i++) {
          await sleep(100);
          after = await fetch(`${base}/healthz`);
        }
        assert.equal(after.status, 200, await after.text());

        child.kill('SIGTERM');
        assert.equal(await exited(child), 0, stderr);
        child = undefined;
        const changes = stderr
          .split('\n')
          .filter((l) => /"component":"(log|deadletters|aggregator)"/.test(l)).length;
        const drain = tally(['--data-dir', dataDir, 'aggregate', '--drain']);
        assert.equal(drain.status, 0, drain.stderr);

        const expected = countByAdMinute(distinctEvents(lines, now));
        const store = await openSqliteStore({ file: join(dataDir, 'tally.sqlite') });
        const counted = new Map<string, number>();
        try {
          for (const r of await store.rows(-Infinity, Infinity, '*'))
            counted.set(`${r.adId}|${r.minute}`, r.count);
          for (const l of await store.late(10_000_000)) {
            const k = `${l.adId}|${Math.floor(l.timestamp / MINUTE) * MINUTE}`;
            counted.set(k, (counted.get(k) ?? 0) + 1);
          }
        } finally {
          await store.close();
        }
        let lost = 0;
        let twice = 0;
        for (const [k, n] of expected) {
          const got = counted.get(k) ?? 0;
          if (got < n) lost += n - got;
          if (got > n) twice += got - n;
        }
        for (const [k, got] of counted) if (!expected.has(k)) twice += got;
        const refused = [...seen].filter(([s]) => s !== 200).reduce((n, [, c]) => n + c, 0);
        console.error(
          `full disk: ${batches.length} batches of 500, client saw ${JSON.stringify(Object.fromEntries(seen))}; ` +
            `${changes} state-change log lines for ${refused} refusals; lost ${lost}, counted twice ${twice}`,
        );
        assert.ok(changes <= 12, `${changes} state-change log lines: a flood`);
        assert.equal(seen.get(500), undefined);
        assert.equal(lost, 0);
        assert.equal(twice, 0);
      } finally {
        if (child !== undefined) {
          child.kill('SIGKILL');
          await exited(child);
        }
        spawnSync('umount', [mnt]);
        tmp.cleanup();
      }
    },
  );
});
