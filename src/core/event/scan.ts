/**
 * A byte scanner for the common shape of a click record: one flat JSON object whose values
 * are strings without escapes, numbers, booleans or null. It extracts the known fields as
 * byte ranges (no JSON.parse, no object) and notes the unknown ones for `extra`.
 *
 * It accepts only text that JSON.parse accepts with the same meaning, and says "not mine"
 * (-1) for everything else, so the caller falls back to JSON.parse + validateEvent:
 * - a string with an escape, a control character (C0, DEL, C1) or invalid UTF-8 (TextDecoder
 *   would put U+FFFD where the bytes are copied here);
 * - a nested object or array, for a known field or an unknown one;
 * - an unknown field holding a number whose JSON.stringify differs from its text (a fraction,
 *   an exponent, -0, more than 15 digits);
 * - a duplicate key (JSON.parse keeps the last value at the first key's position);
 * - an unknown key starting with a digit (integer-like keys come first in Object.keys);
 * - more than MAX_UNKNOWN unknown fields; anything malformed.
 * Whatever it accepts, JSON.parse + validateEvent give the same values: strings are the UTF-8
 * text between the quotes, numbers are `Number(text)` (what JSON.parse computes), and an
 * unknown field's `"key":value` text is what JSON.stringify writes for it.
 */
import {
  F_AD_ID,
  F_CLICK_TIMESTAMP,
  F_COUNTRY,
  F_EVENT_ID,
  F_IP,
  F_TIMESTAMP,
  F_USER_ID,
  FIELD_COUNT,
  FIELDS,
} from './fields.js';
import { utf8SequenceAt } from './utf8.js';

/** known fields are numbered by their position in the field table (fields.ts) */
export const KNOWN_FIELD_COUNT = FIELD_COUNT;

/** value kinds, 3 bits each; K_ABSENT for a field that was not in the object */
export const K_ABSENT = 0;
export const K_NULL = 1;
export const K_STRING = 2;
export const K_NUMBER = 3;
export const K_TRUE = 4;
export const K_FALSE = 5;

/** unknown fields kept per record before the scanner gives up */
export const MAX_UNKNOWN = 32;

const NAMES: readonly Uint8Array[] = FIELDS.map((f) =>
  Uint8Array.from(f.name, (c) => c.charCodeAt(0)),
);
const NAME_LENGTHS = NAMES.map((n) => n.length);

/** The K_… of known field `f` in what scanObject found. */
export function kindOf(s: ScannedObject, f: number): number {
  return (s.kinds >>> (3 * f)) & 7;
}

/** What scanObject found; reused from record to record (typed arrays: no allocation). */
export class ScannedObject {
  /** the K_… of every known field, 3 bits each (field f at bit 3f; room for 10): see kindOf */
  kinds = 0;
  /** strings: the bytes between the quotes; numbers: the number's text */
  readonly start = new Int32Array(KNOWN_FIELD_COUNT);
  readonly end = new Int32Array(KNOWN_FIELD_COUNT);
  /** strings: Unicode code points */
  readonly chars = new Int32Array(KNOWN_FIELD_COUNT);
  /** strings: 1 when every byte is ASCII */
  readonly ascii = new Uint8Array(KNOWN_FIELD_COUNT);
  /** numbers: the value when the text is a plain integer of at most 15 digits, else NaN */
  readonly num = new Float64Array(KNOWN_FIELD_COUNT);
  /** unknown fields in key order: [keyStart, keyEnd, valueStart, valueEnd]; the key with its quotes */
  readonly unknown = new Int32Array(4 * MAX_UNKNOWN);
  unknownCount = 0;
  /** bytes of `{"k":v,…}` for the unknown fields (0 when there are none) */
  extraBytes = 0;
}

/** The position of the first byte of `src[pos, end)` that is not JSON whitespace. */
export function skipWs(src: Uint8Array, pos: number, end: number): number {
  while (pos < end) {
    const c = src[pos]!;
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) break;
    pos++;
  }
  return pos;
}

/**
 * skipWs within one NDJSON line: LF is not whitespace there but the end of the line, so a scan
 * given the rest of a chunk stops at the line's end exactly as if given the line alone.
 */
function skipWsIn(src: Uint8Array, pos: number, end: number, multiline: boolean): number {
  while (pos < end) {
    const c = src[pos]!;
    if (c !== 32 && c !== 13 && c !== 9 && (c !== 10 || !multiline)) break;
    pos++;
  }
  return pos;
}

// the string scanner's code point count (module state: the scanner is not re-entrant, nor
// needs to be); a string is ASCII when it has as many code points as bytes
let strChars = 0;

/**
 * Scans the string whose opening quote is at `i - 1`; returns the position of the closing
 * quote, or -1 for an escape, a control character, invalid UTF-8 or no closing quote.
 */
