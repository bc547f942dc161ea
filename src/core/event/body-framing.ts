/**
 * Body framing: which way a request body's bytes hold records, decided as parse-body.ts's
 * parseBody decides on text. A JSON array when the body starts with `[`; one JSON value for
 * application/json when the whole body is one; NDJSON otherwise. A leading BOM is skipped,
 * as parseBody skips it in text.
 */
import { scanObject, skipWs, type ScannedObject } from './scan.js';
import { isBomAt } from './utf8.js';

export type BodyShape =
  /** nothing but whitespace and BOMs: no records */
  | { kind: 'empty' }
  /** NDJSON lines from `start` */
  | { kind: 'ndjson'; start: number }
  /** a JSON array whose `[` is at `open`: its elements, or the text path if not all objects */
  | { kind: 'array'; open: number }
  /** anything else (one pretty-printed value, a body parseBody reads otherwise): as text */
  | { kind: 'text' };

/** How the body `bytes` of `contentType` holds its records; `scanned` is scratch. */
export function bodyShape(
  bytes: Uint8Array,
  contentType: string | undefined,
  scanned: ScannedObject,
): BodyShape {
  const n = bytes.length;
  const start = isBomAt(bytes, 0, n) ? 3 : 0;
  // the first character that is not blank (parseBody's test: whitespace and BOMs)
  let first = start;
  for (;;) {
    first = skipWs(bytes, first, n);
    if (isBomAt(bytes, first, n)) first += 3;
    else break;
  }
  if (first >= n) return { kind: 'empty' };
  const mime = contentType?.split(';')[0]?.trim().toLowerCase();
  const json = mime === 'application/json' || (mime !== undefined && mime.endsWith('+json'));
  if (bytes[first] !== 91 && !(json && !notOneValue(bytes, start, n, scanned))) {
    return { kind: 'ndjson', start };
  }
  if (bytes[first] === 91 && skipWs(bytes, start, n) === first)
    return { kind: 'array', open: first };
  return { kind: 'text' };
}

/**
 * Whether JSON.parse of the body `src[start, end)` surely fails: its first non-blank line is
 * an object the scanner reads whole, and something other than JSON whitespace follows.
 * Then parseBody reads an application/json body as NDJSON.
 */
function notOneValue(src: Uint8Array, start: number, end: number, scanned: ScannedObject): boolean {
  const p = skipWs(src, start, end);
  if (p >= end || src[p] !== 123) return false;
  const after = scanObject(src, p, end, scanned, true);
  if (after < 0) return false;
  let nl = src.indexOf(10, after);
  if (nl < 0) nl = end;
  if (skipWs(src, after, nl) !== nl) return false; // more on the same line
  return skipWs(src, nl, end) < end;
}
