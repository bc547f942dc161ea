/**
 * The writer of the kill -9 test: commits forever and prints each acknowledged seq on stdout.
 * Every part of commit `s` carries `s` (row counts, offsets, watermark, the stored top list,
 * one late record, the snapshot bytes), so a partial commit would show mixed values. Every
 * SNAPSHOT_EVERY-th commit takes a snapshot: by turns a whole one, then a chain of a base and
 * two deltas (pieces in files beside the store, so a kill lands between a file and its commit).
 * Usage: node store-sqlite-child.js <file> <rowsPerCommit>
 */
import { openSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import type { CommitBatch } from '../../src/ports/aggregate-sink.js';

export const CONSUMER = 'kill';
export const T0 = Date.UTC(2026, 10, 25, 10, 0);
export const SNAPSHOT_EVERY = 5;

export function commitOf(seq: number, rowsPerCommit: number): CommitBatch {
  const rows = Array.from({ length: rowsPerCommit }, (_, i) => ({
    minute: T0 + (i % 10) * 60_000,
    adId: `ad-${i}`,
    dim: i % 2 === 0 ? '*' : 'country=US',
    count: seq,
  }));
  return {
    consumer: CONSUMER,
    rows,
    top: [{ windowMinutes: 1, endMinute: T0 + 60_000, ads: [{ adId: 'seq', count: seq }] }],
    late: [
      {
        partition: 0,
        offset: seq,
        adId: 'late',
        timestamp: T0,
        eventId: `late-${seq}`,
        watermark: T0 + seq,
        raw: `{"seq":${seq}}`,
      },
    ],
    offsets: new Map([
      [0, seq],
      [1, 2 * seq],
    ]),
    watermark: T0 + seq,
    stats: { events: rowsPerCommit, duplicates: 1, late: 1 },
    expectedSeq: seq - 1,
    ...(seq % SNAPSHOT_EVERY !== 0
      ? {}
      : (seq / SNAPSHOT_EVERY) % 4 === 0
        ? { snapshot: snapshotOf(seq) }
        : {
            snapshotPiece: {
              base: (seq / SNAPSHOT_EVERY) % 4 === 1,
              chunks: pieceOf(seq),
            },
          }),
  };
}

/** the chain as of snapshot commit `seq` (empty: that one is a whole snapshot) */
export function chainOf(seq: number): Uint8Array[][] {
  const k = seq / SNAPSHOT_EVERY;
  if (k % 4 === 0) return [];
  const chain: Uint8Array[][] = [];
  for (let j = k - (k % 4) + 1; j <= k; j++) chain.push(pieceOf(j * SNAPSHOT_EVERY));
  return chain;
}

export function pieceOf(seq: number): Uint8Array[] {
  return [
    new Uint8Array(128 * 1024).fill(seq & 0xff),
    new Uint8Array(64 * 1024 + (seq % 7)).fill((seq + 1) & 0xff),
  ];
}

export function snapshotOf(seq: number): Uint8Array {
  return new Uint8Array(64 * 1024).fill(seq & 0xff);
}

async function main(file: string, rowsPerCommit: number): Promise<void> {
  const store = await openSqliteStore({ file });
  let seq = (await store.loadCheckpoint(CONSUMER)).seq;
  for (;;) {
    seq++;
    await store.commit(commitOf(seq, rowsPerCommit));
    // a pipe write is synchronous on Linux: once printed, the parent has it
    process.stdout.write(`${seq}\n`);
  }
}

if (process.argv[1]?.endsWith('store-sqlite-child.js')) {
  await main(process.argv[2]!, Number(process.argv[3] ?? 1000));
}
