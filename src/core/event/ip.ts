/**
 * IP address text, validated and canonicalised by hand (the core has no node:net).
 *
 * Accepted:
 * - IPv4: exactly four dotted decimal octets 0–255 without leading zeros ("01" is refused:
 *   some parsers read it as octal, so it is ambiguous).
 * - IPv6 (RFC 4291 §2.2): eight groups of 1–4 hex digits, one `::` for one or more zero
 *   groups, and a dotted IPv4 in the last 32 bits (e.g. `::ffff:192.0.2.1`). Case-insensitive.
 * Refused: zone ids (`fe80::1%eth0`: only meaningful on the sender's host), surrounding
 * whitespace, CIDR suffixes, brackets.
 *
 * Canonical text: IPv4 as given (already canonical); IPv6 per RFC 5952 — lower case, no
 * leading zeros, the longest run (first on a tie) of two or more zero groups as `::`, and
 * IPv4-mapped addresses as `::ffff:a.b.c.d`.
 *
 * One parser, over bytes (ASCII): the byte scanner of the ingest fast path calls it on the
 * request's bytes, the string API copies its text in first. No valid address has a non-ASCII
 * character, so a string holding one is refused before it is copied.
 */

const groups = new Uint16Array(8);

/** The IPv4 address in `s[start, end)` as an unsigned 32-bit number, or -1. */
function parseIpv4(s: Uint8Array, start: number, end: number): number {
  let value = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    const partStart = i;
    let octet = 0;
    while (i < end && i - partStart < 4) {
      const c = s[i]!;
      if (c < 48 || c > 57) break;
      octet = octet * 10 + (c - 48);
      i++;
    }
    const digits = i - partStart;
    if (digits === 0 || digits > 3 || octet > 255) return -1;
    if (digits > 1 && s[partStart] === 48) return -1;
    value = value * 256 + octet;
    parts++;
    if (parts < 4) {
      if (i >= end || s[i] !== 46) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parses IPv6 text `s[start, end)` into `groups`; false when invalid. Walks the text once,
 * collecting the groups before and after `::`, then moves the tail to the end.
 */
function parseIpv6(s: Uint8Array, start: number, end: number): boolean {
  const n = end;
  if (end - start < 2 || end - start > 45) return false;
  let count = 0;
  let gap = -1; // index in `groups` where `::` stands
  let i = start;
  if (s[i] === 58) {
    if (s[i + 1] !== 58) return false;
    gap = 0;
    i += 2;
    if (i === n) {
      groups.fill(0);
      return true;
    }
  }
  while (i < n) {
    if (count >= 8) return false;
    const groupStart = i;
    let v = 0;
    while (i < n && i - groupStart < 5) {
      const h = hexValue(s[i]!);
      if (h < 0) break;
      v = v * 16 + h;
      i++;
    }
    const c = i < n ? s[i]! : -1;
    if (c === 46) {
      // dotted IPv4 tail: the last 32 bits
      if (count > 6) return false;
      const v4 = parseIpv4(s, groupStart, n);
      if (v4 < 0) return false;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      i = n;
      break;
    }
    const digits = i - groupStart;
    if (digits === 0 || digits > 4) return false;
    groups[count++] = v;
    if (i === n) break;
    if (c !== 58) return false;
    i++;
    if (i < n && s[i] === 58) {
      if (gap >= 0) return false;
      gap = count;
      i++;
      if (i === n) break;
    } else if (i === n) {
      return false; // trailing single ':'
    }
  }
  if (gap < 0) return count === 8;
  if (count > 7) return false;
  const tail = count - gap;
  const zeros = 8 - count;
  for (let k = tail - 1; k >= 0; k--) groups[gap + zeros + k] = groups[gap + k]!;
  for (let k = 0; k < zeros; k++) groups[gap + k] = 0;
  return true;
}

const HEX_DIGITS = [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102];

/** `v` (0–0xffff) in lower-case hex without leading zeros at `out[p]`; the position after. */
function writeHex(out: Uint8Array, p: number, v: number): number {
  let started = false;
  for (let shift = 12; shift >= 0; shift -= 4) {
    const d = (v >>> shift) & 15;
    if (d === 0 && !started && shift > 0) continue;
    started = true;
    out[p++] = HEX_DIGITS[d]!;
  }
  return p;
}

/** `v` (0–255) in decimal at `out[p]`; the position after. */
function writeDec(out: Uint8Array, p: number, v: number): number {
  if (v >= 100) out[p++] = 48 + Math.floor(v / 100);
  if (v >= 10) out[p++] = 48 + (Math.floor(v / 10) % 10);
  out[p++] = 48 + (v % 10);
  return p;
}

/** The canonical text of `groups` (RFC 5952) at `out[p]`; the position after. */
function formatIpv6(out: Uint8Array, p: number): number {
  // IPv4-mapped ::ffff:a.b.c.d keeps its dotted form (RFC 5952 §5)
  if (
    groups[0] === 0 &&
    groups[1] === 0 &&
    groups[2] === 0 &&
    groups[3] === 0 &&
    groups[4] === 0 &&
    groups[5] === 0xffff
  ) {
    const a = groups[6]!;
    const b = groups[7]!;
    out[p++] = 58;
    out[p++] = 58;
    for (let k = 0; k < 4; k++) out[p++] = 102; // ffff
    out[p++] = 58;
    p = writeDec(out, p, a >>> 8);
    out[p++] = 46;
    p = writeDec(out, p, a & 255);
    out[p++] = 46;
    p = writeDec(out, p, b >>> 8);
    out[p++] = 46;
    return writeDec(out, p, b & 255);
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let k = 0; k < 8;) {
    if (groups[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && groups[e] === 0) e++;
    if (e - k > bestLen) {
      bestStart = k;
      bestLen = e - k;
    }
    k = e;
  }
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      out[p++] = 58;
      if (k === 0) out[p++] = 58;
      k += bestLen - 1;
      continue;
    }
    p = writeHex(out, p, groups[k]!);
    if (k < 7) out[p++] = 58;
  }
  return p;
}

/** the longest canonical text: eight groups of four hex digits and seven colons */
export const IP_TEXT_MAX = 45;

/**
 * Validates the IP address text in `src[start, end)` (ASCII bytes) and writes its canonical
 * text at `out[at]` (room for IP_TEXT_MAX bytes). Returns the position after it, or -1 when
 * the text is no address. `out` may be `src` only when `at` does not overlap the input.
 */
export function canonicalIpBytes(
  src: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  at: number,
): number {
  const n = end - start;
  let colon = false;
  if (n <= 15) {
    for (let i = start; i < end; i++) {
      if (src[i] === 58) {
        colon = true;
        break;
      }
    }
    if (!colon) {
      if (parseIpv4(src, start, end) < 0) return -1;
      for (let i = start; i < end; i++) out[at++] = src[i]!;
      return at;
    }
  }
  return parseIpv6(src, start, end) ? formatIpv6(out, at) : -1;
}

const textIn = new Uint8Array(64);
const textOut = new Uint8Array(64);

/** `s` copied into `textIn` as bytes; false when it is too long or not ASCII (no address). */
function load(s: string): boolean {
  if (s.length > textIn.length) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return false;
    textIn[i] = c;
  }
  return true;
}

/** Whether `s` is IPv4 text as accepted here. */
export function isIpv4(s: string): boolean {
  return s.length <= 15 && load(s) && parseIpv4(textIn, 0, s.length) >= 0;
}

/** Whether `s` is IPv6 text as accepted here. */
export function isIpv6(s: string): boolean {
  return load(s) && parseIpv6(textIn, 0, s.length);
}

/** The canonical text of an IPv4 or IPv6 address, or undefined when `s` is neither. */
export function canonicalIp(s: string): string | undefined {
  if (!load(s)) return undefined;
  const end = canonicalIpBytes(textIn, 0, s.length, textOut, 0);
  if (end < 0) return undefined;
  if (s.length <= 15 && s.indexOf(':') < 0) return s; // IPv4: already canonical
  return String.fromCharCode.apply(null, textOut.subarray(0, end) as unknown as number[]);
}
