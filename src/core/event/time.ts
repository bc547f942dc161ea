/**
 * ISO-8601 timestamps without the Date global (the core reads no clock, and Date.parse
 * accepts too much: offset-less local times, rolled-over days like Feb 30).
 */
import { MINUTE_MS } from '../window/minute.js';

const MS_PER_DAY = 86_400_000;

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return isLeap(y) ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** `n` decimal digits of `s[i, i + n)` (within `s[…, end)`), or -1. */
function digits(s: Uint8Array, i: number, end: number, n: number): number {
  if (i + n > end) return -1;
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const c = s[k]!;
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v;
}

const T = 84; // 'T'
const Z = 90; // 'Z'

/**
 * parseIsoTimestamp over ASCII bytes `s[start, end)` (any byte ≥ 0x80 is no part of a valid
 * time): the one implementation, used on request bytes by the ingest fast path.
 */
export function parseIsoBytes(s: Uint8Array, start: number, end: number): number | string {
  const at = (i: number): number => (start + i < end ? s[start + i]! : -1);
  const len = end - start;
  const year = digits(s, start, end, 4);
  const month = digits(s, start + 5, end, 2);
  const day = digits(s, start + 8, end, 2);
  if (year < 0 || at(4) !== 45 || month < 0 || at(7) !== 45 || day < 0) {
    return 'expected a date YYYY-MM-DD';
  }
  if (month < 1 || month > 12) return `month ${month} does not exist`;
  if (day < 1 || day > daysInMonth(year, month)) {
    // the first 7 characters are digits and '-': ASCII
    return `day ${day} does not exist in ${String.fromCharCode(...s.subarray(start, start + 7))}`;
  }
  if (len === 10) return 'a time and UTC offset are required after the date';
  const sep = at(10);
  if (sep !== T && sep !== T + 32 && sep !== 32) return "expected 'T' between date and time";
  const hour = digits(s, start + 11, end, 2);
  const minute = digits(s, start + 14, end, 2);
  if (hour < 0 || at(13) !== 58 || minute < 0) return 'expected a time hh:mm';
  if (hour > 23) return `hour ${hour} is out of range`;
  if (minute > 59) return `minute ${minute} is out of range`;
  let i = 16;
  let second = 0;
  let ms = 0;
  if (at(i) === 58) {
    second = digits(s, start + i + 1, end, 2);
    if (second < 0) return 'expected seconds ss';
    if (second > 59) return `second ${second} is out of range`;
    i += 3;
    if (at(i) === 46 || at(i) === 44) {
      i++;
      const fracStart = i;
      while (i < len && at(i) >= 48 && at(i) <= 57) {
        if (i - fracStart < 3) ms = ms * 10 + (at(i) - 48);
        i++;
      }
      const n = i - fracStart;
      if (n === 0) return 'expected digits after the decimal sign';
      if (n === 1) ms *= 100;
      else if (n === 2) ms *= 10;
    }
  }
  if (i === len) return 'a UTC offset (Z or ±hh:mm) is required';
  let offsetMin = 0;
  const z = at(i);
  if (z === Z || z === Z + 32) {
    i++;
  } else if (z === 43 || z === 45) {
    const oh = digits(s, start + i + 1, end, 2);
    if (oh < 0) return 'expected an offset ±hh:mm';
    let om = 0;
    let next = i + 3;
    if (at(next) === 58) {
      om = digits(s, start + next + 1, end, 2);
      if (om < 0) return 'expected an offset ±hh:mm';
      next += 3;
    } else if (next < len) {
      om = digits(s, start + next, end, 2);
      if (om < 0) return 'expected an offset ±hh:mm';
      next += 2;
    }
    if (oh > 23 || om > 59) return 'offset out of range';
    offsetMin = (z === 45 ? -1 : 1) * (oh * 60 + om);
    i = next;
  } else {
    return 'a UTC offset (Z or ±hh:mm) is required';
  }
  if (i !== len) return 'unexpected text after the UTC offset';
  return (
    daysFromCivil(year, month, day) * MS_PER_DAY +
    hour * 3_600_000 +
    minute * MINUTE_MS +
    second * 1000 +
    ms -
    offsetMin * MINUTE_MS
  );
}

let text = new Uint8Array(64);

/**
 * Parses an ISO-8601 / RFC 3339 date-time that carries an offset into epoch ms; returns a
 * short reason string when it cannot. Accepted:
 * `YYYY-MM-DD(T|t| )hh:mm[:ss[(.|,)fraction]](Z|z|±hh:mm|±hhmm|±hh)`. Fractions beyond
 * milliseconds are truncated. Refused: no offset, impossible dates (2026-02-30), hour 24,
 * leap second 60, basic-format dates (20260101).
 */
export function parseIsoTimestamp(s: string): number | string {
  if (s.length > text.length) text = new Uint8Array(Math.max(s.length, text.length * 2));
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    text[i] = c < 0x80 ? c : 0xff; // no non-ASCII character is part of a time
  }
  return parseIsoBytes(text, 0, s.length);
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

/** Epoch ms as `YYYY-MM-DDThh:mm:ss.sssZ` (as Date#toISOString, for years 0–9999). */
export function formatIsoTimestamp(ms: number): string {
  const days = Math.floor(ms / MS_PER_DAY);
  let rem = ms - days * MS_PER_DAY;
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const hh = Math.floor(rem / 3_600_000);
  rem -= hh * 3_600_000;
  const mm = Math.floor(rem / MINUTE_MS);
  rem -= mm * MINUTE_MS;
  const ss = Math.floor(rem / 1000);
  const fff = rem - ss * 1000;
  return `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}T${pad(hh, 2)}:${pad(mm, 2)}:${pad(ss, 2)}.${pad(fff, 3)}Z`;
}
