/**
 * Allocation-free UTF-8 for short strings. The hot fields (ad_id, ip, ids) are short and
 * mostly ASCII, where a plain loop beats TextEncoder.encodeInto (which needs a subarray view
 * per call); long strings go through encodeInto.
 */

const encoder = new TextEncoder();
// a field may start with U+FEFF: it is text, not a byte order mark to strip
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
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
