/**
 * Fault injection around the REAL adapters: nothing here stands in for a component. The log
 * and the dead letters are the real ones on real files, with their write and fsync calls
 * (AppendIo) wrapped so that a chosen or random call fails the way a full or failing disk
 * makes it fail (a short write then ENOSPC, an fsync that returns EIO); the store is the real
 * SQLite store, whose commits fail before they land (SQLITE_FULL) or after (the answer lost);
 * reads of the real log fail with EIO.
 */
import type { FileHandle } from 'node:fs/promises';
import { realAppendIo, type AppendIo } from '../../src/adapters/log-embedded/index.js';
import type { SqliteAggregateStore } from '../../src/adapters/store-sqlite/index.js';
import { Prng } from '../../src/core/generate/index.js';
import { TallyError } from '../../src/core/errors.js';
import type { AggregateSink, Checkpoint, CommitBatch } from '../../src/ports/aggregate-sink.js';
import type {
  AppendResult,
  EventLog,
  PartitionAppend,
  ReadResult,
} from '../../src/ports/event-log.js';

export function errnoError(code: 'ENOSPC' | 'EIO' | 'EDQUOT', syscall: string): Error {
  const text = {
    ENOSPC: 'no space left on device',
    EIO: 'i/o error',
    EDQUOT: 'disk quota exceeded',
  };
  return Object.assign(new Error(`${code}: ${text[code]}, ${syscall}`), { code, syscall });
}

export type FaultKind =
  | 'short-write'
  | 'failed-fsync'
  | 'commit-before'
  | 'commit-after'
  | 'checkpoint-read'
  | 'log-read';

/** Where faults strike: at a rate per call (seeded), or on command (`next`). */
export class Faults {
  /** per call kind, the probability that a call fails while `on` */
  rates: Partial<Record<FaultKind, number>> = {};
  on = true;
  /** faults that strike at the next call of their kind, whatever the rates */
  readonly next = new Set<FaultKind>();
  /** faults that struck, by kind */
  readonly struck: Record<FaultKind, number> = {
    'short-write': 0,
    'failed-fsync': 0,
    'commit-before': 0,
    'commit-after': 0,
    'checkpoint-read': 0,
    'log-read': 0,
  };
  readonly rng: Prng;

  constructor(seed: number) {
    this.rng = new Prng(seed);
  }

  strikes(kind: FaultKind): boolean {
    const hit = this.next.delete(kind) || (this.on && this.rng.next() < (this.rates[kind] ?? 0));
    if (hit) this.struck[kind]++;
    return hit;
  }

  total(): number {
    return Object.values(this.struck).reduce((a, b) => a + b, 0);
  }
}

/**
 * The real write + fsync, failing now and then: a short write (a random prefix of the bytes
 * reaches the file, then ENOSPC, as a filling disk does) or an fsync that fails with EIO after
 * every byte was written (the page cache holds them; the disk may not).
 */
export function faultyIo(faults: Faults): AppendIo {
  return {
    async write(fh: FileHandle, buffers: readonly Uint8Array[], position: number) {
      if (!faults.strikes('short-write')) return realAppendIo.write(fh, buffers, position);
      const total = buffers.reduce((n, b) => n + b.byteLength, 0);
      let keep = Math.floor(faults.rng.next() * total);
      const prefix: Uint8Array[] = [];
      for (const b of buffers) {
        if (keep <= 0) break;
        prefix.push(b.subarray(0, Math.min(keep, b.byteLength)));
        keep -= b.byteLength;
      }
      if (prefix.length > 0) await realAppendIo.write(fh, prefix, position);
      throw errnoError('ENOSPC', 'write');
    },
    async sync(fh: FileHandle) {
      await realAppendIo.sync(fh);
      if (faults.strikes('failed-fsync')) throw errnoError('EIO', 'fsync');
    },
  };
}

/** The real SQLite store; commits fail before they land or after (a lost answer). */
export class FaultyStore implements AggregateSink {
  constructor(
    readonly inner: SqliteAggregateStore,
    private readonly faults: Faults,
  ) {}

  async commit(batch: CommitBatch): Promise<void> {
    if (this.faults.strikes('commit-before')) {
      throw new TallyError(
        'TALLY_STORAGE_FULL',
        'sqlite store: commit failed: database or disk is full',
        {
          details: { sqliteCode: 'SQLITE_FULL' },
        },
      );
    }
    await this.inner.commit(batch);
    if (this.faults.strikes('commit-after')) {
      throw new TallyError('TALLY_STORAGE_FAILED', 'sqlite store: commit failed: disk I/O error', {
        details: { sqliteCode: 'SQLITE_IOERR_FSYNC' },
      });
    }
  }

  async loadCheckpoint(consumer: string): Promise<Checkpoint> {
    if (this.faults.strikes('checkpoint-read')) {
      throw new TallyError(
        'TALLY_STORAGE_FAILED',
        'sqlite store: loadCheckpoint failed: disk I/O error',
        {
          details: { sqliteCode: 'SQLITE_IOERR_READ' },
        },
      );
    }
    return this.inner.loadCheckpoint(consumer);
  }
}

/** The real log, whose reads fail now and then with EIO. */
export class FaultyReads implements EventLog {
  constructor(
    readonly inner: EventLog,
    private readonly faults: Faults,
  ) {}

  get partitions(): number {
    return this.inner.partitions;
  }

  append(batches: PartitionAppend[]): Promise<AppendResult> {
    return this.inner.append(batches);
  }

  async read(partition: number, fromOffset: number, maxRecords: number): Promise<ReadResult> {
    if (this.faults.strikes('log-read')) throw errnoError('EIO', 'read');
    return this.inner.read(partition, fromOffset, maxRecords);
  }

  endOffset(partition: number): number {
    return this.inner.endOffset(partition);
  }

  startOffset(partition: number): number {
    return this.inner.startOffset(partition);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
