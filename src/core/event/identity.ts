/**
 * Event identity: the canonical id of an event that came without `event_id`, and the 128-bit
 * dedup key every event is deduplicated by.
 */
import { murmur3x86_128, hash128Hex, writeHexWords } from './hash.js';
import { writeUtf8, utf8MaxBytes } from './utf8.js';
import type { EventRanges } from './event-ranges.js';

/**
 * The id of an event without `event_id` (SPEC §1): 32 hex digits of MurmurHash3_x86_128 of
 * `JSON.stringify([adId, timestampMs, userId, ip, country])`, absent fields as null. JSON
 * makes the join unambiguous; the inputs must already be canonical (epoch ms, upper-case
 * country, canonical ip text) so that every spelling of the same click gets the same id.
 */
export function canonicalEventId(
  adId: string,
  timestampMs: number,
  userId: string | undefined,
  ip: string | undefined,
  country: string | undefined,
): string {
  return hash128Hex(
    JSON.stringify([adId, timestampMs, userId ?? null, ip ?? null, country ?? null]),
  );
}

let keyScratch = new Uint8Array(512);

/**
 * The dedup key: MurmurHash3_x86_128 (seed 0) of `utf8(adId) 0x00 utf8(eventId)`, written
 * into `out` as four unsigned words. Scoped by ad: two ads may reuse an event_id.
 */
export function dedupKey(adId: string, eventId: string, out: Uint32Array): Uint32Array {
  const max = utf8MaxBytes(adId) + 1 + utf8MaxBytes(eventId);
  if (max > keyScratch.length) keyScratch = new Uint8Array(Math.max(max, keyScratch.length * 2));
  let p = writeUtf8(keyScratch, 0, adId);
  keyScratch[p++] = 0;
  p = writeUtf8(keyScratch, p, eventId);
  return murmur3x86_128(keyScratch, 0, p, 0, out);
}

let canonScratch = new Uint8Array(1024);
const canonWords = new Uint32Array(4);

function ensureKeyScratch(n: number): Uint8Array {
  if (n > keyScratch.length) keyScratch = new Uint8Array(Math.max(n, keyScratch.length * 2));
  return keyScratch;
}

/** Writes the decimal digits of `v` (an integer, 0 ≤ v < 2^31) at `out[p]`; the position after. */
function writeSmallUint(out: Uint8Array, p: number, v: number): number {
  let digits = 1;
  for (let t = v; t >= 10; t = (t / 10) | 0) digits++;
  let q = p + digits;
  for (let t = v; q > p; t = (t / 10) | 0) out[--q] = 48 + (t % 10);
  return p + digits;
}

/**
 * Writes the decimal digits of a non-negative integer `v` (< 2^53) at `out[p]`, as
 * JSON.stringify writes it (-0 as 0); the position after.
 */
function writeUint(out: Uint8Array, p: number, v: number): number {
  if (v < 1e8) return writeSmallUint(out, p, v);
  // two exact halves: epoch ms have 13 digits
  const hi = Math.floor(v / 1e8);
  let lo = v - hi * 1e8;
  p = writeSmallUint(out, p, hi);
  for (let q = p + 7; q >= p; q--) {
    out[q] = 48 + (lo % 10);
    lo = (lo / 10) | 0;
  }
  return p + 8;
}

function writeJsonText(
  out: Uint8Array,
  p: number,
  src: Uint8Array,
  start: number,
  end: number,
): number {
  out[p++] = 34;
  for (let i = start; i < end; i++) out[p++] = src[i]!;
  out[p++] = 34;
  return p;
}

function writeNull(out: Uint8Array, p: number): number {
  out[p] = 110;
  out[p + 1] = 117;
  out[p + 2] = 108;
  out[p + 3] = 108;
  return p + 4;
}

/**
 * dedupKey of an event given as byte ranges (event-ranges.ts), computing the canonical id
 * from the same JSON text as canonicalEventId when no event_id was given. The ranges' texts
 * must need no JSON escaping (the byte scanner guarantees it: no quote, backslash or control
 * character; valid UTF-8) and the timestamp must be a non-negative integer, as validated.
 */
export function dedupKeyOfRanges(r: EventRanges, out: Uint32Array): Uint32Array {
  const src = r.src;
  const adLen = r.adEnd - r.adStart;
  if (r.eventIdStart >= 0) {
    const idLen = r.eventIdEnd - r.eventIdStart;
    const k = ensureKeyScratch(adLen + 1 + idLen);
    let p = 0;
    for (let i = r.adStart; i < r.adEnd; i++) k[p++] = src[i]!;
    k[p++] = 0;
    for (let i = r.eventIdStart; i < r.eventIdEnd; i++) k[p++] = src[i]!;
    return murmur3x86_128(k, 0, p, 0, out);
  }
  // JSON.stringify([adId, timestamp, userId ?? null, ip ?? null, country ?? null])
  const userLen = r.userIdStart < 0 ? 0 : r.userIdEnd - r.userIdStart;
  const ipLen = r.ipStart < 0 ? 0 : r.ipEnd - r.ipStart;
  const need = adLen + userLen + ipLen + 64;
  if (need > canonScratch.length)
    canonScratch = new Uint8Array(Math.max(need, canonScratch.length * 2));
  const c = canonScratch;
  let p = 0;
  c[p++] = 91; // [
  p = writeJsonText(c, p, src, r.adStart, r.adEnd);
  c[p++] = 44;
  p = writeUint(c, p, r.timestamp);
  c[p++] = 44;
  p = r.userIdStart < 0 ? writeNull(c, p) : writeJsonText(c, p, src, r.userIdStart, r.userIdEnd);
  c[p++] = 44;
  p = r.ipStart < 0 ? writeNull(c, p) : writeJsonText(c, p, r.ipSrc, r.ipStart, r.ipEnd);
  c[p++] = 44;
  if (r.country < 0) p = writeNull(c, p);
  else {
    c[p++] = 34;
    c[p++] = r.country >> 8;
    c[p++] = r.country & 255;
    c[p++] = 34;
  }
  c[p++] = 93; // ]
  murmur3x86_128(c, 0, p, 0, canonWords);
  const k = ensureKeyScratch(adLen + 1 + 32);
  p = 0;
  for (let i = r.adStart; i < r.adEnd; i++) k[p++] = src[i]!;
  k[p] = 0;
  writeHexWords(canonWords, k, adLen + 1);
  return murmur3x86_128(k, 0, adLen + 33, 0, out);
}
