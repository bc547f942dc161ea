/**
 * Non-cryptographic hashes, pure and allocation-free on the hot path:
 * - MurmurHash3_x86_128 (Appleby), for dedup keys and canonical event ids;
 * - MurmurHash3_x86_32, a fast 32-bit hash for in-memory routing;
 * - Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), so that `partitionFor`
 *   places an ad_id on the same partition as Kafka's default partitioner does.
 * All byte input is a Uint8Array range; strings are UTF-8 encoded into a reused scratch.
 */

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** MurmurHash3's 32-bit finaliser: every input bit affects every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

function u32le(d: Uint8Array, i: number): number {
  return d[i]! | (d[i + 1]! << 8) | (d[i + 2]! << 16) | (d[i + 3]! << 24);
}

/**
 * MurmurHash3_x86_128 of `data[start, end)`; writes the four words h1..h4 (unsigned) into
 * `out` and returns it. Matches the reference C++ (and python `mmh3.hash_bytes(x64arch=False)`
 * read as four little-endian u32).
 */
export function murmur3x86_128(
  data: Uint8Array,
  start: number,
  end: number,
  seed: number,
  out: Uint32Array,
): Uint32Array {
  const len = end - start;
  let h1 = seed | 0;
  let h2 = h1;
  let h3 = h1;
  let h4 = h1;
  const blocksEnd = start + (len & ~15);
  let i = start;
  for (; i < blocksEnd; i += 16) {
    let k1 = u32le(data, i);
    let k2 = u32le(data, i + 4);
    let k3 = u32le(data, i + 8);
    let k4 = u32le(data, i + 12);

    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = rotl(h1, 19) + h2;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;

    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = rotl(h2, 17) + h3;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;

    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = rotl(h3, 15) + h4;
    h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;

    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = rotl(h4, 13) + h1;
    h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }

  // tail: the reference's fall-through switch, written as guarded steps
  const rem = len & 15;
  let k1 = 0;
  let k2 = 0;
  let k3 = 0;
  let k4 = 0;
  if (rem >= 13) {
    if (rem >= 15) k4 ^= data[i + 14]! << 16;
    if (rem >= 14) k4 ^= data[i + 13]! << 8;
    k4 ^= data[i + 12]!;
    h4 ^= Math.imul(rotl(Math.imul(k4, C4), 18), C1);
  }
  if (rem >= 9) {
    if (rem >= 12) k3 ^= data[i + 11]! << 24;
    if (rem >= 11) k3 ^= data[i + 10]! << 16;
    if (rem >= 10) k3 ^= data[i + 9]! << 8;
    k3 ^= data[i + 8]!;
    h3 ^= Math.imul(rotl(Math.imul(k3, C3), 17), C4);
  }
  if (rem >= 5) {
    if (rem >= 8) k2 ^= data[i + 7]! << 24;
    if (rem >= 7) k2 ^= data[i + 6]! << 16;
    if (rem >= 6) k2 ^= data[i + 5]! << 8;
    k2 ^= data[i + 4]!;
    h2 ^= Math.imul(rotl(Math.imul(k2, C2), 16), C3);
  }
  if (rem >= 1) {
    if (rem >= 4) k1 ^= data[i + 3]! << 24;
    if (rem >= 3) k1 ^= data[i + 2]! << 16;
    if (rem >= 2) k1 ^= data[i + 1]! << 8;
    k1 ^= data[i]!;
    h1 ^= Math.imul(rotl(Math.imul(k1, C1), 15), C2);
  }

  h1 ^= len;
  h2 ^= len;
  h3 ^= len;
  h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h3 = fmix32(h3);
  h4 = fmix32(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  out[0] = h1;
  out[1] = h2;
  out[2] = h3;
  out[3] = h4;
  return out;
}

/** MurmurHash3_x86_32 of `data[start, end)`, unsigned. */
export function murmur3x86_32(data: Uint8Array, start: number, end: number, seed = 0): number {
  const len = end - start;
  const blocksEnd = start + (len & ~3);
  return murmur3x86_32Tail(
    data,
    blocksEnd,
    end,
    len,
    murmur3x86_32Blocks(data, start, blocksEnd, seed | 0),
  );
}

/**
 * murmur3x86_32 in steps of about `every` bytes (a large snapshot header: hundreds of MB),
 * yielding between them; returns the same hash.
 */
export function* murmur3x86_32Steps(
  data: Uint8Array,
  start: number,
  end: number,
  every: number,
  seed = 0,
): Generator<void, number> {
  const len = end - start;
  const blocksEnd = start + (len & ~3);
  const step = Math.max(4, every & ~3);
  let h = seed | 0;
  for (let at = start; at < blocksEnd; at += step) {
    if (at > start) yield;
    h = murmur3x86_32Blocks(data, at, Math.min(blocksEnd, at + step), h);
  }
  return murmur3x86_32Tail(data, blocksEnd, end, len, h);
}

/** the whole 4-byte blocks of data[i, blocksEnd), from state h */
function murmur3x86_32Blocks(data: Uint8Array, i: number, blocksEnd: number, h: number): number {
  for (; i < blocksEnd; i += 4) {
    const k = Math.imul(rotl(Math.imul(u32le(data, i), 0xcc9e2d51), 15), 0x1b873593);
    h ^= k;
    h = (Math.imul(rotl(h, 13), 5) + 0xe6546b64) | 0;
  }
  return h;
}

/** the last 0–3 bytes (from i to end) and the finalisation over `len` bytes */
function murmur3x86_32Tail(
  data: Uint8Array,
  i: number,
  end: number,
  len: number,
  h: number,
): number {
  const rem = end - i;
  if (rem > 0) {
    let k = 0;
    if (rem >= 3) k ^= data[i + 2]! << 16;
    if (rem >= 2) k ^= data[i + 1]! << 8;
    k ^= data[i]!;
    h ^= Math.imul(rotl(Math.imul(k, 0xcc9e2d51), 15), 0x1b873593);
  }
  h ^= len;
  return fmix32(h) >>> 0;
}

/** Kafka's murmur2 (seed 0x9747b28c) of `data[start, end)`, as Java's signed int. */
export function murmur2Kafka(data: Uint8Array, start: number, end: number): number {
  const m = 0x5bd1e995;
  const len = end - start;
  let h = 0x9747b28c ^ len;
  const blocksEnd = start + (len & ~3);
  let i = start;
  for (; i < blocksEnd; i += 4) {
    let k = Math.imul(u32le(data, i), m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rem = len & 3;
  if (rem > 0) {
    if (rem >= 3) h ^= data[i + 2]! << 16;
    if (rem >= 2) h ^= data[i + 1]! << 8;
    h ^= data[i]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

// one scratch for string hashing: the core is single-threaded per isolate
const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

/** UTF-8 encodes `s` into the shared scratch; returns the byte length. */
function encodeScratch(s: string): number {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit
  if (s.length * 3 > scratch.length) {
    scratch = new Uint8Array(Math.max(s.length * 3, scratch.length * 2));
  }
  return encoder.encodeInto(s, scratch).written;
}

const words = new Uint32Array(4);

/** MurmurHash3_x86_128 of the UTF-8 of `s`, into `out` (default: a shared scratch, valid until the next call). */
export function hash128String(s: string, seed = 0, out: Uint32Array = words): Uint32Array {
  const n = encodeScratch(s);
  return murmur3x86_128(scratch, 0, n, seed, out);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Four u32 words as 32 lower-case hex digits, h1 first, each word big-endian. */
export function wordsToHex(w: Uint32Array): string {
  let s = '';
  for (let i = 0; i < 4; i++) {
    const x = w[i]!;
    s += HEX[x >>> 24]! + HEX[(x >>> 16) & 255]! + HEX[(x >>> 8) & 255]! + HEX[x & 255]!;
  }
  return s;
}

const HEX_BYTES = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/** wordsToHex as ASCII bytes at `out[at]` (32 bytes). */
export function writeHexWords(w: Uint32Array, out: Uint8Array, at: number): void {
  for (let i = 0; i < 4; i++) {
    const x = w[i]!;
    for (let shift = 28; shift >= 0; shift -= 4) out[at++] = HEX_BYTES[(x >>> shift) & 15]!;
  }
}

/** 32 hex digits of MurmurHash3_x86_128 (seed 0) of the UTF-8 of `s`: for ids. */
export function hash128Hex(s: string): string {
  return wordsToHex(hash128String(s));
}

/** MurmurHash3_x86_32 of the UTF-8 of `s`, unsigned. */
export function hash32String(s: string, seed = 0): number {
  const n = encodeScratch(s);
  return murmur3x86_32(scratch, 0, n, seed);
}

/**
 * The partition of an ad: Kafka's default partitioner for a keyed record,
 * `(murmur2(utf8(adId)) & 0x7fffffff) % partitions`, so the embedded log and a Kafka topic
 * keyed by ad_id agree on placement.
 */
export function partitionFor(adId: string, partitions: number): number {
  if (partitions <= 1) return 0;
  const n = encodeScratch(adId);
  return partitionForBytes(scratch, 0, n, partitions);
}

/** partitionFor of the ad_id whose UTF-8 is `data[start, end)`. */
export function partitionForBytes(
  data: Uint8Array,
  start: number,
  end: number,
  partitions: number,
): number {
  if (partitions <= 1) return 0;
  return (murmur2Kafka(data, start, end) & 0x7fffffff) % partitions;
}
