/**
 * Allocation-free UTF-8 for short strings. The hot fields (ad_id, ip, ids) are short and
 * mostly ASCII, where a plain loop beats TextEncoder.encodeInto (which needs a subarray view
 * per call); long strings go through encodeInto.
 */

const encoder = new TextEncoder();
// a field may start with U+FEFF: it is text, not a byte order mark to strip
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
// the same, refusing bytes that are not UTF-8 instead of reading them as U+FFFD
const strictDecoder = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true });
const LONG = 64;
const SHORT = 4;

/** An upper bound on the UTF-8 byte length of `s` (3 bytes per UTF-16 code unit). */
export function utf8MaxBytes(s: string): number {
  return s.length * 3;
}

/**
 * Writes the UTF-8 of `s` at `buf[pos]` and returns the position after it. The caller has
 * made room for `utf8MaxBytes(s)` bytes. Lone surrogates become U+FFFD, as in TextEncoder.
 */
export function writeUtf8(buf: Uint8Array, pos: number, s: string): number {
  const n = s.length;
  if (n > LONG) return pos + encoder.encodeInto(s, buf.subarray(pos)).written;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[pos++] = c;
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6);
      buf[pos++] = 0x80 | (c & 63);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          buf[pos++] = 0xf0 | (c >> 18);
          buf[pos++] = 0x80 | ((c >> 12) & 63);
          buf[pos++] = 0x80 | ((c >> 6) & 63);
          buf[pos++] = 0x80 | (c & 63);
          continue;
        }
        c = 0xfffd;
      }
      buf[pos++] = 0xe0 | (c >> 12);
      buf[pos++] = 0x80 | ((c >> 6) & 63);
      buf[pos++] = 0x80 | (c & 63);
    }
  }
  return pos;
}

/** Decodes `buf[start, end)` as UTF-8; very short ASCII (country codes) without TextDecoder. */
export function readUtf8(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= SHORT) {
    let s = '';
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      if (c >= 0x80) return decoder.decode(buf.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }
  // Node's TextDecoder has an ASCII fast path that beats building the string by hand
  return decoder.decode(buf.subarray(start, end));
}

/**
 * Whether `s` has no lone surrogate, i.e. it is Unicode text that UTF-8 can carry
 * (String#isWellFormed, with a fallback for engines without it).
 */
export function isWellFormed(s: string): boolean {
  const f = (s as { isWellFormed?: () => boolean }).isWellFormed;
  if (f !== undefined) return f.call(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c >= 0xdc00) return false;
    const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
    if (d < 0xdc00 || d > 0xdfff) return false;
    i++;
  }
  return true;
}

/** Whether the bytes at `src[i]` are a UTF-8 byte order mark (EF BB BF) within `end`. */
export function isBomAt(src: Uint8Array, i: number, end: number): boolean {
  return i + 2 < end && src[i] === 0xef && src[i + 1] === 0xbb && src[i + 2] === 0xbf;
}

/** Whether `d` (under 3 bytes) may be the start of a UTF-8 byte order mark. */
export function isBomPrefix(d: Uint8Array): boolean {
  return (d.length < 1 || d[0] === 0xef) && (d.length < 2 || d[1] === 0xbb);
}

/**
 * `src[start, end)` as text, or undefined when the bytes are not UTF-8: a record is refused,
 * never read with U+FFFD where its bytes were (the fatal decoder costs what the lenient does).
 */
export function decodeUtf8Strict(src: Uint8Array, start: number, end: number): string | undefined {
  try {
    return strictDecoder.decode(src.subarray(start, end));
  } catch {
    return undefined;
  }
}

/**
 * The length of the UTF-8 sequence at `src[i]` (1–4), or 0 when the byte there does not start
 * one within `end`: the WHATWG decoder's rules (no overlongs, no surrogates, ≤ U+10FFFF), which
 * the byte scanner (scan.ts) applies too.
 */
export function utf8SequenceAt(src: Uint8Array, i: number, end: number): number {
  const c = src[i]!;
  if (c < 0x80) return 1;
  let n: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) n = 1;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 2;
    if (c === 0xe0) lo = 0xa0;
    else if (c === 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 3;
    if (c === 0xf0) lo = 0x90;
    else if (c === 0xf4) hi = 0x8f;
  } else return 0;
  if (i + n >= end) return 0;
  const c1 = src[i + 1]!;
  if (c1 < lo || c1 > hi) return 0;
  for (let k = 2; k <= n; k++) {
    const ck = src[i + k]!;
    if (ck < 0x80 || ck > 0xbf) return 0;
  }
  return n + 1;
}

/**
 * `src[start, end)` as text in which every byte that is not part of a UTF-8 sequence stands as
 * a lone surrogate U+DC80–U+DCFF (a "surrogate escape"): text decoded from bytes never holds
 * one otherwise, so a record cut out of the text still tells where its invalid bytes were
 * (see invalidByteAt). For bodies the strict decoder refused: the rare path.
 */
export function decodeUtf8Marked(src: Uint8Array, start: number, end: number): string {
  let out = '';
  let run = start;
  let i = start;
  while (i < end) {
    const n = utf8SequenceAt(src, i, end);
    if (n > 0) {
      i += n;
      continue;
    }
    if (i > run) out += decoder.decode(src.subarray(run, i));
    out += String.fromCharCode(0xdc00 | src[i]!);
    run = ++i;
  }
  if (end > run) out += decoder.decode(src.subarray(run, end));
  return out;
}

/**
 * The position of the first invalid-byte mark of decodeUtf8Marked in `s` (a lone surrogate;
 * a pair is a character), or -1.
 */
export function invalidByteAt(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    return i;
  }
  return -1;
}

/** The UTF-8 byte length of `s[0, end)`, an invalid-byte mark counting as its one byte. */
export function utf8Offset(s: string, end: number): number {
  let n = 0;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 1;
    } else if (c >= 0xd800 && c <= 0xdfff) n += 1;
    else n += 3;
  }
  return n;
}
