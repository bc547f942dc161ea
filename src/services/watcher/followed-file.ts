import type { FileHandle } from 'node:fs/promises';
import { START, type CheckpointEntry, type Position } from './checkpoint.js';
import type { Fingerprint } from './identity.js';

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
  /** no longer under any watched name (renamed or deleted away): finish it, then forget it */
  rotated = false;
  /** rotated away by deletion: `path` is the name it had */
  deleted = false;
  /** when the size last changed (or the file was rotated away) */
  lastChangeAt: number;
  /** rotated away and idle long enough: its unterminated last line may be sent */
  flushTail = false;
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
    return this.read.offset < this.size && (this.size > this.waitingAt || this.flushTail);
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
