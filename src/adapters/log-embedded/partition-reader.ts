import { TallyError } from '../../core/errors.js';
import type { ReadResult } from '../../ports/event-log.js';
import { BATCH_HEADER_BYTES, decodeBatchHeader } from './batch-header.js';
import { crc32 } from './crc32.js';
import { readAt } from './fs-durable.js';
import type { Chunk, ChunkBatch, Partition } from './partition.js';
import { countFramedRecords, skipFramedRecords } from './record-framing.js';
import type { Segment } from './segment.js';

// sequential consumers get ~1 MiB per disk read; later reads are served from the cached chunk
const CHUNK_BYTES = 1024 * 1024;

const EMPTY = Buffer.alloc(0);

export function corruptError(
  p: Partition,
  offset: number,
  segment: string,
  position: number,
  reason: string,
): TallyError {
  return new TallyError(
    'TALLY_LOG_CORRUPT',
    `partition ${p.id} is corrupt at offset ${offset} (segment ${segment}, byte ${position}): ${reason}`,
    { details: { partition: p.id, offset, segment, position, reason } },
  );
}

/**
 * Reads up to `maxRecords` whole records from `from` (which may fall inside a batch). The
 * result never spans chunks, so it may hold fewer records than asked for; it is a view into
 * the chunk when it comes from one batch and a single copy otherwise. Treat it as read-only.
 */
export async function readPartition(
  p: Partition,
  from: number,
  maxRecords: number,
): Promise<ReadResult> {
  if (from >= p.durableEnd) {
    return { data: EMPTY, count: 0, fromOffset: from, nextOffset: from, lastAppendTime: 0 };
  }
  const range = p.corruptRangeAt(from);
  if (range !== undefined) {
    throw corruptError(p, from, range.segment, range.position, range.reason);
  }
  const chunk = await chunkHolding(p, from);
  return cutRecords(chunk, from, maxRecords);
}

async function chunkHolding(p: Partition, from: number): Promise<Chunk> {
  const seg = p.segmentFor(from);
  const cached = p.cache;
  if (cached?.segment === seg && from >= cached.firstOffset && from < cached.endOffset) {
    return cached;
  }
  let at = seg.indexEntryFor(from);
  // continuing where the cached chunk ended beats an index entry further back
  if (
    cached?.segment === seg &&
    cached.damage === undefined &&
    cached.endOffset <= from &&
    cached.endOffset > at.offset
  ) {
    at = { offset: cached.endOffset, position: cached.endPosition };
  }
  for (;;) {
    const chunk = await loadChunk(p, seg, at.position, at.offset);
    if (from < chunk.endOffset) {
      p.cache = chunk;
      return chunk;
    }
    if (chunk.damage !== undefined || chunk.batches.length === 0) {
      const d = chunk.damage ?? {
        position: at.position,
        reason: 'no batch where the index points',
      };
      throw corruptError(p, from, seg.name, d.position, d.reason);
    }
    at = { offset: chunk.endOffset, position: chunk.endPosition };
  }
}

/**
 * Reads whole batches from `position` (~CHUNK_BYTES, or all of one bigger batch), checking
 * each one's header, payload CRC, record framing and offset continuity. It stops before the
 * first bad batch and records why, so the records before it stay readable.
 */
