/**
 * Event identity: the canonical id of an event that came without `event_id`, and the 128-bit
 * dedup key every event is deduplicated by.
 */
import { murmur3x86_128, hash128Hex } from './hash.js';
import { writeUtf8, utf8MaxBytes } from './utf8.js';

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
