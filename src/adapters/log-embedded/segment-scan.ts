import type { FileHandle } from 'node:fs/promises';
import {
  BATCH_HEADER_BYTES,
  BATCH_MAGIC_BYTES,
  decodeBatchHeader,
  type BatchHeader,
} from './batch-header.js';
import { crc32 } from './crc32.js';
import { readAt } from './fs-durable.js';

// header-only walks read small windows (payloads are skipped); verifying walks read big ones
const HEADER_WALK_WINDOW = 64 * 1024;
const VERIFY_WINDOW = 4 * 1024 * 1024;

/** A stretch of damaged bytes followed by intact batches: its records cannot be read. */
export interface ScanGap {
  position: number;
  fromOffset: number;
  toOffset: number;
  reason: string;
}

export interface SegmentScan {
  /** the position after the last intact batch */
  end: number;
  /** the offset after the last intact batch */
  endOffset: number;
  gaps: ScanGap[];
  /** damage with no intact batch after it: `end` is where it starts */
  tail: { reason: string } | undefined;
}

export interface ScanOptions {
  fh: FileHandle;
  fileSize: number;
  baseOffset: number;
  /** check every payload CRC (the newest segment, where a torn write can be) */
  verifyPayloads: boolean;
  onBatch: (offset: number, position: number, header: BatchHeader, afterGap: boolean) => void;
}

/** A read-ahead window over the file. */
class FileWindow {
  buf: Buffer = Buffer.alloc(0);
  start = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly fileSize: number,
    private readonly readAhead: number,
  ) {}

  get end(): number {
    return this.start + this.buf.byteLength;
  }

  /** Makes [pos, pos+len) available in `buf` (the caller checked it is inside the file). */
  async ensure(pos: number, len: number): Promise<void> {
    if (pos >= this.start && pos + len <= this.end) return;
    const want = Math.min(Math.max(len, this.readAhead), this.fileSize - pos);
    this.buf = await readAt(this.fh, pos, want);
    this.start = pos;
    if (this.buf.byteLength < len) throw new Error(`segment shrank while being scanned at ${pos}`);
  }
}

/**
 * Walks a segment's batches from the start, checking each header (magic, header CRC, the
 * expected base offset, that the payload fits in the file) and, with `verifyPayloads`, each
 * payload CRC. At damage it looks for the next intact batch: if there is one, the damage is a
 * gap in the middle (reported, never dropped); if not, it is the tail.
 */
export async function scanSegment(opts: ScanOptions): Promise<SegmentScan> {
  const { fh, fileSize, verifyPayloads, onBatch } = opts;
  const win = new FileWindow(fh, fileSize, verifyPayloads ? VERIFY_WINDOW : HEADER_WALK_WINDOW);
  const gaps: ScanGap[] = [];
  let pos = 0;
  let expected = opts.baseOffset;
  let afterGap = false;
  while (pos < fileSize) {
    const found = await checkBatchAt(win, fileSize, pos, expected, verifyPayloads);
    if (typeof found !== 'string') {
      onBatch(expected, pos, found, afterGap);
      afterGap = false;
      pos += BATCH_HEADER_BYTES + found.payloadBytes;
      expected += found.recordCount;
      continue;
    }
    const next = await findNextBatch(win, fileSize, pos + 1, expected);
    if (next === undefined) return { end: pos, endOffset: expected, gaps, tail: { reason: found } };
    gaps.push({ position: pos, fromOffset: expected, toOffset: next.offset, reason: found });
    pos = next.position;
    expected = next.offset;
    afterGap = true;
  }
  return { end: pos, endOffset: expected, gaps, tail: undefined };
}

/** The batch header at `pos` if an intact batch starts there, or why not. */
async function checkBatchAt(
  win: FileWindow,
  fileSize: number,
  pos: number,
  expectedOffset: number | undefined,
  verifyPayload: boolean,
): Promise<BatchHeader | string> {
  if (fileSize - pos < BATCH_HEADER_BYTES) {
    return `short header: ${fileSize - pos} of ${BATCH_HEADER_BYTES} bytes`;
  }
  await win.ensure(pos, BATCH_HEADER_BYTES);
  const header = decodeBatchHeader(win.buf, pos - win.start);
  if (typeof header === 'string') return header;
  if (expectedOffset !== undefined && header.baseOffset !== expectedOffset) {
    return `batch claims offset ${header.baseOffset} where ${expectedOffset} was expected`;
  }
  const total = BATCH_HEADER_BYTES + header.payloadBytes;
  if (pos + total > fileSize) {
    return `short payload: ${fileSize - pos - BATCH_HEADER_BYTES} of ${header.payloadBytes} bytes`;
  }
  if (verifyPayload) {
    await win.ensure(pos, total);
    const at = pos - win.start + BATCH_HEADER_BYTES;
    if (crc32(win.buf.subarray(at, at + header.payloadBytes)) !== header.payloadCrc) {
      return 'payload CRC mismatch';
    }
  }
  return header;
}

/** The next fully intact batch (payload CRC checked) at or after `from` with offset ≥ `minOffset`. */
async function findNextBatch(
  win: FileWindow,
  fileSize: number,
  from: number,
  minOffset: number,
): Promise<{ position: number; offset: number } | undefined> {
  let pos = from;
  while (pos + BATCH_HEADER_BYTES <= fileSize) {
    await win.ensure(pos, Math.min(VERIFY_WINDOW, fileSize - pos));
    const idx = win.buf.indexOf(BATCH_MAGIC_BYTES, pos - win.start);
    if (idx < 0) {
      if (win.end >= fileSize) return undefined;
      pos = win.end - (BATCH_MAGIC_BYTES.byteLength - 1);
      continue;
    }
    const candidate = win.start + idx;
    const header = await checkBatchAt(win, fileSize, candidate, undefined, true);
    if (typeof header !== 'string' && header.baseOffset >= minOffset) {
      return { position: candidate, offset: header.baseOffset };
    }
    pos = candidate + 1;
  }
  return undefined;
}