async function loadChunk(
  p: Partition,
  seg: Segment,
  position: number,
  expectedOffset: number,
): Promise<Chunk> {
  const limit = seg.durableSize;
  const fh = await seg.acquire();
  let buf: Buffer;
  try {
    await p.noteOpen(seg);
    buf = await readAt(fh, position, Math.min(CHUNK_BYTES, limit - position));
    if (buf.byteLength >= BATCH_HEADER_BYTES) {
      const h = decodeBatchHeader(buf, 0);
      const total = typeof h === 'string' ? 0 : BATCH_HEADER_BYTES + h.payloadBytes;
      if (total > buf.byteLength && position + total <= limit) {
        buf = await readAt(fh, position, total);
      }
    }
  } finally {
    seg.release();
  }

  const batches: ChunkBatch[] = [];
  let damage: Chunk['damage'];
  let at = 0;
  let offset = expectedOffset;
  while (at < buf.byteLength) {
    const problem = checkBatch(buf, at, offset);
    if (problem === 'partial') {
      // a batch cut by the chunk end is read by the next chunk, unless the file ends there
      if (position + buf.byteLength >= limit) {
        damage = { position: position + at, reason: 'batch runs past the end of the segment' };
      }
      break;
    }
    if (typeof problem === 'string') {
      damage = { position: position + at, reason: problem };
      break;
    }
    batches.push({
      offset,
      count: problem.recordCount,
      appendTime: problem.appendTime,
      start: at + BATCH_HEADER_BYTES,
      end: at + BATCH_HEADER_BYTES + problem.payloadBytes,
    });
    at += BATCH_HEADER_BYTES + problem.payloadBytes;
    offset += problem.recordCount;
  }
  return {
    segment: seg,
    buf,
    batches,
    firstOffset: expectedOffset,
    endOffset: offset,
    endPosition: position + at,
    damage,
    hintOffset: -1,
    hintIndex: 0,
    hintPosition: 0,
  };
}

function checkBatch(
  buf: Buffer,
  at: number,
  expectedOffset: number,
): ReturnType<typeof decodeBatchHeader> | 'partial' {
  const left = buf.byteLength - at;
  if (left < BATCH_HEADER_BYTES) return 'partial';
  const h = decodeBatchHeader(buf, at);
  if (typeof h === 'string') return h;
  if (h.baseOffset !== expectedOffset) {
    return `batch claims offset ${h.baseOffset} where ${expectedOffset} was expected`;
  }
  const end = at + BATCH_HEADER_BYTES + h.payloadBytes;
  if (end > buf.byteLength) return 'partial';
  const payloadStart = at + BATCH_HEADER_BYTES;
  if (crc32(buf.subarray(payloadStart, end)) !== h.payloadCrc) return 'payload CRC mismatch';
  if (countFramedRecords(buf, payloadStart, end) !== h.recordCount) {
    return 'record framing does not match the batch record count';
  }
  return h;
}

function cutRecords(chunk: Chunk, from: number, maxRecords: number): ReadResult {
  const { buf, batches } = chunk;
  let idx: number;
  let pos: number;
  if (from === chunk.hintOffset) {
    idx = chunk.hintIndex;
    pos = chunk.hintPosition;
  } else {
    idx = batchIndexFor(batches, from);
    const b = batches[idx] as ChunkBatch;
    pos = skipFramedRecords(buf, b.start, from - b.offset, b.end);
  }
  const pieces: Buffer[] = [];
  let bytes = 0;
  let count = 0;
  let lastAppendTime = 0;
  while (count < maxRecords && idx < batches.length) {
    const b = batches[idx] as ChunkBatch;
    const available = b.offset + b.count - (from + count);
    const take = Math.min(available, maxRecords - count);
    const end = take === available ? b.end : skipFramedRecords(buf, pos, take, b.end);
    pieces.push(buf.subarray(pos, end));
    bytes += end - pos;
    count += take;
    lastAppendTime = b.appendTime;
    if (take === available) {
      idx++;
      pos = batches[idx]?.start ?? 0;
    } else pos = end;
  }
  chunk.hintOffset = from + count;
  chunk.hintIndex = idx;
  chunk.hintPosition = pos;
  const data = pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces, bytes);
  return { data, count, fromOffset: from, nextOffset: from + count, lastAppendTime };
}

function batchIndexFor(batches: readonly ChunkBatch[], offset: number): number {
  let lo = 0;
  let hi = batches.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((batches[mid] as ChunkBatch).offset <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
