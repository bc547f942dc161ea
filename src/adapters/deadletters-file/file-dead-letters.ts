import { mkdir, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { TallyError } from '../../core/errors.js';
import type { DeadLetter, DeadLetterStore } from '../../ports/dead-letters.js';
import { tryAcquireDirLock, type DirLock } from '../fs/dir-lock.js';
import { storageError } from '../fs/storage-error.js';
import { fsyncDir, readAt, realAppendIo, type AppendIo } from '../log-embedded/fs-durable.js';
import { GroupCommitQueue } from '../log-embedded/group-commit.js';
import { silentLogger, type Durability, type LogLogger } from '../log-embedded/types.js';
import { decodeLetter, encodeLetter } from './letter-codec.js';
import { indexLines } from './line-index.js';

export const DEAD_LETTERS_FILE = 'deadletters.ndjson';

export interface FileDeadLettersOptions {
  logger?: LogLogger;
  /** 'fsync' (default): add() resolves once the letters are on stable storage */
  durability?: Durability;
  /** how added lines are written and fsynced (tests wrap it to inject faults) */
  io?: AppendIo;
}

/** What opening found at the end of the file: a torn write, cut off. */
export interface DeadLettersRecovery {
  file: string;
  position: number;
  bytesDropped: number;
}

export interface FileDeadLetters extends DeadLetterStore {
  /**
   * true when another live process holds the directory (e.g. `tally deadletters` while
   * `tally start` runs): list and count work on the file as it was at open, add refuses
   */
  readonly readOnly: boolean;
  recoveryReport(): DeadLettersRecovery | undefined;
  /**
   * While a failed write has stopped adds: cuts the file back to its durable lines and checks
   * that it takes a write again; rejects with the storage error while it does not.
   */
  probe(): Promise<void>;
  /** the storage error that stopped adds, until a repair succeeds */
  readonly failure: TallyError | undefined;
}

/**
 * Dead letters in one append-only NDJSON file, `deadletters.ndjson` under `dir`. Concurrent
 * adds are group-committed: one write and one fsync per group.
 */
export async function openFileDeadLetters(
  dir: string,
  opts: FileDeadLettersOptions = {},
): Promise<FileDeadLetters> {
  const logger = opts.logger ?? silentLogger;
  if ((await mkdir(dir, { recursive: true })) !== undefined) await fsyncDir(dirname(resolve(dir)));
  const lock = await tryAcquireDirLock(dir);
  const writer = 'release' in lock ? lock : undefined;
  const path = join(dir, DEAD_LETTERS_FILE);
  let fh: FileHandle | undefined;
  try {
    fh = writer !== undefined ? await openForAppending(path) : await openIfExists(path);
  } catch (e) {
    await writer?.release();
    throw e;
  }
  // a reader that came before the writer created the file: nothing to list yet
  if (fh === undefined) return new EmptyDeadLetters();

  try {
    const size = (await fh.stat()).size;
    const lines = await indexLines(fh, size);
    let recovery: DeadLettersRecovery | undefined;
    if (writer !== undefined && lines.end < size) {
      await fh.truncate(lines.end);
      await fh.sync();
      recovery = { file: path, position: lines.end, bytesDropped: size - lines.end };
      logger.warn(recovery, 'dead letters: torn tail cut off on open');
    }
    return new FileDeadLettersImpl(path, fh, lines.starts, lines.end, {
      lock: writer,
      fsync: (opts.durability ?? 'fsync') === 'fsync',
      recovery,
      io: opts.io ?? realAppendIo,
    });
  } catch (e) {
    await fh.close();
    await writer?.release();
    throw e;
  }
}

/** Opens for positional writes at a tracked end (so not O_APPEND), creating the file durably. */
async function openForAppending(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r+');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const fh = await open(path, 'wx+');
  await fsyncDir(dirname(path));
  return fh;
}

async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function checkListArgs(limit: number, offset: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new TallyError('TALLY_BAD_PARAMETER', 'limit must be an integer ≥ 0', { field: 'limit' });
  }
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new TallyError('TALLY_BAD_PARAMETER', 'offset must be an integer ≥ 0', {
      field: 'offset',
    });
  }
}

class FileDeadLettersImpl implements FileDeadLetters {
  readonly readOnly: boolean;
  private readonly queue: GroupCommitQueue<Buffer>;
  private readonly lock: DirLock | undefined;
  private readonly fsync: boolean;
  private readonly io: AppendIo;
  private readonly recovery: DeadLettersRecovery | undefined;
  private closing: Promise<void> | undefined;
  private failed: TallyError | undefined;
  private repairing: Promise<void> | undefined;

