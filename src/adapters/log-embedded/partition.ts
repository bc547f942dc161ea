import { open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from './fs-durable.js';
import { Segment, parseSegmentFileName } from './segment.js';

// sealed segments keep their file open while read, up to this many per partition
const MAX_OPEN_SEALED = 4;

export function partitionDirName(partition: number): string {
  return `p-${String(partition).padStart(3, '0')}`;
}

/** Offsets whose bytes are damaged: reads there fail with TALLY_LOG_CORRUPT. */
export interface CorruptRange {
  fromOffset: number;
  toOffset: number;
  segment: string;
  position: number;
  reason: string;
}

/** Whole, CRC-checked batches read from one segment, kept for the next sequential read. */
export interface Chunk {
  segment: Segment;
  buf: Buffer;
  batches: ChunkBatch[];
  firstOffset: number;
  endOffset: number;
  /** file position just after the last batch in the chunk */
  endPosition: number;
  /** damage right after the last good batch: reads from `endOffset` fail */
  damage: { position: number; reason: string } | undefined;
  /** where the previous read stopped inside the chunk, so the next one need not re-walk */
  hintOffset: number;
  hintIndex: number;
  hintPosition: number;
}

export interface ChunkBatch {
  offset: number;
  count: number;
  appendTime: number;
  /** payload byte range in `Chunk.buf` */
  start: number;
  end: number;
}

/** One partition: its segments (oldest first, the last one active) and offsets. */
export class Partition {
  /** the offset the next enqueued record gets */
  nextOffset: number;
  /** records below this are written (and fsynced under 'fsync'): the readable end */
  durableEnd: number;
  cache: Chunk | undefined;
  private openSealed: Segment[] = [];

  constructor(
    readonly id: number,
    readonly dir: string,
    readonly segments: Segment[],
    readonly corrupt: CorruptRange[],
  ) {
    this.nextOffset = this.active.endOffset;
    this.durableEnd = this.nextOffset;
  }

  get active(): Segment {
    return this.segments[this.segments.length - 1] as Segment;
  }

  get startOffset(): number {
    return (this.segments[0] as Segment).baseOffset;
  }

  /** The segment holding `offset` (which must be ≥ startOffset). */
  segmentFor(offset: number): Segment {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.segments[mid] as Segment).baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return this.segments[lo] as Segment;
  }

  corruptRangeAt(offset: number): CorruptRange | undefined {
    return this.corrupt.find((r) => offset >= r.fromOffset && offset < r.toOffset);
  }

  /**
   * Starts a new active segment at `baseOffset`. The caller has made the old one durable
   * first, so a segment file only ever exists after complete, durable predecessors.
   */
  async roll(baseOffset: number, durable: boolean): Promise<Segment> {
    const old = this.active;
    const seg = new Segment(this.dir, baseOffset, true);
    const fh = await open(seg.path, 'wx+');
    await fh.close();
    if (durable) await fsyncDir(this.dir);
    old.seal();
    this.segments.push(seg);
    await this.noteOpen(old);
    return seg;
  }

  /** Keeps at most a few sealed segment files open: a long log would exhaust descriptors. */
  async noteOpen(seg: Segment): Promise<void> {
    if (seg === this.active) return;
    this.openSealed = this.openSealed.filter((s) => s !== seg);
    this.openSealed.push(seg);
    while (this.openSealed.length > MAX_OPEN_SEALED) {
      const victim = this.openSealed.findIndex((s) => !s.inUse);
      if (victim < 0) break;
      const [s] = this.openSealed.splice(victim, 1);
      await s?.closeIfIdle();
    }
  }

  /**
   * After a failed write (a full disk, an I/O error): cuts the active segment back to the
   * bytes that were durable (a torn tail of the failed batches), removes a segment file that
   * a failed roll created but never used, fsyncs, and gives back the offsets handed to the
   * batches that failed, so the next append continues gap-free at `durableEnd`. Returns the
   * bytes cut off. Everything below `durableEnd` was fsynced before the failure, so it stays.
   */
  async repairAfterFailedWrite(durable: boolean): Promise<number> {
    const known = new Set(this.segments.map((s) => s.name));
    let removed = false;
    for (const name of await readdir(this.dir)) {
      if (parseSegmentFileName(name) !== undefined && !known.has(name)) {
        await rm(join(this.dir, name), { force: true });
        removed = true;
      }
    }
    const seg = this.active;
    // a fresh descriptor: the one that saw the failure is not trusted to report the next one
    await seg.closeIfIdle();
    const fh = await seg.acquire();
    let cut = 0;
    try {
      const size = (await fh.stat()).size;
      if (size !== seg.size) {
        await fh.truncate(seg.size);
        cut = size - seg.size;
      }
      if (durable) await fh.sync();
    } finally {
      seg.release();
    }
    if (removed && durable) await fsyncDir(this.dir);
    this.nextOffset = this.durableEnd;
    return cut;
  }

  /** Removes whole sealed segments whose every record is below `offset`. */
  async deleteSegmentsBefore(offset: number, durable: boolean): Promise<string[]> {
    const doomed: Segment[] = [];
    while (this.segments.length > 1 && (this.segments[1] as Segment).baseOffset <= offset) {
      doomed.push(this.segments.shift() as Segment);
    }
    if (doomed.length === 0) return [];
    const start = this.startOffset;
    if (this.cache !== undefined && doomed.includes(this.cache.segment)) this.cache = undefined;
    this.openSealed = this.openSealed.filter((s) => !doomed.includes(s));
    for (let i = this.corrupt.length - 1; i >= 0; i--) {
      if ((this.corrupt[i] as CorruptRange).toOffset <= start) this.corrupt.splice(i, 1);
    }
    for (const seg of doomed) {
      await seg.retire();
      await rm(seg.path, { force: true });
    }
    if (durable) await fsyncDir(this.dir);
    return doomed.map((s) => s.name);
  }

  bytes(): number {
    return this.segments.reduce((n, s) => n + s.size, 0);
  }

  async close(): Promise<void> {
    for (const seg of this.segments) await seg.retire();
    this.openSealed = [];
    this.cache = undefined;
  }
}

export function segmentDir(logDir: string, partition: number): string {
  return join(logDir, partitionDirName(partition));
}
