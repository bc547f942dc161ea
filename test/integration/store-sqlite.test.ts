/**
 * The SQLite aggregate store on real files: the aggregate store contract (with and without the
 * per-ad index), schema and open modes, commit throughput, and kill -9 of a committing process.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import {
  openSqliteStore,
  type SqliteAggregateStore,
  type SqliteStoreOptions,
} from '../../src/adapters/store-sqlite/index.js';
import {
  batch,
  lateRecord,
  m,
  reopenableFixture,
  row,
  runAggregateStoreContract,
} from '../contract/aggregate-store.contract.js';
import { tempDir } from '../helpers/cli.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/adapters/store-sqlite/schema.js';
import { ROWS_PER_SLICE } from '../../src/adapters/store-sqlite/commit.js';
import {
  CONSUMER,
  SNAPSHOT_EVERY,
  T0,
  chainOf,
  commitOf,
  snapshotOf,
} from './store-sqlite-child.js';

function fixture(opts: Partial<SqliteStoreOptions>) {
  return async () => {
    const t = tempDir('store');
    const file = join(t.dir, 'nested', 'tally.sqlite');
    return reopenableFixture(
      () => openSqliteStore({ ...opts, file }),
      () => t.cleanup(),
    );
  };
}

runAggregateStoreContract('sqlite', fixture({}));
runAggregateStoreContract(
  'sqlite with the optional indexes',
  fixture({ perAdIndex: true, topIndex: true }),
);
runAggregateStoreContract('sqlite, synchronous NORMAL', fixture({ synchronous: 'NORMAL' }));
runAggregateStoreContract('sqlite, queries on reader threads', fixture({ readThreads: 2 }));
runAggregateStoreContract(
  'sqlite, WAL checkpoints on their own thread',
  fixture({ readThreads: 2, walThread: true }),
);

async function withFile<T>(fn: (file: string) => Promise<T>): Promise<T> {
  const t = tempDir('store');
  try {
    return await fn(join(t.dir, 'tally.sqlite'));
  } finally {
    t.cleanup();
  }
}

const code = (e: unknown) => (e as { code?: string }).code;

// retention is this adapter's own method until the retention job gives it a port
describe('sqlite store: pruneBefore', () => {
  it('deletes older minutes and the lists that end by then, nothing else', () =>
    withFile(async (file) => {
      const store = await openSqliteStore({ file });
      await store.commit(
        batch({
          rows: [row(0, 'a', 1), row(1, 'a', 2), row(2, 'a', 4), row(1, 'a', 2, 'country=US')],
          top: [
            { windowMinutes: 1, endMinute: m(1), ads: [] },
            { windowMinutes: 1, endMinute: m(2), ads: [] },
            { windowMinutes: 2, endMinute: m(3), ads: [] },
          ],
          late: [lateRecord(0, 1)],
          snapshot: new Uint8Array([1]),
        }),
      );
      const cp = await store.loadCheckpoint('agg');
      assert.deepEqual(await store.pruneBefore(m(2)), { rows: 3, topRows: 2 });
      assert.equal(await store.count('a', -Infinity, Infinity), 4);
      assert.equal(await store.storedTop(1, m(2)), undefined);
      assert.notEqual(await store.storedTop(2, m(3)), undefined);
      assert.equal((await store.late(10)).length, 1);
      assert.deepEqual(await store.loadCheckpoint('agg'), cp);
      assert.deepEqual(await store.pruneBefore(m(2)), { rows: 0, topRows: 0 });
      await store.close();
    }));
});

describe('sqlite store: schema and open modes', () => {
  it('creates a WAL file at the latest schema version with STRICT key-ordered tables', () =>
    withFile(async (file) => {
      const store = await openSqliteStore({ file });
      assert.equal(store.schemaVersion, SCHEMA_VERSION);
      assert.equal(store.perAdIndex, false);
      assert.equal(store.topIndex, false);
      await store.close();
      const db = new Database(file, { readonly: true });
      try {
        assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
        assert.deepEqual(
          db.prepare('SELECT version FROM schema_version').pluck().all(),
          MIGRATIONS.map((m) => m.version),
        );
        const tables = db.prepare('PRAGMA table_list').all() as Array<{
          name: string;
          wr: number;
          strict: number;
        }>;
        const byName = new Map(tables.map((t) => [t.name, t]));
        for (const name of [
          'minute_counts',
          'cycles',
          'late_events',
          'consumer_offsets',
          'repair_changes',
          'late_folded',
        ]) {
          assert.equal(byName.get(name)?.wr, 1, `${name} is WITHOUT ROWID`);
          assert.equal(byName.get(name)?.strict, 1, `${name} is STRICT`);
        }
        const pk = db.prepare(
          "SELECT name FROM pragma_index_info('sqlite_autoindex_minute_counts_1')",
        );
        assert.deepEqual(pk.pluck().all(), ['minute', 'dim', 'ad_id']);
      } finally {
        db.close();
      }
    }));

  it('opens the same file again without migrating twice', () =>
    withFile(async (file) => {
      await (await openSqliteStore({ file })).close();
      const again = await openSqliteStore({ file });
      assert.equal(again.schemaVersion, SCHEMA_VERSION);
      await again.close();
    }));

  it('refuses a file written by a newer schema', () =>
    withFile(async (file) => {
      await (await openSqliteStore({ file })).close();
      const db = new Database(file);
      db.prepare('INSERT INTO schema_version VALUES (99, ?, 0)').run('from the future');
      db.close();
      await assert.rejects(openSqliteStore({ file }), (e) => code(e) === 'TALLY_DATA_DIR_MISMATCH');
      await assert.rejects(
        openSqliteStore({ file, readonly: true }),
        (e) => code(e) === 'TALLY_DATA_DIR_MISMATCH',
      );
    }));

  it('opens read-only beside a writer: reads see its commits, writes fail', () =>
    withFile(async (file) => {
      await assert.rejects(
        openSqliteStore({ file, readonly: true }),
        (e) => code(e) === 'TALLY_STORE_FAILURE',
      );
      const writer = await openSqliteStore({ file });
      const reader = await openSqliteStore({ file, readonly: true });
      try {
        await writer.commit(commitOf(1, 10));
        assert.equal(await reader.count('ad-0', -Infinity, Infinity), 1);
        assert.equal((await reader.loadCheckpoint(CONSUMER)).seq, 1);
        await assert.rejects(
          reader.commit(commitOf(2, 10)),
          (e) => code(e) === 'TALLY_STORE_FAILURE',
        );
      } finally {
        await reader.close();
        await writer.close();
      }
    }));

  it('writes a large commit in slices between loop turns, seen whole or not at all', () =>
    withFile(async (file) => {
      const writer = await openSqliteStore({ file });
      const reader = await openSqliteStore({ file, readonly: true });
      try {
        const rows = Array.from({ length: 3 * ROWS_PER_SLICE + 5 }, (_, i) => row(0, `ad-${i}`, 1));
        let turns = 0;
        let done = false;
        const committing = writer.commit(batch({ rows })).then(() => (done = true));
        // while the commit yields between slices: other readers see none of it, and an
        // operation on the writer's own connection waits for it instead of joining it
        const status = writer.status();
        while (!done) {
          await new Promise((r) => setImmediate(r));
          if (done) break;
          turns++;
          assert.equal((await reader.rows(m(0), m(1), '*')).length, 0);
        }
        await committing;
        assert.ok(turns >= 3, `the commit took ${turns} loop turns`);
        assert.equal((await status).consumers[0]?.seq, 1);
        assert.equal((await reader.rows(m(0), m(1), '*')).length, rows.length);
        assert.equal(await writer.count('ad-7', m(0), m(1)), 1);
      } finally {
        await reader.close();
        await writer.close();
      }
    }));

  it('with walThread, commits leave the WAL to the thread, which copies and resets it', () =>
    withFile(async (file) => {
      const store = await openSqliteStore({ file, walThread: true });
      const walBytes = () => statSync(`${file}-wal`).size;
      try {
        const chunk = new Uint8Array(6 << 20).map((_, i) => i & 0xff);
        const rows = Array.from({ length: 2000 }, (_, i) => row(0, `ad-${i}`, i + 1));
        await store.commit(batch({ rows, snapshotPiece: { base: true, chunks: [chunk] } }));
        // more than SQLite's automatic checkpoint would have let through (1000 pages): the
        // commit did not checkpoint; the thread then copies the pages and resets the file
        const deadline = Date.now() + 20_000;
        while (walBytes() > 0) {
          assert.ok(Date.now() < deadline, `the WAL still holds ${walBytes()} bytes`);
          await new Promise((r) => setTimeout(r, 20));
        }
        const db = new Database(file, { readonly: true });
        try {
          assert.equal(db.prepare('SELECT count(*) FROM minute_counts').pluck().get(), 2000);
        } finally {
          db.close();
        }
        await store.commit(batch({ rows: [row(1, 'ad-1', 5)] }));
        assert.equal(await store.count('ad-1', m(0), m(2)), 7);
        const cp = await store.loadCheckpoint('agg');
        assert.deepEqual(cp.snapshotChain, [[chunk]]);
      } finally {
        await store.close();
      }
    }));

  it('keeps an optional index once created, and uses it on later opens', () =>
    withFile(async (file) => {
      await (await openSqliteStore({ file, topIndex: true })).close();
      let store = await openSqliteStore({ file });
      assert.deepEqual([store.perAdIndex, store.topIndex], [false, true]);
      await store.close();
      await (await openSqliteStore({ file, perAdIndex: true })).close();
      store = await openSqliteStore({ file, readonly: true });
      assert.deepEqual([store.perAdIndex, store.topIndex], [true, true]);
      await store.close();
    }));

  it('wraps a failing open in TALLY_STORE_FAILURE', () =>
    withFile(async (file) => {
      writeFileSync(file, 'not a directory');
      await assert.rejects(
        openSqliteStore({ file: join(file, 'below', 'tally.sqlite') }),
        (e) => code(e) === 'TALLY_STORE_FAILURE',
      );
      // not a database at all
      await assert.rejects(openSqliteStore({ file }), (e) => code(e) === 'TALLY_STORE_FAILURE');
    }));
});

describe('sqlite store: throughput', () => {
  it('commits 100k rows in one transaction well under a second', (t) =>
    withFile(async (file) => {
      const store = await openSqliteStore({ file });
      try {
        const rows = Array.from({ length: 100_000 }, (_, i) => ({
          minute: T0 + (i % 5) * 60_000,
          adId: `ad-${(i * 7919) % 1_000_003}`,
          dim: i % 3 === 0 ? '*' : `country=C${i % 40}`,
          count: 1 + (i % 13),
        }));
        const base = { consumer: 'bench', top: [], late: [], watermark: T0 };
        const timed = async (offset: number) => {
          const t0 = performance.now();
          await store.commit({ ...base, rows, offsets: new Map([[0, offset]]) });
          return performance.now() - t0;
        };
        const insertMs = await timed(1);
        const upsertMs = await timed(2); // the same keys again: the update path
        t.diagnostic(
          `100k rows: insert ${insertMs.toFixed(0)} ms (${Math.round(1e8 / insertMs)} rows/s), ` +
            `upsert ${upsertMs.toFixed(0)} ms (${Math.round(1e8 / upsertMs)} rows/s)`,
        );
        // generous bound for slow CI disks; the figure itself is in the diagnostic
        assert.ok(insertMs < 3000 && upsertMs < 3000);
      } finally {
        await store.close();
      }
    }));
});

const CHILD = join(fileURLToPath(new URL('.', import.meta.url)), 'store-sqlite-child.js');
const ROWS_PER_COMMIT = 20_000;

/** Runs the writer until it has acked at least once, then kill -9 after a random delay. */
async function runAndKill(file: string): Promise<number> {
  const child = spawn(process.execPath, [CHILD, file, String(ROWS_PER_COMMIT)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let lastAcked = 0;
  let pending = '';
  let stderr = '';
  let firstAck: () => void = () => {};
  const acked = new Promise<void>((resolve) => (firstAck = resolve));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    const lines = (pending + d.toString()).split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) lastAcked = Math.max(lastAcked, Number(l));
    if (lastAcked > 0) firstAck();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const early = await Promise.race([acked.then(() => undefined), exited]);
  assert.equal(early, undefined, `the writer exited before committing: ${stderr}`);
  await new Promise((r) => setTimeout(r, Math.random() * 400));
  child.kill('SIGKILL');
  await exited;
  return lastAcked;
}

/** Everything the store holds must be exactly commit `seq`, whole. */
async function assertWholeCommit(store: SqliteAggregateStore, seq: number): Promise<void> {
  const cp = await store.loadCheckpoint(CONSUMER);
  assert.equal(cp.seq, seq);
  const expected = commitOf(seq, ROWS_PER_COMMIT);
  assert.deepEqual(cp.offsets, expected.offsets);
  assert.equal(cp.watermark, expected.watermark);
  assert.deepEqual(cp.totals, { events: ROWS_PER_COMMIT * seq, duplicates: seq, late: seq });
  const snapshotSeq = Math.floor(seq / SNAPSHOT_EVERY) * SNAPSHOT_EVERY;
  assert.equal(cp.snapshotSeq, snapshotSeq);
  const chain = snapshotSeq > 0 ? chainOf(snapshotSeq) : [];
  if (snapshotSeq > 0 && chain.length === 0) assert.deepEqual(cp.snapshot, snapshotOf(snapshotSeq));
  assert.deepEqual(
    cp.snapshotChain.map((p) => p.map((c) => Buffer.from(c))),
    chain.map((p) => p.map((c) => Buffer.from(c))),
  );
  // the files beside the store are the chain's: one a piece, none left of an uncommitted write
  const files = existsSync(`${store.file}.snapshots`) ? readdirSync(`${store.file}.snapshots`) : [];
  assert.equal(files.length, chain.length, `files: ${files.join(', ')}`);
  assert.deepEqual(
    cp.cycles.map((c) => c.seq),
    Array.from({ length: seq - snapshotSeq }, (_, i) => snapshotSeq + 1 + i),
  );
  for (const c of cp.cycles) assert.deepEqual(c.offsets, commitOf(c.seq, 0).offsets);

  const rows = [
    ...(await store.rows(-Infinity, Infinity, '*')),
    ...(await store.rows(-Infinity, Infinity, 'country=US')),
  ];
  assert.equal(rows.length, ROWS_PER_COMMIT);
  const mixed = rows.filter((r) => r.count !== seq);
  assert.equal(mixed.length, 0, `${mixed.length} rows are not of commit ${seq}`);
  assert.deepEqual((await store.storedTop(1, T0 + 60_000))?.ads, [{ adId: 'seq', count: seq }]);
  const late = await store.late(seq + 10);
  assert.deepEqual(
    late.map((l) => l.offset),
    Array.from({ length: seq }, (_, i) => i + 1),
  );
}

describe('sqlite store under kill -9', () => {
  it('shows every acknowledged commit whole and no partial one', { timeout: 120_000 }, (t) =>
    withFile(async (file) => {
      let previous = 0;
      for (let round = 0; round < 6; round++) {
        const lastAcked = await runAndKill(file);
        const store = await openSqliteStore({ file });
        try {
          const seq = (await store.loadCheckpoint(CONSUMER)).seq;
          // the child may have committed one more than it could print
          assert.ok(
            seq === lastAcked || seq === lastAcked + 1,
            `acked ${lastAcked}, store has ${seq}`,
          );
          assert.ok(seq > previous, 'each round commits more');
          await assertWholeCommit(store, seq);
          t.diagnostic(`round ${round}: acked ${lastAcked}, store at ${seq}`);
          previous = seq;
        } finally {
          await store.close();
        }
      }
    }),
  );
});

describe('sqlite store: snapshot pieces in files beside the store', () => {
  const piece = (base: boolean, ...fills: number[]) => ({
    base,
    chunks: fills.map((f, i) => new Uint8Array(1000 + i).fill(f)),
  });
  const chain = async (store: SqliteAggregateStore) =>
    (await store.loadCheckpoint('agg')).snapshotChain.map((p) => p.map((c) => [c[0], c.length]));
  const filesOf = (file: string) =>
    existsSync(`${file}.snapshots`) ? readdirSync(`${file}.snapshots`).sort() : [];
  const offsets = (n: number) => new Map([[0, n]]);
  /** a base, then a delta: two files */
  const twoPieces = async (store: SqliteAggregateStore) => {
    await store.commit(batch({ offsets: offsets(1), snapshotPiece: piece(true, 1, 2) }));
    await store.commit(batch({ offsets: offsets(2), snapshotPiece: piece(false, 3) }));
  };
  const isInvalid = (e: unknown) => code(e) === 'TALLY_SNAPSHOT_INVALID';

  it('keeps one file a piece, and removes those a new base replaces', () =>
    withFile(async (file) => {
      const store = await openSqliteStore({ file });
      await twoPieces(store);
      assert.equal(filesOf(file).length, 2);
      // each chunk read at a multiple of 8: the dedup slots are viewed as Float64Array in place
      for (const p of (await store.loadCheckpoint('agg')).snapshotChain)
        for (const c of p) assert.equal(c.byteOffset % 8, 0);
      assert.deepEqual(await chain(store), [
        [
          [1, 1000],
          [2, 1001],
        ],
        [[3, 1000]],
      ]);
      const db = new Database(file, { readonly: true });
      assert.equal(db.prepare('SELECT count(*) FROM snapshot_chunks').pluck().get(), 0);
      db.close();
      await store.commit(batch({ offsets: offsets(3), snapshotPiece: piece(true, 4) }));
      assert.equal(filesOf(file).length, 1);
      await store.commit(batch({ offsets: offsets(4), snapshot: new Uint8Array([5]) }));
      assert.deepEqual(filesOf(file), []);
      await store.close();
    }));

  it("reads a region (a base's dedup slots) into a buffer of its own, its chunks back to back", () =>
    withFile(async (file) => {
      const store = await openSqliteStore({ file });
      const chunks = [3, 1001, 1000, 2400, 2400, 16].map((n, i) => new Uint8Array(n).fill(i + 1));
      await store.commit(
        batch({ offsets: offsets(1), snapshotPiece: { base: true, chunks, regions: [3] } }),
      );
      await store.commit(batch({ offsets: offsets(2), snapshotPiece: piece(false, 9) }));
      const [base, delta] = (await store.loadCheckpoint('agg')).snapshotChain;
      assert.deepEqual(
        base!.map((c) => [c[0], c.length]),
        chunks.map((c) => [c[0], c.length]),
      );
      const [a, b, c, d, e, f] = base!;
      assert.equal(a!.buffer, b!.buffer, 'before the region: one run');
      assert.equal(a!.buffer, c!.buffer);
      assert.notEqual(d!.buffer, c!.buffer, 'the region starts a buffer');
      assert.equal(d!.byteOffset, 0);
      for (const [x, y] of [
        [d, e],
        [e, f],
      ]) {
        assert.equal(y!.buffer, d!.buffer, 'the region is one buffer');
        assert.equal(y!.byteOffset, x!.byteOffset + x!.length, 'back to back');
      }
      assert.equal(d!.buffer.byteLength, 4800 + 16, 'the region alone');
      assert.deepEqual(
        delta!.map((c) => [c[0], c.length]),
        [[9, 1000]],
      );
      // a corrupt region is still refused
      await store.close();
      const name = filesOf(file).find((n) => n.includes('-1-0-'))!;
      const path = join(`${file}.snapshots`, name);
      const bytes = readFileSync(path);
      bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 1;
      writeFileSync(path, bytes);
      const again = await openSqliteStore({ file });
      await assert.rejects(again.loadCheckpoint('agg'), isInvalid);
      await again.close();
    }));

  it('ignores a file no commit names (a write cut short by a kill or a refused commit), then removes it', () =>
    withFile(async (file) => {
      const store = await openSqliteStore({ file });
      await twoPieces(store);
      const before = filesOf(file);
      // what a kill between the file's fsync and its commit leaves: the file, no row
      writeFileSync(join(`${file}.snapshots`, `${before[0]!.split('-')[0]}-9-2-stray.piece`), 'x');
      // and a commit refused after its file was written (another writer took over)
      await assert.rejects(
        store.commit(batch({ offsets: offsets(3), expectedSeq: 0, snapshotPiece: piece(true, 7) })),
        (e) => code(e) === 'TALLY_STORE_FAILURE',
      );
      assert.equal(filesOf(file).length, 4);
      // a reader beside the writer removes nothing: the writer's next commit may be under way
      const reader = await openSqliteStore({ file, readonly: true });
      await reader.loadCheckpoint('agg');
      await reader.close();
      assert.equal(filesOf(file).length, 4);
      await store.close();
      const again = await openSqliteStore({ file });
      assert.deepEqual(await chain(again), [
        [
          [1, 1000],
          [2, 1001],
        ],
        [[3, 1000]],
      ]);
      assert.deepEqual(filesOf(file), before);
      await again.close();
    }));

  for (const [what, damage] of [
    ['a missing file', (p: string) => rmSync(p)],
    ['a corrupt file', (p: string) => writeFileSync(p, Buffer.alloc(statSync(p).size, 9))],
    ['a short file', (p: string) => truncateSync(p, 1500)],
    ['a longer file', (p: string) => appendFileSync(p, 'x')],
  ] as const)
    it(`refuses to restore from ${what}: TALLY_SNAPSHOT_INVALID, never other counts`, () =>
      withFile(async (file) => {
        const store = await openSqliteStore({ file });
        await twoPieces(store);
        const db = new Database(file, { readonly: true });
        const base = db
          .prepare('SELECT name FROM snapshot_files WHERE piece = 0')
          .pluck()
          .get() as string;
        db.close();
        damage(join(`${file}.snapshots`, base));
        await assert.rejects(store.loadCheckpoint('agg'), isInvalid);
        await store.close();
      }));

  it('a full disk fails the commit cleanly, leaves no partial file, keeps the last snapshot', async (t) => {
    if (process.platform !== 'linux' || process.getuid?.() !== 0) {
      t.skip('mounting a tmpfs needs Linux and root');
      return;
    }
    const tmp = tempDir('store-full');
    const mnt = join(tmp.dir, 'mnt');
    mkdirSync(mnt);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt], {
      encoding: 'utf8',
    });
    if (mount.status !== 0) {
      t.skip(`mount -t tmpfs failed: ${mount.stderr.trim()}`);
      tmp.cleanup();
      return;
    }
    try {
      const file = join(mnt, 'tally.sqlite');
      const store = await openSqliteStore({ file });
      await twoPieces(store);
      const before = filesOf(file);
      const big = {
        base: true,
        chunks: [new Uint8Array(6 << 20).fill(1), new Uint8Array(6 << 20)],
      };
      await assert.rejects(
        store.commit(batch({ offsets: offsets(3), snapshotPiece: big })),
        (e) => code(e) === 'TALLY_STORAGE_FULL',
      );
      assert.deepEqual(filesOf(file), before, 'the partial file is removed');
      const cp = await store.loadCheckpoint('agg');
      assert.equal(cp.seq, 2);
      assert.deepEqual(await chain(store), [
        [
          [1, 1000],
          [2, 1001],
        ],
        [[3, 1000]],
      ]);
      // and commits go on once there is room
      await store.commit(batch({ offsets: offsets(3), snapshotPiece: piece(true, 8) }));
      assert.deepEqual(await chain(store), [[[8, 1000]]]);
      await store.close();
    } finally {
      spawnSync('umount', [mnt]);
      tmp.cleanup();
    }
  });
});