  constructor(
    private readonly path: string,
    private readonly fh: FileHandle,
    /** start of every durable line; `end` is where the next one goes */
    private readonly starts: number[],
    private end: number,
    opts: {
      lock: DirLock | undefined;
      fsync: boolean;
      recovery: DeadLettersRecovery | undefined;
      io: AppendIo;
    },
  ) {
    this.io = opts.io;
    this.lock = opts.lock;
    this.readOnly = opts.lock === undefined;
    this.fsync = opts.fsync;
    this.recovery = opts.recovery;
    this.queue = new GroupCommitQueue((lines) => this.flush(lines));
  }

  async add(letters: DeadLetter[]): Promise<void> {
    this.assertOpen();
    if (this.readOnly) {
      throw new TallyError(
        'TALLY_UNAVAILABLE',
        `${this.path} is written by another process; this store is read-only`,
      );
    }
    if (letters.length === 0) return;
    if (this.failed !== undefined) await this.repair();
    await this.queue.submit(Buffer.from(letters.map(encodeLetter).join(''), 'utf8'));
  }

  get failure(): TallyError | undefined {
    return this.failed;
  }

  async probe(): Promise<void> {
    this.assertOpen();
    if (this.failed === undefined) return;
    await this.repair();
    // a full line's worth: the repair alone frees the torn bytes and so succeeds on a full disk
    const probe = Buffer.alloc(64 * 1024, 0x20);
    try {
      await this.io.write(this.fh, [probe], this.end);
      if (this.fsync) await this.io.sync(this.fh);
      await this.fh.truncate(this.end);
      if (this.fsync) await this.fh.datasync();
    } catch (e) {
      this.failed = storageError('dead letters: probe write', this.path, e);
      throw this.failed;
    }
  }

  /** Cuts the file back to its durable lines (a torn tail of the failed adds); adds resume. */
  private repair(): Promise<void> {
    this.repairing ??= (async () => {
      try {
        await this.queue.drain();
        const size = (await this.fh.stat()).size;
        if (size !== this.end) await this.fh.truncate(this.end);
        if (this.fsync) await this.fh.sync();
        this.queue.reset();
        this.failed = undefined;
      } catch (e) {
        this.failed = storageError('dead letters: repair after a failed write', this.path, e);
        throw this.failed;
      } finally {
        this.repairing = undefined;
      }
    })();
    return this.repairing;
  }

  async list(limit: number, offset = 0): Promise<DeadLetter[]> {
    this.assertOpen();
    checkListArgs(limit, offset);
    const first = Math.min(offset, this.starts.length);
    const last = Math.min(offset + limit, this.starts.length);
    if (first >= last) return [];
    const from = this.starts[first] as number;
    const to = last < this.starts.length ? (this.starts[last] as number) : this.end;
    const text = (await readAt(this.fh, from, to - from)).toString('utf8');
    const lines = text.split('\n');
    lines.pop(); // the text ends with a newline
    return lines.map((line, i) => {
      const letter = decodeLetter(line);
      if (letter === undefined) {
        throw new TallyError(
          'TALLY_LOG_CORRUPT',
          `${this.path}: line ${first + i + 1} is not a dead letter`,
          { details: { file: this.path, line: first + i + 1 } },
        );
      }
      return letter;
    });
  }

  async count(): Promise<number> {
    this.assertOpen();
    return this.starts.length;
  }

  recoveryReport(): DeadLettersRecovery | undefined {
    return this.recovery === undefined ? undefined : { ...this.recovery };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.queue.drain();
      await this.fh.close();
      await this.lock?.release();
    })();
    return this.closing;
  }

  private async flush(chunks: Buffer[]): Promise<void> {
    try {
      await this.io.write(this.fh, chunks, this.end);
      if (this.fsync) await this.io.sync(this.fh);
    } catch (cause) {
      // adds stop until repair(): the next add (or probe) cuts the torn tail first
      this.failed = storageError('dead letters: write', this.path, cause);
      throw this.failed;
    }
    // lines become visible to list() only once durable
    for (const chunk of chunks) {
      for (let i = 0; i < chunk.byteLength;) {
        this.starts.push(this.end + i);
        i = chunk.indexOf(0x0a, i) + 1;
      }
      this.end += chunk.byteLength;
    }
  }

  private assertOpen(): void {
    if (this.closing !== undefined) {
      throw new TallyError('TALLY_UNAVAILABLE', `${this.path}: the dead-letter store is closed`);
    }
  }
}

/** A reader opened before the writer created the file. */
class EmptyDeadLetters implements FileDeadLetters {
  readonly readOnly = true;
  async add(): Promise<void> {
    throw new TallyError('TALLY_UNAVAILABLE', 'the dead-letter store is read-only');
  }
  async list(limit: number, offset = 0): Promise<DeadLetter[]> {
    checkListArgs(limit, offset);
    return [];
  }
  async count(): Promise<number> {
    return 0;
  }
  recoveryReport(): undefined {
    return undefined;
  }
  readonly failure = undefined;
  async probe(): Promise<void> {}
  async close(): Promise<void> {}
}