function scanString(src: Uint8Array, i: number, end: number): number {
  let chars = 0;
  while (i < end) {
    const c = src[i]!;
    if (c < 0x80) {
      if (c === 34) {
        strChars = chars;
        return i;
      }
      // escapes, control characters and DEL: JSON.parse and the full rules decide
      if (c === 92 || c < 0x20 || c === 0x7f) return -1;
      i++;
      chars++;
      continue;
    }
    // UTF-8 as the WHATWG decoder accepts it (utf8.ts), less U+0080–U+009F, the C1 controls:
    // as above, the full rules decide those
    const n = utf8SequenceAt(src, i, end);
    if (n === 0 || (c === 0xc2 && src[i + 1]! < 0xa0)) return -1;
    i += n;
    chars++;
  }
  return -1;
}

// the number scanner's result
let numValue = NaN;

/**
 * Scans a JSON number starting at `i`; returns the position after it, or -1 when the text is
 * not a JSON number. `numValue` is its value when it is a plain integer of at most 15 digits
 * (exact, and JSON.stringify writes it back as the same text), else NaN.
 */
function scanNumber(src: Uint8Array, i: number, end: number): number {
  let neg = false;
  if (src[i] === 45) {
    neg = true;
    i++;
  }
  if (i >= end) return -1;
  let c = src[i]!;
  let v = 0;
  let digits = 0;
  if (c === 48) {
    i++;
    digits = 1;
  } else if (c >= 49 && c <= 57) {
    while (i < end) {
      c = src[i]!;
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      digits++;
      i++;
    }
  } else return -1;
  let plain = digits <= 15 && !(neg && v === 0);
  if (i < end && src[i] === 46) {
    plain = false;
    i++;
    const from = i;
    while (i < end && src[i]! >= 48 && src[i]! <= 57) i++;
    if (i === from) return -1;
  }
  if (i < end && (src[i] === 101 || src[i] === 69)) {
    plain = false;
    i++;
    if (i < end && (src[i] === 43 || src[i] === 45)) i++;
    const from = i;
    while (i < end && src[i]! >= 48 && src[i]! <= 57) i++;
    if (i === from) return -1;
  }
  numValue = plain ? (neg ? -v : v) : NaN;
  return i;
}

function literal(
  src: Uint8Array,
  i: number,
  end: number,
  a: number,
  b: number,
  c: number,
  d: number,
): boolean {
  return i + 4 <= end && src[i] === a && src[i + 1] === b && src[i + 2] === c && src[i + 3] === d;
}

/** Whether `src[i, i + 4)` is the four bytes `a b c d`. */
function four(src: Uint8Array, i: number, a: number, b: number, c: number, d: number): boolean {
  return src[i] === a && src[i + 1] === b && src[i + 2] === c && src[i + 3] === d;
}

/**
 * The known field whose name, then a closing quote, stands at `src[i]`; -1 when none does
 * (then the key is scanned as any string). Spelled out byte by byte, on purpose: it runs for
 * every key. test/unit/event/fields.test.ts checks it against the field table's names.
 */
function knownKeyAt(src: Uint8Array, i: number, end: number): number {
  if (i + 16 > end) return knownKeyNearEnd(src, i, end);
  switch (src[i]) {
    case 97: // ad_id"
      return four(src, i + 1, 100, 95, 105, 100) && src[i + 5] === 34 ? F_AD_ID : -1;
    case 116: // timestamp"
      return four(src, i + 1, 105, 109, 101, 115) &&
        four(src, i + 5, 116, 97, 109, 112) &&
        src[i + 9] === 34
        ? F_TIMESTAMP
        : -1;
    case 99: // country" or click_timestamp"
      if (
        four(src, i + 1, 111, 117, 110, 116) &&
        src[i + 5] === 114 &&
        src[i + 6] === 121 &&
        src[i + 7] === 34
      ) {
        return F_COUNTRY;
      }
      return four(src, i + 1, 108, 105, 99, 107) &&
        four(src, i + 5, 95, 116, 105, 109) &&
        four(src, i + 9, 101, 115, 116, 97) &&
        src[i + 13] === 109 &&
        src[i + 14] === 112 &&
        src[i + 15] === 34
        ? F_CLICK_TIMESTAMP
        : -1;
    case 101: // event_id"
      return four(src, i + 1, 118, 101, 110, 116) && four(src, i + 5, 95, 105, 100, 34)
        ? F_EVENT_ID
        : -1;
    case 117: // user_id"
      return four(src, i + 1, 115, 101, 114, 95) &&
        src[i + 5] === 105 &&
        src[i + 6] === 100 &&
        src[i + 7] === 34
        ? F_USER_ID
        : -1;
    case 105: // ip"
      return src[i + 1] === 112 && src[i + 2] === 34 ? F_IP : -1;
    default:
      return -1;
  }
}

