/**
 * Body framing: which way a request body's bytes hold records, decided as parse-body.ts's
 * parseBody decides on text. The content type decides: NDJSON (application/x-ndjson,
 * text/plain) is one record per line whatever the first line looks like; application/json
 * (or +json) is a JSON array when the body starts with `[`, one JSON value when the whole
 * body is one, and NDJSON sent as application/json otherwise. A leading BOM is skipped, as
 * parseBody skips it in text.
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
  // an NDJSON line that starts with `[` is one (invalid) record, never the whole body
  if (!isJsonType(contentType)) return { kind: 'ndjson', start };
  if (bytes[first] === 91) {
    return skipWs(bytes, start, n) === first ? { kind: 'array', open: first } : { kind: 'text' };
  }
  return notOneValue(bytes, start, n, scanned) ? { kind: 'ndjson', start } : { kind: 'text' };
}

/** Whether the content type is JSON's (application/json, …+json): an array or one value. */
export function isJsonType(contentType: string | undefined): boolean {
  const mime = contentType?.split(';')[0]?.trim().toLowerCase();
  return mime === 'application/json' || (mime !== undefined && mime.endsWith('+json'));
}

/**
 * Why a JSON body cannot hold events, or undefined: an application/json body is an array of
 * events or one event object, so one that starts with anything but `[` or `{` (a number, a
 * string, null) is refused whole.
 */
export function jsonBodyProblem(
  bytes: Uint8Array,
  contentType: string | undefined,
): string | undefined {
  if (!isJsonType(contentType)) return undefined;
  const n = bytes.length;
  let first = 0;
  for (;;) {
    first = skipWs(bytes, first, n);
    if (isBomAt(bytes, first, n)) first += 3;
    else break;
  }
  if (first >= n || bytes[first] === 91 || bytes[first] === 123) return undefined;
  return 'an application/json body is a JSON array of events or one event object';
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
