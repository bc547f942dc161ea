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
 */

const groups = new Uint16Array(8);

/** The IPv4 address in `s[start, end)` as an unsigned 32-bit number, or -1. */
function parseIpv4(s: string, start: number, end: number): number {
  let value = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    const partStart = i;
    let octet = 0;
    while (i < end && i - partStart < 4) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      octet = octet * 10 + (c - 48);
      i++;
    }
    const digits = i - partStart;
    if (digits === 0 || digits > 3 || octet > 255) return -1;
    if (digits > 1 && s.charCodeAt(partStart) === 48) return -1;
    value = value * 256 + octet;
    parts++;
    if (parts < 4) {
      if (i >= end || s.charCodeAt(i) !== 46) return -1;
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
 * Parses IPv6 text into `groups`; false when invalid. Walks the text once, collecting the
 * groups before and after `::`, then moves the tail to the end.
 */
function parseIpv6(s: string): boolean {
  const n = s.length;
  if (n < 2 || n > 45) return false;
  let count = 0;
  let gap = -1; // index in `groups` where `::` stands
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
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
      const h = hexValue(s.charCodeAt(i));
      if (h < 0) break;
      v = v * 16 + h;
      i++;
    }
    const c = i < n ? s.charCodeAt(i) : -1;
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
    if (i < n && s.charCodeAt(i) === 58) {
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

function formatIpv6(): string {
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
    return `::ffff:${a >>> 8}.${a & 255}.${b >>> 8}.${b & 255}`;
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
  let out = '';
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      out += k === 0 ? '::' : ':';
      k += bestLen - 1;
      continue;
    }
    out += groups[k]!.toString(16);
    if (k < 7) out += ':';
  }
  return out;
}

/** Whether `s` is IPv4 text as accepted here. */
export function isIpv4(s: string): boolean {
  return s.length <= 15 && parseIpv4(s, 0, s.length) >= 0;
}

/** Whether `s` is IPv6 text as accepted here. */
export function isIpv6(s: string): boolean {
  return parseIpv6(s);
}

/** The canonical text of an IPv4 or IPv6 address, or undefined when `s` is neither. */
export function canonicalIp(s: string): string | undefined {
  if (s.length <= 15 && s.indexOf(':') < 0) return parseIpv4(s, 0, s.length) >= 0 ? s : undefined;
  return parseIpv6(s) ? formatIpv6() : undefined;
}