/** knownKeyAt within the last bytes of the input, bounds-checked. */
function knownKeyNearEnd(src: Uint8Array, i: number, end: number): number {
  for (let f = 0; f < NAMES.length; f++) {
    const name = NAMES[f]!;
    const n = name.length;
    if (i + n >= end || src[i + n] !== 34) continue;
    let k = 0;
    while (k < n && src[i + k] === name[k]) k++;
    if (k === n) return f;
  }
  return -1;
}

function sameBytes(src: Uint8Array, a: number, b: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (src[a + k] !== src[b + k]) return false;
  return true;
}

/**
 * Scans the JSON object whose `{` is at `src[pos]`, within `src[pos, end)`, into `out`.
 * Returns the position after its `}`, or -1 when the object is not of the handled shape (see
 * the header): the caller then falls back to JSON.parse. Unless `multiline`, a LF is not
 * whitespace (nor valid anywhere else), so the object must end on the line it starts on.
 */
export function scanObject(
  src: Uint8Array,
  pos: number,
  end: number,
  out: ScannedObject,
  multiline: boolean,
): number {
  let kinds = 0;
  out.unknownCount = 0;
  let extraBytes = 0;
  let seen = 0;
  let i = skipWsIn(src, pos + 1, end, multiline);
  if (i < end && src[i] === 125) {
    out.kinds = 0;
    out.extraBytes = 0;
    return i + 1;
  }
  for (;;) {
    // key
    if (i >= end || src[i] !== 34) return -1;
    const keyStart = i + 1;
    const field = knownKeyAt(src, keyStart, end);
    let keyEnd: number;
    if (field >= 0) keyEnd = keyStart + NAME_LENGTHS[field]!;
    else {
      // not a known name (which has one spelling without escapes): any other key
      keyEnd = scanString(src, keyStart, end);
      if (keyEnd < 0) return -1;
    }
    i = skipWsIn(src, keyEnd + 1, end, multiline);
    if (i >= end || src[i] !== 58) return -1;
    i = skipWsIn(src, i + 1, end, multiline);
    if (i >= end) return -1;

    // value
    const valueStart = i;
    const c = src[i]!;
    let k: number;
    let text0 = i;
    let text1: number;
    if (c === 34) {
      const close = scanString(src, i + 1, end);
      if (close < 0) return -1;
      k = K_STRING;
      text0 = i + 1;
      text1 = close;
      i = close + 1;
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      i = scanNumber(src, i, end);
      if (i < 0) return -1;
      k = K_NUMBER;
      text1 = i;
    } else if (c === 110 && literal(src, i, end, 110, 117, 108, 108)) {
      k = K_NULL;
      i += 4;
      text1 = i;
    } else if (c === 116 && literal(src, i, end, 116, 114, 117, 101)) {
      k = K_TRUE;
      i += 4;
      text1 = i;
    } else if (c === 102 && literal(src, i, end, 102, 97, 108, 115) && src[i + 4] === 101) {
      k = K_FALSE;
      i += 5;
      text1 = i;
    } else return -1; // a nested value, or not JSON

    if (field >= 0) {
      const bit = 1 << field;
      if ((seen & bit) !== 0) return -1;
      seen |= bit;
      kinds |= k << (3 * field);
      out.start[field] = text0;
      out.end[field] = text1;
      if (k === K_STRING) {
        out.chars[field] = strChars;
        out.ascii[field] = strChars === text1 - text0 ? 1 : 0;
      } else if (k === K_NUMBER) {
        out.num[field] = numValue;
      }
    } else {
      // unknown: its text must be what JSON.stringify writes back
      if (k === K_NUMBER && Number.isNaN(numValue)) return -1;
      const first = src[keyStart];
      if (first !== undefined && first >= 48 && first <= 57) return -1;
      const n = out.unknownCount;
      if (n >= MAX_UNKNOWN) return -1;
      const u = out.unknown;
      const keyLen = keyEnd - keyStart;
      for (let j = 0; j < n; j++) {
        const s = u[4 * j]! + 1;
        if (u[4 * j + 1]! - 1 - s === keyLen && sameBytes(src, s, keyStart, keyLen)) return -1;
      }
      u[4 * n] = keyStart - 1;
      u[4 * n + 1] = keyEnd + 1;
      u[4 * n + 2] = valueStart;
      u[4 * n + 3] = i;
      out.unknownCount = n + 1;
      // "key":value plus a comma or brace
      extraBytes += keyLen + 2 + 1 + (i - valueStart) + 1;
    }

    i = skipWsIn(src, i, end, multiline);
    if (i >= end) return -1;
    const d = src[i]!;
    if (d === 44) {
      i = skipWsIn(src, i + 1, end, multiline);
      continue;
    }
    if (d !== 125) return -1;
    out.kinds = kinds;
    out.extraBytes = out.unknownCount > 0 ? extraBytes + 1 : 0;
    return i + 1;
  }
}
