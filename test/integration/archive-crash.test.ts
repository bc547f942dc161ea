/**
 * kill -9 of `tally archive` and of `tally reconcile --repair` at random moments, several
 * cycles each (real child processes). After every kill: the manifest names only files that
 * exist and hold exactly its ranges, no record is archived twice, nothing unarchived left the
 * log; every corrupted row is either still corrupted or repaired, and repaired exactly when
 * the audit trail says so. A rerun to completion finishes the job.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { openParquetArchive } from '../../src/adapters/archive-parquet/index.js';
import { openEmbeddedLog } from '../../src/adapters/log-embedded/index.js';
import { generateClicks } from '../../src/core/generate/index.js';
import { MINUTE_MS } from '../../src/core/window/minute.js';
import { exited, tally, tallySpawn, tempDir } from '../helpers/cli.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function killAfter(args: string[], ms: number): Promise<'killed' | 'finished'> {
  const child = tallySpawn(args);
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

describe('archive and repair through kill -9 (CLI)', () => {
  const tmp = tempDir('archive-crash');
  const dataDir = join(tmp.dir, 'data');
  const configFile = join(tmp.dir, 'config.json');
  const dd = ['--data-dir', dataDir, '--config', configFile];
  const seed = Number(process.env.TALLY_CRASH_SEED ?? Date.now() % 100_000);
  let rnd = seed;
  const random = () => (rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0) / 2 ** 32;

  before(() => {
    writeFileSync(
      configFile,
      JSON.stringify({
        log: { partitions: 3, segmentBytes: 16 * 1024 },
        aggregation: { allowedLatenessMs: 60_000, topWindows: [1, 5] },
      }),
    );
    const lines: string[] = [];
    const gen = generateClicks({
      seed: 11,
      count: 60_000,
      ads: 2_000,
      startTime: Date.now() - 40 * MINUTE_MS,
      eventsPerSecond: 40,
    });
    for (let r = gen.next(); !r.done; r = gen.next()) lines.push(...r.value);
    const file = join(tmp.dir, 'clicks.ndjson');
    writeFileSync(file, lines.slice(0, 30_000).join('\n') + '\n');
    // more, ingested one part per archive cycle: each cycle has closed segments to archive
    for (let i = 0; i < 6; i++) {
      const part = lines.slice(30_000 + i * 5_000, 30_000 + (i + 1) * 5_000);
      writeFileSync(join(tmp.dir, `more-${i}.ndjson`), part.join('\n') + '\n');
    }
    for (const args of [
      ['ingest', file],
      ['aggregate', '--drain'],
    ]) {
      const r = tally([...dd, ...args]);
      assert.equal(r.status, 0, r.stderr);
    }
  });
  after(() => (process.env.TALLY_TEST_KEEP ? console.error(`kept ${tmp.dir}`) : tmp.cleanup()));

  /** The archive and the log agree: every offset below archivedUpTo archived once, none lost. */
  async function checkArchive(): Promise<{ archived: number; ranges: number }> {
    const archive = await openParquetArchive({ dir: join(dataDir, 'archive'), durable: false });
    const log = await openEmbeddedLog({ dir: join(dataDir, 'log') });
    try {
      let archived = 0;
      for (let p = 0; p < log.partitions; p++) {
        const ranges = archive.ranges().filter((r) => r.partition === p);
        let expect = ranges[0]?.fromOffset ?? 0;
        assert.equal(expect, 0, `partition ${p}: the archive starts at offset 0`);
        const offsets = new Set<number>();
        for (const r of ranges) {
          assert.equal(r.fromOffset, expect, `partition ${p}: ranges are contiguous`);
          expect = r.toOffset;
          let rows = 0;
          for (const f of r.files) {
            const file = await asyncBufferFromFile(join(archive.dir, f.path));
            const objs = (await parquetReadObjects({
              file,
              compressors,
              columns: ['log_offset'],
            })) as Array<{ log_offset: bigint }>;
            rows += objs.length;
            for (const o of objs) {
              const off = Number(o.log_offset);
              assert.ok(off >= r.fromOffset && off < r.toOffset);
              assert.ok(!offsets.has(off), `partition ${p}: offset ${off} archived twice`);
              offsets.add(off);
            }
          }
          assert.equal(rows, r.records);
          assert.equal(r.records, r.toOffset - r.fromOffset);
        }
        archived += offsets.size;
        // retention never removed what is not archived
        assert.ok(
          log.startOffset(p) <= archive.archivedUpTo(p),
          `partition ${p}: log start ≤ archived end`,
        );
      }
      return { archived, ranges: archive.ranges().length };
    } finally {
      await archive.close();
      await log.close();
    }
  }

  it(
    'kill -9 during archiving leaves a consistent archive, and a rerun finishes it',
    { timeout: 300_000 },
    async () => {
      let kills = 0;
      for (let cycle = 0; cycle < 6; cycle++) {
        const more = tally([...dd, 'ingest', join(tmp.dir, `more-${cycle}.ndjson`)]);
        assert.equal(more.status, 0, more.stderr);
        if ((await killAfter([...dd, 'archive'], 300 + random() * 900)) === 'killed') kills++;
        await checkArchive();
      }
      const r = tally([...dd, 'archive']);
      assert.equal(r.status, 0, r.stderr);
      const { archived } = await checkArchive();
      assert.ok(archived > 0);
      // everything but the active segment of each partition is archived
      const log = await openEmbeddedLog({ dir: join(dataDir, 'log') });
      const archive = await openParquetArchive({ dir: join(dataDir, 'archive'), durable: false });
      try {
        for (let p = 0; p < log.partitions; p++) {
          const sealed = log.sealedSegments(p);
          // (retention has deleted the sealed segments it could: then the log starts there)
          const end = sealed.at(-1)?.toOffset ?? log.startOffset(p);
          assert.equal(archive.archivedUpTo(p), end, `partition ${p}`);
        }
      } finally {
        await archive.close();
        await log.close();
      }
      const again = JSON.parse(tally([...dd, 'archive']).stdout) as { archived_ranges: number };
      assert.equal(again.archived_ranges, 0);
      console.error(`archive kill -9 cycles: ${kills} killed (seed ${seed})`);
    },
  );

  it(
    'kill -9 during a repair leaves every row old or repaired, as audited; a rerun finishes it',
    { timeout: 300_000 },
    async () => {
      // what the archive test ingested, counted; its late events (the generator makes some)
      // folded in by a first repair, so that the store starts equal to the recount
      let firstRun = 0;
      for (const args of [
        ['aggregate', '--drain'],
        ['reconcile', '--repair', '--json'],
      ]) {
        const r = tally([...dd, ...args]);
        assert.equal(r.status, 0, r.stderr);
        if (args[0] === 'reconcile') {
          firstRun = (JSON.parse(r.stdout) as { repair: { run_id: number } }).repair.run_id;
        }
      }
      const t0 = performance.now();
      const clean = JSON.parse(tally([...dd, 'reconcile', '--json']).stdout) as {
        from: string;
        to: string;
        totals: { rows_differing: number };
      };
      // how long a whole run takes here: the kills land from its start to past its recount
      const runMs = performance.now() - t0;
      assert.equal(clean.totals.rows_differing, 0);
      const range = ['--from', clean.from, '--to', clean.to];
      // corrupt every row of the final minutes: several repair transactions' worth
      const file = join(dataDir, 'tally.sqlite');
      const db = new Database(file);
      const truth = new Map<string, number>();
      for (const r of db
        .prepare(
          'SELECT minute, dim, ad_id, count FROM minute_counts WHERE minute >= ? AND minute < ?',
        )
        .all(Date.parse(clean.from), Date.parse(clean.to)) as Array<{
        minute: number;
        dim: string;
        ad_id: string;
        count: number;
      }>) {
        truth.set(`${r.minute}|${r.dim}|${r.ad_id}`, r.count);
      }
      db.prepare('UPDATE minute_counts SET count = count + 1 WHERE minute >= ? AND minute < ?').run(
        Date.parse(clean.from),
        Date.parse(clean.to),
      );
      db.close();
      assert.ok(truth.size > 4000, `${truth.size} rows corrupted`);

      const check = () => {
        const db = new Database(file, { readonly: true });
        try {
          const audited = new Set(
            (
              db
                .prepare('SELECT minute, dim, ad_id FROM repair_changes WHERE run_id > ?')
                .all(firstRun) as Array<{
                minute: number;
                dim: string;
                ad_id: string;
              }>
            ).map((r) => `${r.minute}|${r.dim}|${r.ad_id}`),
          );
          let fixed = 0;
          const row = db
            .prepare('SELECT count FROM minute_counts WHERE minute = ? AND dim = ? AND ad_id = ?')
            .pluck();
          for (const [k, want] of truth) {
            const [m, dim, ad] = k.split('|') as [string, string, string];
            const got = (row.get(Number(m), dim, ad) as number | undefined) ?? 0;
            assert.ok(
              got === want || got === want + 1,
              `${k}: ${got} is neither ${want} nor ${want + 1}`,
            );
            assert.equal(got === want, audited.has(k), `${k}: repaired iff audited`);
            if (got === want) fixed++;
          }
          assert.equal(audited.size, fixed, 'no audit row without its change');
          return fixed;
        } finally {
          db.close();
        }
      };

      let kills = 0;
      let partial = 0;
      for (let cycle = 0; cycle < 5; cycle++) {
        if (
          (await killAfter(
            [...dd, 'reconcile', '--repair', '--json', ...range],
            runMs * (0.3 + 0.9 * random()),
          )) === 'killed'
        )
          kills++;
        const fixed = check();
        if (fixed > 0 && fixed < truth.size) partial++;
        if (fixed === truth.size) break;
      }
      const finish = tally([...dd, 'reconcile', '--repair', '--json', ...range]);
      assert.equal(finish.status, 0, finish.stderr);
      assert.equal(check(), truth.size);
      const rerun = JSON.parse(tally([...dd, 'reconcile', '--json', ...range]).stdout) as {
        totals: { rows_differing: number };
      };
      assert.equal(rerun.totals.rows_differing, 0);
      const runs = tally([...dd, 'repairs', '--limit', '100000'])
        .stdout.trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { status: string });
      // newest first: the run that finished, then the killed ones (interrupted) or finished ones
      assert.equal(runs[0]?.status, 'done');
      assert.ok(runs.every((r) => r.status === 'done' || r.status === 'interrupted'));
      console.error(
        `repair kill -9 cycles: ${kills} killed, ${partial} left a partial repair (seed ${seed})`,
      );
    },
  );
});
