/**
 * The middle path of the ingest encoder: a record the byte scanner read but the fast checks
 * did not accept. Its known fields are materialised as JSON.parse would give them, for
 * validateFields to decide with the full rules, and its unknown fields become `extra`.
 */
import { FIELDS } from './fields.js';
import { K_FALSE, K_NUMBER, K_STRING, K_TRUE, kindOf, type ScannedObject } from './scan.js';
import type { FieldValues } from './validate.js';

// record text is decoded only off the fast path; a BOM inside it is content (the stream's
// first is stripped before), hence ignoreBOM
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** `src[start, end)` as text (UTF-8, U+FFFD for invalid bytes), as the stream decoder gives it. */
export function decodeUtf8(src: Uint8Array, start: number, end: number): string {
  return decoder.decode(src.subarray(start, end));
}

/** `src[start, end)`, ASCII bytes, as text. */
export function asciiText(src: Uint8Array, start: number, end: number): string {
  if (end - start > 64) return decodeUtf8(src, start, end);
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(src[i]!);
  return s;
}

/** Known field `f` (its number in the field table) as JSON.parse gives it; null as absent. */
function valueOf(src: Uint8Array, s: ScannedObject, f: number): unknown {
  switch (kindOf(s, f)) {
    case K_STRING:
      return decodeUtf8(src, s.start[f]!, s.end[f]!);
    case K_NUMBER:
      return Number(asciiText(src, s.start[f]!, s.end[f]!));
    case K_TRUE:
      return true;
    case K_FALSE:
      return false;
    default:
      return undefined; // absent or null
  }
}

/** The known fields' values of a scanned record, for validateFields. */
export function scannedValues(src: Uint8Array, s: ScannedObject): FieldValues {
  const f = {} as FieldValues;
  // the scanner numbers the known fields by their place in the field table
  for (let k = 0; k < FIELDS.length; k++) f[FIELDS[k]!.key] = valueOf(src, s, k);
  return f;
}

/** The unknown fields of a scanned record as JSON object text, as validateEvent makes `extra`. */
export function scannedExtra(src: Uint8Array, s: ScannedObject): string | undefined {
  if (s.unknownCount === 0) return undefined;
  const u = s.unknown;
  let extra = '{';
  for (let k = 0; k < s.unknownCount; k++) {
    if (k > 0) extra += ',';
    extra +=
      decodeUtf8(src, u[4 * k]!, u[4 * k + 1]!) +
      ':' +
      decodeUtf8(src, u[4 * k + 2]!, u[4 * k + 3]!);
  }
  return extra + '}';
}
