import type { FileHandle } from 'node:fs/promises';
import { START, type CheckpointEntry, type Position } from './checkpoint.js';
import { readFully, type Fingerprint } from './identity.js';

/**
 * One file being followed, held open: a renamed or deleted file is still read to its end
 * through the handle. Two positions: `read` (what has been read and handed to the sink) and
 * `durable` (what the sink has made durable; only this is checkpointed).
 */
export class FollowedFile {
  read: Position;
  durable: Position;
  /** the size at the last scan */
  size: number;
  /** the size at which the unread rest was one unfinished line: wait until it grows */
  waitingAt = -1;
  /** a read found the first bytes changed: the next scan checks for a truncation */
  headChanged = false;
  /** no longer under any watched name (renamed or deleted away): finish it, then forget it */
  rotated = false;
  /** rotated away by deletion: `path` is the name it had */
  deleted = false;
  /** when the size last changed (or the file was rotated away) */
  lastChangeAt: number;
  /** rotated away and idle long enough: its unterminated last line may be sent */
  flushTail = false;
  /**
   * A copy of the followed file with this key (copy-truncate's copy, seen before the
   * truncation): its lines are that file's, so it is not read. When that file is truncated
   * the copy is where the lines after its position are; otherwise it is already read.
   */
  copyOf: string | undefined = undefined;
  /** the durable marks of this file's sends, in the order they were made */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly fh: FileHandle,
    readonly key: string,
    public path: string,
    public fingerprint: Fingerprint,
    from: Position,
    size: number,
    now: number,
  ) {
    this.read = { ...from };
    this.durable = { ...from };
    this.size = size;
    this.lastChangeAt = now;
  }

  get source(): string {
    return `file:${this.path}`;
  }

  /** Unread bytes that may make a send: a grown file, a line being skipped, a final flush. */
  hasWork(): boolean {
    return (
      this.copyOf === undefined &&
      this.read.offset < this.size &&
      (this.size > this.waitingAt || this.flushTail)
    );
  }

  /** Runs `mark` once `durable` has resolved and every earlier send of this file was marked. */
  afterEarlier(durable: Promise<unknown>, mark: () => void): Promise<void> {
    const p = this.chain.then(() => durable).then(mark);
    this.chain = p;
    return p;
  }

  /** Reading resumes where the durable position is (after a failed send: all is read again). */
  rewind(): void {
    this.read = { ...this.durable };
    this.waitingAt = -1;
    this.chain = Promise.resolve();
  }

  /** The file was truncated in place (copy-truncate): its content starts again at byte 0. */
  restart(fingerprint: Fingerprint): void {
    this.read = { ...START };
    this.durable = { ...START };
    this.fingerprint = fingerprint;
    this.waitingAt = -1;
  }

  /** Reading goes on from `from` (a copy taking over where the truncated original was). */
  resumeAt(from: Position): void {
    this.read = { ...from };
    this.durable = { ...from };
    this.copyOf = undefined;
    this.waitingAt = -1;
  }

  entry(): CheckpointEntry {
    const [dev = '', ino = ''] = this.key.split(':');
    return {
      dev,
      ino,
      path: this.path,
      fingerprint: this.fingerprint,
      position: { ...this.durable },
      rotated: this.rotated,
    };
  }
}

/**
 * The position after every byte of the first `size` of the open file: its lines counted (as
 * the encoder counts them: every LF, and non-blank lines as records). An unterminated last
 * line is counted and left `skipping`, so that whatever is appended to it later is skipped.
 * For a copy whose content has already been read through its original. Reads in `buf`.
 */
export async function positionAtEnd(
  fh: FileHandle,
  size: number,
  buf: Uint8Array,
): Promise<Position> {
  let line = 0;
  let record = 0;
  let content = false;
  for (let at = 0; at < size;) {
    const n = await readFully(fh, buf, Math.min(buf.length, size - at), at);
    if (n === 0) break;
    const bytes = buf.subarray(0, n);
    for (let i = 0; i < n;) {
      let nl = bytes.indexOf(10, i);
      if (nl < 0) nl = n;
      // a line is a record once it has a byte other than blanks: usually its first one
      for (let j = i; !content && j < nl; j++) {
        const b = bytes[j]!;
        if (b !== 32 && b !== 9 && b !== 13) content = true;
      }
      if (nl < n) {
        line++;
        if (content) record++;
        content = false;
      }
      i = nl + 1;
    }
    at += n;
  }
  const open = size > 0 && (await lastByte(fh, size, buf)) !== 10;
  return {
    offset: size,
    line: open ? line + 1 : line,
    record: open && content ? record + 1 : record,
    skipping: open,
  };
}

async function lastByte(fh: FileHandle, size: number, buf: Uint8Array): Promise<number> {
  const n = await readFully(fh, buf, 1, size - 1);
  return n === 1 ? buf[0]! : -1;
}
