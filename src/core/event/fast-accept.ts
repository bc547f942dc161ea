/**
 * The ingest fast path's checks: a record the byte scanner read (scan.ts), accepted straight
 * from its bytes when every known field is in its common valid form. The limits, alphabets
 * and rules are the field table's (fields.ts) and the validator's (validate.ts); these checks
 * only ever need to be sufficient for acceptance: anything else goes to validateFields, which
 * decides with the full rules (scanned-values.ts).
 */
import type { EventRanges } from './event-ranges.js';
import {
  AD_ID_MAX,
  FIELD,
  F_AD_ID,
  F_CLICK_TIMESTAMP,
  F_COUNTRY,
  F_EVENT_ID,
  F_IP,
  F_TIMESTAMP,
  F_USER_ID,
  countryPair,
  isAdIdChar,
} from './fields.js';
import { canonicalIpBytes } from './ip.js';
import { K_NULL, K_NUMBER, K_STRING, kindOf, type ScannedObject } from './scan.js';
import { asciiText } from './scanned-values.js';
import { parseIsoBytes } from './time.js';
import type { ValidationOptions } from './types.js';
import { MAX_EPOCH_MS, isInFuture, parseTime } from './validate.js';

const EVENT_ID_MIN = FIELD.eventId.minChars;
const EVENT_ID_MAX = FIELD.eventId.maxChars;
const USER_ID_MAX = FIELD.userId.maxChars;

/**
 * Whether the scanned record `s` (bytes `src`) is valid in the common form; if so, `r` holds
 * it as byte ranges, ready for RecordWriter.writeRanges.
 */
export function fastAccept(
  src: Uint8Array,
  s: ScannedObject,
  r: EventRanges,
  opts: ValidationOptions,
): boolean {
  // ad_id: its length and alphabet (ASCII, so bytes are characters)
  if (kindOf(s, F_AD_ID) !== K_STRING) return false;
  const adStart = s.start[F_AD_ID]!;
  const adEnd = s.end[F_AD_ID]!;
  if (adEnd - adStart < 1 || adEnd - adStart > AD_ID_MAX) return false;
  for (let i = adStart; i < adEnd; i++) if (!isAdIdChar(src[i]!)) return false;

  // exactly one of timestamp / click_timestamp (both: the rules compare them)
  const tsKind = kindOf(s, F_TIMESTAMP);
  const ctKind = kindOf(s, F_CLICK_TIMESTAMP);
  if (tsKind > K_NULL === ctKind > K_NULL) return false;
  const tf = tsKind > K_NULL ? F_TIMESTAMP : F_CLICK_TIMESTAMP;
  const tKind = tsKind > K_NULL ? tsKind : ctKind;
  let ms: number;
  if (tKind === K_NUMBER) {
    const v = s.num[tf]!;
    const t = parseTime(
      Number.isNaN(v) ? Number(asciiText(src, s.start[tf]!, s.end[tf]!)) : v,
      tf === F_TIMESTAMP ? 'timestamp' : 'click_timestamp',
    );
    if (typeof t !== 'number') return false;
    ms = t;
  } else if (tKind === K_STRING) {
    // parseTime's string rule, when it accepts: ISO text (never numeric-looking) in range
    const t = parseIsoBytes(src, s.start[tf]!, s.end[tf]!);
    if (typeof t !== 'number' || t < 0 || t > MAX_EPOCH_MS) return false;
    ms = t;
  } else return false;
  if (isInFuture(ms, opts)) return false;

  // event_id: its length in characters (valid UTF-8: no lone surrogate)
  const idKind = kindOf(s, F_EVENT_ID);
  if (idKind > K_NULL) {
    if (idKind !== K_STRING) return false;
    const n = s.chars[F_EVENT_ID]!;
    if (n < EVENT_ID_MIN || n > EVENT_ID_MAX) return false;
    r.eventIdStart = s.start[F_EVENT_ID]!;
    r.eventIdEnd = s.end[F_EVENT_ID]!;
  } else r.eventIdStart = r.eventIdEnd = -1;

  // user_id: its length in characters
  const userKind = kindOf(s, F_USER_ID);
  if (userKind > K_NULL) {
    if (userKind !== K_STRING || s.chars[F_USER_ID]! > USER_ID_MAX) return false;
    r.userIdStart = s.start[F_USER_ID]!;
    r.userIdEnd = s.end[F_USER_ID]!;
  } else r.userIdStart = r.userIdEnd = -1;

  // ip: canonical text (ip.ts, the same parser the string rule uses)
  const ipKind = kindOf(s, F_IP);
  if (ipKind > K_NULL) {
    if (ipKind !== K_STRING || s.ascii[F_IP] !== 1) return false;
    const n = canonicalIpBytes(src, s.start[F_IP]!, s.end[F_IP]!, r.ipBuf, 0);
    if (n < 0) return false;
    r.ipStart = 0;
    r.ipEnd = n;
  } else r.ipStart = r.ipEnd = -1;

  // country: two letters, upper-cased, an assigned code
  const countryKind = kindOf(s, F_COUNTRY);
  if (countryKind > K_NULL) {
    const cs = s.start[F_COUNTRY]!;
    if (countryKind !== K_STRING || s.end[F_COUNTRY]! - cs !== 2) return false;
    const a = src[cs]!;
    const b = src[cs + 1]!;
    if (countryPair(a, b) < 0) return false;
    r.country = ((a & ~32) << 8) | (b & ~32); // the code, upper-cased (countryPair's letters)
  } else r.country = -1;

  r.src = src;
  r.timestamp = ms;
  r.adStart = adStart;
  r.adEnd = adEnd;
  r.unknown = s.unknown;
  r.unknownCount = s.unknownCount;
  r.extraBytes = s.extraBytes;
  return true;
}
