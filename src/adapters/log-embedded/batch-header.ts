import { crc32 } from './crc32.js';

/**
 * Every append writes one record batch per partition: this fixed 40-byte header, then the
 * payload (the caller's concatenated framed records, opaque here). All integers little-endian.
 *
 *   0  u32 magic 'TLYB'        16 u32 record count        32 u32 CRC-32 of the payload
 *   4  u16 format version      20 u32 payload bytes       36 u32 CRC-32 of bytes 0..35
 *   6  u16 flags (0)           24 u64 append time, ms
 *   8  u64 base offset
 *
 * The header has its own CRC so a damaged length field is caught before it is trusted to
 * find the next batch.
 */
export const BATCH_MAGIC = 0x42594c54;
export const BATCH_MAGIC_BYTES = Buffer.from('TLYB', 'latin1');
export const BATCH_VERSION = 1;
export const BATCH_HEADER_BYTES = 40;
export const MAX_BATCH_PAYLOAD_BYTES = 0xffffffff;

const TWO_32 = 0x1_0000_0000;
// offsets and times must stay exact in a JS number
const MAX_HIGH_WORD = 0x1f_ffff;

export interface BatchHeader {
  baseOffset: number;
  recordCount: number;
  payloadBytes: number;
  appendTime: number;
  payloadCrc: number;
}

export function encodeBatchHeader(h: BatchHeader): Buffer {
  const b = Buffer.allocUnsafe(BATCH_HEADER_BYTES);
  b.writeUInt32LE(BATCH_MAGIC, 0);
  b.writeUInt16LE(BATCH_VERSION, 4);
  b.writeUInt16LE(0, 6);
  b.writeUInt32LE(h.baseOffset % TWO_32, 8);
  b.writeUInt32LE(Math.floor(h.baseOffset / TWO_32), 12);
  b.writeUInt32LE(h.recordCount, 16);
  b.writeUInt32LE(h.payloadBytes, 20);
  b.writeUInt32LE(h.appendTime % TWO_32, 24);
  b.writeUInt32LE(Math.floor(h.appendTime / TWO_32), 28);
  b.writeUInt32LE(h.payloadCrc, 32);
  b.writeUInt32LE(crc32(b.subarray(0, 36)), 36);
  return b;
}

/** The header at `pos` (which must have BATCH_HEADER_BYTES available), or why it is not one. */
export function decodeBatchHeader(buf: Buffer, pos: number): BatchHeader | string {
  if (buf.readUInt32LE(pos) !== BATCH_MAGIC) return 'bad magic';
  if (crc32(buf.subarray(pos, pos + 36)) !== buf.readUInt32LE(pos + 36))
    return 'header CRC mismatch';
  const version = buf.readUInt16LE(pos + 4);
  if (version !== BATCH_VERSION) return `unknown batch version ${version}`;
  const offsetHigh = buf.readUInt32LE(pos + 12);
  const timeHigh = buf.readUInt32LE(pos + 28);
  const recordCount = buf.readUInt32LE(pos + 16);
  const payloadBytes = buf.readUInt32LE(pos + 20);
  if (offsetHigh > MAX_HIGH_WORD || timeHigh > MAX_HIGH_WORD) return 'offset or time out of range';
  if (recordCount === 0 || payloadBytes < 4 * recordCount) return 'record count does not fit';
  return {
    baseOffset: offsetHigh * TWO_32 + buf.readUInt32LE(pos + 8),
    recordCount,
    payloadBytes,
    appendTime: timeHigh * TWO_32 + buf.readUInt32LE(pos + 24),
    payloadCrc: buf.readUInt32LE(pos + 32),
  };
}
