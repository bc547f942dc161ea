import zlib from 'node:zlib';

/**
 * CRC-32 (IEEE, the zlib/gzip polynomial) of `data`, unsigned: zlib's, at GB/s. It arrived in
 * Node 20.15 and 22.2, the oldest versions `engines` admits.
 */
export const crc32: (data: Uint8Array, initial?: number) => number = zlib.crc32;

if (typeof crc32 !== 'function') {
  throw new Error(
    `Node ${process.version} has no zlib.crc32: Tally needs Node 20.15+, 22.2+ or 24`,
  );
}
