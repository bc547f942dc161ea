import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { TallyError } from '../../core/errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One writer per data dir: the embedded log and store have a single owner process. The lock
 * file holds the owner's pid; a lock left by a killed process (kill -9) is taken over.
 */
export function lockDataDir(dir: string): { release(): void } {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'tally.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          try {
            unlinkSync(file);
          } catch {
            // already gone: nothing to release
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number.parseInt(readFileSync(file, 'utf8'), 10);
      } catch {
        continue; // removed between our open and read: try again
      }
      if (Number.isInteger(owner) && owner !== process.pid && alive(owner)) {
        throw new TallyError(
          'TALLY_UNAVAILABLE',
          `data dir ${dir} is in use by process ${owner} (one process owns a data dir; stop it or use another --data-dir)`,
          { field: 'dataDir' },
        );
      }
      try {
        unlinkSync(file); // stale: its owner is gone
      } catch {
        // another process took it over first; the next attempt sees its pid
      }
    }
  }
  throw new TallyError('TALLY_UNAVAILABLE', `data dir ${dir}: cannot take the lock`, {
    field: 'dataDir',
  });
}
