/**
 * Snapshot pieces in files of their own beside the store (`<store>.snapshots/`), so a restore
 * reads them with a few large reads straight into their buffers instead of out of SQLite's
 * overflow pages (a 64 MiB blob is handed out 4 KiB page by page: most of a restore at 2M ads).
 *
 * The SQLite commit stays the only point of truth: a piece's file is written and fsynced
 * BEFORE the transaction that inserts its row (snapshot_files: name, size, each chunk's
 * length and CRC-32), so a committed row always names a whole file; a file no row names (a
 * kill between the write and the commit, a failed commit) is ignored, and removed by the
 * next load of that consumer's checkpoint. Files a new base replaces are removed after its
 * commit. A missing, short or corrupt file is TALLY_SNAPSHOT_INVALID, never wrong counts.
 */
import { constants as bufferConstants } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  unlinkSync,
} from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { TallyError } from '../../core/errors.js';

/** A piece as its row describes it. */
export interface PieceFile {
  name: string;
  bytes: number;
  /**
   * per chunk, little-endian: u32 length, u32 CRC-32; the length's top bit set: the chunk
   * starts a region (read into a buffer of its own with the chunks up to the next region)
   */
  chunks: Uint8Array;
}

/**
 * Reads are done in runs of whole chunks of at most this many bytes (one buffer, one read),
 * except within a region, read whole into one buffer (up to the largest one Node makes).
 */
const READ_RUN_BYTES = 1024 * 1024 * 1024;
const REGION_MAX_BYTES = bufferConstants.MAX_LENGTH;
const REGION_BIT = 0x80000000;
const LENGTH_BITS = 0x7fffffff;

/**
 * Each chunk starts at a multiple of 8 in its file (zeros pad the one before): read into one
 * buffer, its view stays aligned for the operator's Float64Array over the dedup slots (an
 * unaligned one would be copied).
 */
const ALIGN = 8;
const PAD = new Uint8Array(ALIGN);
const padded = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

const invalid = (message: string, cause?: unknown): TallyError =>
  new TallyError('TALLY_SNAPSHOT_INVALID', `operator snapshot: ${message}`, {
    ...(cause === undefined ? {} : { cause }),
  });

export function pieceDirOf(storeFile: string): string {
  return `${storeFile}.snapshots`;
}

/** the consumer's prefix: names stay safe whatever the consumer's name holds */
const prefixOf = (consumer: string): string => `${Buffer.from(consumer).toString('hex')}-`;

/**
 * Writes the chunks to a new file of the consumer's, fsyncs it and its directory, and returns
 * its row. On any failure (a full disk) the partial file is removed and the error rethrown:
 * nothing refers to it. `regions`: the chunks that start one (SnapshotPieceBatch.regions).
 */
export async function writePieceFile(
  dir: string,
  consumer: string,
  seq: number,
  piece: number,
  chunks: readonly Uint8Array[],
  regions: readonly number[] = [],
): Promise<PieceFile> {
  mkdirSync(dir, { recursive: true });
  const name = `${prefixOf(consumer)}${seq}-${piece}-${randomBytes(6).toString('hex')}.piece`;
  const path = join(dir, name);
  const table = new Uint8Array(chunks.length * 8);
  const dv = new DataView(table.buffer);
  let bytes = 0;
  const fh = await open(path, 'wx');
  try {
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i]!;
      if (c.length > LENGTH_BITS) throw new RangeError(`a chunk of ${c.length} bytes`);
      dv.setUint32(8 * i, c.length | (regions.includes(i) ? REGION_BIT : 0), true);
      dv.setUint32(8 * i + 4, crc32(c), true);
      const pad = PAD.subarray(0, padded(c.length) - c.length);
      for (const part of [c, pad])
        for (let at = 0; at < part.length;) {
          const { bytesWritten } = await fh.write(part, at, part.length - at);
          at += bytesWritten;
        }
      bytes += c.length + pad.length;
    }
    await fh.sync();
    await fh.close();
    // the directory entry too, or a power loss could keep the commit and lose the name
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw e;
  }
  return { name, bytes, chunks: table };
}

/** Reads a piece's file into buffers of whole chunks and checks it; returns the chunks. */
export function readPieceFile(dir: string, piece: number, f: PieceFile): Uint8Array[] {
  const n = f.chunks.length / 8;
  if (!Number.isInteger(n)) throw invalid(`piece ${piece}: bad chunk table`);
  const dv = new DataView(f.chunks.buffer, f.chunks.byteOffset, f.chunks.byteLength);
  let fd: number;
  try {
    fd = openSync(join(dir, f.name), 'r');
  } catch (e) {
    throw invalid(`the file of piece ${piece} (${f.name}) cannot be opened`, e);
  }
  const out: Uint8Array[] = [];
  try {
    const size = fstatSync(fd).size;
    if (size !== f.bytes)
      throw invalid(`the file of piece ${piece} (${f.name}) has ${size} bytes, not ${f.bytes}`);
    const lengthOf = (i: number): number => dv.getUint32(8 * i, true) & LENGTH_BITS;
    const startsRegion = (i: number): boolean => (dv.getUint32(8 * i, true) & REGION_BIT) !== 0;
    let pos = 0;
    let inRegion = false;
    for (let i = 0; i < n;) {
      // a run of whole chunks: one buffer, one read; a region is one run, as long as it is
      if (startsRegion(i)) inRegion = true;
      const limit = inRegion ? REGION_MAX_BYTES : READ_RUN_BYTES;
      let run = 0;
      let j = i;
      do run += padded(lengthOf(j++));
      while (j < n && !startsRegion(j) && run + padded(lengthOf(j)) <= limit);
      if (pos + run > size) throw invalid(`piece ${piece}: chunks beyond its file`);
      const buf = Buffer.allocUnsafeSlow(run);
      for (let got = 0; got < run;) {
        // at most 1 GiB a call: readSync takes a length below 2 GiB only
        const k = readSync(fd, buf, got, Math.min(run - got, READ_RUN_BYTES), pos + got);
        if (k === 0) throw invalid(`the file of piece ${piece} (${f.name}) ends early`);
        got += k;
      }
      let at = 0;
      for (; i < j; i++) {
        const len = lengthOf(i);
        const c = buf.subarray(at, at + len);
        if (crc32(c) !== dv.getUint32(8 * i + 4, true))
          throw invalid(`chunk ${i} of piece ${piece} (${f.name}) is corrupt`);
        out.push(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
        at += padded(len);
      }
      pos += run;
    }
    if (pos !== size) throw invalid(`piece ${piece}: ${size - pos} stray bytes in its file`);
  } catch (e) {
    if (e instanceof TallyError) throw e;
    throw invalid(`the file of piece ${piece} (${f.name}) cannot be read`, e);
  } finally {
    closeSync(fd);
  }
  return out;
}

/** Best effort: a file left behind is removed by the next sweep. */
export function removePieceFiles(dir: string, names: readonly string[]): void {
  for (const name of names) {
    try {
      unlinkSync(join(dir, name));
    } catch {
      // already gone, or the next sweep's
    }
  }
}

/** Removes the consumer's files that `keep` does not name (writes no commit refers to). */
export function sweepPieceFiles(dir: string, consumer: string, keep: ReadonlySet<string>): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return; // no directory: no file
  }
  const prefix = prefixOf(consumer);
  removePieceFiles(
    dir,
    names.filter((n) => n.startsWith(prefix) && n.endsWith('.piece') && !keep.has(n)),
  );
}
