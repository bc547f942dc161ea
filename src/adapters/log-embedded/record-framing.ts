/**
 * The log cuts and skips records using only their framing, `[u32 little-endian len][len bytes]`
 * (the core codec's framing); it never looks inside a record.
 */

function view(data: Uint8Array): DataView {
  return new DataView(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The number of framed records that fill `data[start, end)` exactly, or -1 when the framing
 * runs past `end`.
 */
export function countFramedRecords(data: Uint8Array, start = 0, end = data.byteLength): number {
  const v = view(data);
  let pos = start;
  let count = 0;
  while (pos < end) {
    if (end - pos < 4) return -1;
    pos += 4 + v.getUint32(pos, true);
    if (pos > end) return -1;
    count++;
  }
  return count;
}

/**
 * The position just after `n` framed records starting at `pos`, or -1 when the framing runs
 * past `end` first.
 */
export function skipFramedRecords(data: Uint8Array, pos: number, n: number, end: number): number {
  const v = view(data);
  for (let i = 0; i < n; i++) {
    if (end - pos < 4) return -1;
    pos += 4 + v.getUint32(pos, true);
    if (pos > end) return -1;
  }
  return pos;
}
