import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

const NAME_DIGITS = 20;
const SEGMENT_SUFFIX = '.seg';
// one index entry per this many bytes of batches (Kafka's index.interval.bytes): bounded memory,
// and a lookup lands at most one small walk before the wanted batch
export const INDEX_INTERVAL_BYTES = 4096;

export function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(NAME_DIGITS, '0')}${SEGMENT_SUFFIX}`;
}

/** The base offset a segment file name encodes, or undefined for other files. */
export function parseSegmentFileName(name: string): number | undefined {
  const m = /^(\d{20})\.seg$/.exec(name);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * One append-only file of record batches, named by the offset of its first record, with a
 * sparse in-memory index (offset → byte position of a batch that starts there).
 */
export class Segment {
  readonly name: string;
  readonly path: string;
  /** bytes of complete batches written */
  size = 0;
  /** bytes readers may see: written and, under 'fsync', on stable storage */
  durableSize = 0;
  /** offset after the last batch written */
  endOffset: number;

  private readonly indexOffsets: number[] = [];
  private readonly indexPositions: number[] = [];
  private lastIndexedPosition = -Infinity;

  private handle: Promise<FileHandle> | undefined;
  private refs = 0;
  private retired = false;

  constructor(
    dir: string,
    readonly baseOffset: number,
    private writable: boolean,
  ) {
    this.name = segmentFileName(baseOffset);
    this.path = join(dir, this.name);
    this.endOffset = baseOffset;
  }

  /** Records a batch at `position`; `force` indexes it even if the last entry is near. */
  indexBatch(offset: number, position: number, force = false): void {
    if (!force && position - this.lastIndexedPosition < INDEX_INTERVAL_BYTES) return;
    this.indexOffsets.push(offset);
    this.indexPositions.push(position);
    this.lastIndexedPosition = position;
  }

  /** The last indexed batch starting at or before `offset` (the segment start if none). */
  indexEntryFor(offset: number): { offset: number; position: number } {
    let lo = 0;
    let hi = this.indexOffsets.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.indexOffsets[mid] as number) <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return { offset: this.baseOffset, position: 0 };
    return {
      offset: this.indexOffsets[found] as number,
      position: this.indexPositions[found] as number,
    };
  }

  /** Opens the file on first use; pair every acquire with a release. */
  async acquire(): Promise<FileHandle> {
    this.refs++;
    try {
      this.handle ??= open(this.path, this.writable ? 'r+' : 'r');
      return await this.handle;
    } catch (e) {
      this.handle = undefined;
      this.release();
      throw e;
    }
  }

  release(): void {
    this.refs--;
    if (this.retired && this.refs === 0) void this.closeHandle();
  }

  get isOpen(): boolean {
    return this.handle !== undefined;
  }

  get inUse(): boolean {
    return this.refs > 0;
  }

  /** No more writes go here: the next acquire opens it read-only. */
  seal(): void {
    this.writable = false;
  }

  /** Closes the file now if nobody is reading it (the next acquire reopens it). */
  async closeIfIdle(): Promise<void> {
    if (this.refs === 0) await this.closeHandle();
  }

  /** The segment is being deleted: close the file once the last reader lets go. */
  async retire(): Promise<void> {
    this.retired = true;
    await this.closeIfIdle();
  }

  private async closeHandle(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    if (h !== undefined) await (await h.catch(() => undefined))?.close();
  }
}
