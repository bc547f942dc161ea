/**
 * A followed file is known by its identity, not its name: device + inode (what stays the same
 * when a file is renamed by rotation), plus a fingerprint of its first bytes. While the
 * watcher holds a file open its inode cannot be reused; across restarts it can (a file
 * deleted, another created), and the fingerprint tells the two apart.
 */
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/** bytes of a file's head the fingerprint covers (fewer while the file is shorter) */
export const FINGERPRINT_BYTES = 1024;

export interface Fingerprint {
  /** how many leading bytes `hash` covers */
  length: number;
  hash: string;
}

export const EMPTY_FINGERPRINT: Fingerprint = { length: 0, hash: '' };

/** "dev:ino" (bigint stats: 64-bit inode numbers survive). */
export function identityKey(st: BigIntStats): string {
  return `${st.dev}:${st.ino}`;
}

/** Reads up to `length` bytes at `position` into `buf` (from 0); returns how many it read. */
export async function readFully(
  fh: FileHandle,
  buf: Uint8Array,
  length: number,
  position: number,
): Promise<number> {
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await fh.read(buf, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

function hashOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

/** The fingerprint of the first min(size, FINGERPRINT_BYTES) bytes of the open file. */
export async function fingerprintOf(fh: FileHandle, size: number): Promise<Fingerprint> {
  const length = Math.min(size, FINGERPRINT_BYTES);
  if (length === 0) return EMPTY_FINGERPRINT;
  const buf = new Uint8Array(length);
  const n = await readFully(fh, buf, length, 0);
  return { length: n, hash: hashOf(buf.subarray(0, n)) };
}

/** Whether the open file still begins with the bytes `fp` was taken of. */
export async function headMatches(fh: FileHandle, fp: Fingerprint): Promise<boolean> {
  if (fp.length === 0) return true;
  const buf = new Uint8Array(fp.length);
  const n = await readFully(fh, buf, fp.length, 0);
  return n === fp.length && hashOf(buf) === fp.hash;
}

/**
 * The head of one open file read once, to be compared with many fingerprints (a new file
 * against every followed one): one read, one hash per fingerprint length.
 */
export async function headOf(fh: FileHandle, size: number): Promise<(fp: Fingerprint) => boolean> {
  const buf = new Uint8Array(Math.min(size, FINGERPRINT_BYTES));
  const n = await readFully(fh, buf, buf.length, 0);
  const hashes = new Map<number, string>();
  return (fp) => {
    if (fp.length > n) return false;
    let h = hashes.get(fp.length);
    if (h === undefined) {
      h = hashOf(buf.subarray(0, fp.length));
      hashes.set(fp.length, h);
    }
    return h === fp.hash;
  };
}

/** Whether two open files hold the same `length` bytes at `position` (both that long). */
export async function sameBytesAt(
  a: FileHandle,
  b: FileHandle,
  position: number,
  length: number,
): Promise<boolean> {
  const x = new Uint8Array(length);
  const y = new Uint8Array(length);
  const [n, m] = await Promise.all([
    readFully(a, x, length, position),
    readFully(b, y, length, position),
  ]);
  return n === length && m === length && Buffer.compare(x, y) === 0;
}
