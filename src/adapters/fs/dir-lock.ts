import { open, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { TallyError } from '../../core/errors.js';

const LOCK_FILE = 'LOCK';

// two writers on one directory would hand out the same offsets (or file positions) twice
const heldHere = new Set<string>();

export interface DirLock {
  release(): Promise<void>;
}

/** Who holds a directory we could not lock: a live process (maybe this one). */
export interface LockHolder {
  heldBy: number;
}

/**
 * Claims `dir` for this process, or throws TALLY_UNAVAILABLE naming the holder.
 * See tryAcquireDirLock.
 */
export async function acquireDirLock(dir: string): Promise<DirLock> {
  const got = await tryAcquireDirLock(dir);
  if ('release' in got) return got;
  const where =
    got.heldBy === process.pid ? 'already open in this process' : `in use by process ${got.heldBy}`;
  throw new TallyError(
    'TALLY_UNAVAILABLE',
    `${dir} is ${where} (if that process is not Tally, remove ${join(dir, LOCK_FILE)})`,
    { field: 'dir', details: { dir, pid: got.heldBy } },
  );
}

/**
 * Claims `dir` for this process: a LOCK file holding our pid. A lock left by a process that
 * is gone (kill -9) is taken over. Advisory: it keeps a second Tally off the same directory,
 * nothing more.
 */
export async function tryAcquireDirLock(dir: string): Promise<DirLock | LockHolder> {
  const key = resolve(dir);
  if (heldHere.has(key)) return { heldBy: process.pid };
  heldHere.add(key);
  const path = join(dir, LOCK_FILE);
  try {
    const holder = await writeLock(path);
    if (holder !== undefined) {
      heldHere.delete(key);
      return { heldBy: holder };
    }
  } catch (e) {
    heldHere.delete(key);
    throw e;
  }
  return {
    async release() {
      heldHere.delete(key);
      await rm(path, { force: true });
    },
  };
}

/** Writes the lock file; returns the pid of a live holder instead if there is one. */
async function writeLock(path: string): Promise<number | undefined> {
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(`${process.pid}\n`);
      } finally {
        await fh.close();
      }
      return undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) throw e;
    }
    const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) return holder;
    // stale (its process is gone) or ours from an instance never closed: take it over
    await rm(path, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
