import zlib from 'node:zlib';

type Crc32 = (data: Uint8Array, initial?: number) => number;

// zlib.crc32 arrived in Node 20.15 and runs at GB/s; the engines field still admits 20.9,
// so a small table-driven fallback keeps older 20.x working.
const native: Crc32 | undefined = (zlib as { crc32?: Crc32 }).crc32;

let table: Uint32Array | undefined;

function tableCrc32(data: Uint8Array, initial = 0): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  const t = table;
  let crc = ~initial >>> 0;
  for (const byte of data) crc = (t[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** CRC-32 (IEEE, the zlib/gzip polynomial) of `data`, unsigned. */
export const crc32: Crc32 = native ?? tableCrc32;
