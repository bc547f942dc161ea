import { open, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Makes a directory's entries (created, renamed, removed files) survive a power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `path` all-or-nothing: write a temporary file, fsync it, rename, fsync the directory. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}

// writev takes at most IOV_MAX buffers per call on Linux
const MAX_IOVECS = 1024;

/** Writes every byte of `buffers` at `position`, retrying short writes. */
export async function writeAllAt(
  fh: FileHandle,
  buffers: readonly Uint8Array[],
  position: number,
): Promise<void> {
  let pending = buffers.filter((b) => b.byteLength > 0);
  while (pending.length > 0) {
    const slice = pending.slice(0, MAX_IOVECS);
    const { bytesWritten } = await fh.writev(slice, position);
    if (bytesWritten === 0) throw new Error('writev wrote no bytes');
    position += bytesWritten;
    let left = bytesWritten;
    let i = 0;
    while (i < pending.length && left >= (pending[i] as Uint8Array).byteLength) {
      left -= (pending[i] as Uint8Array).byteLength;
      i++;
    }
    pending = pending.slice(i);
    if (left > 0) pending[0] = (pending[0] as Uint8Array).subarray(left);
  }
}

/** Reads up to `length` bytes at `position` into a fresh buffer, looping over short reads. */
export async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await fh.read(buf, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buf : buf.subarray(0, filled);
}

/**
 * The two calls that make appended bytes durable: write them at a position, then fsync. The
 * log and the dead letters take them as an option so that fault-injection tests can wrap the
 * real ones (a short write then ENOSPC, a failing fsync) around real files.
 */
export interface AppendIo {
  write(fh: FileHandle, buffers: readonly Uint8Array[], position: number): Promise<void>;
  sync(fh: FileHandle): Promise<void>;
}

export const realAppendIo: AppendIo = {
  write: writeAllAt,
  // datasync also flushes the file size, which is all an append changes
  sync: (fh) => fh.datasync(),
};
