/**
 * Request and file text → records, one at a time, so that one malformed record never
 * spoils the rest of its batch.
 *
 * Index semantics: `index` is the 0-based position of the record among the non-blank
 * records of the body (NDJSON: blank or whitespace-only lines are skipped and not counted;
 * JSON array: the element position). `line` is the 1-based line of the text where the record
 * starts, for people reading a file (0 when the whole body parsed as one array and lines
 * were not tracked).
 */
import { rejection, type Rejection } from '../errors.js';
import { invalidByteAt, utf8Offset } from './utf8.js';

export type ParsedRecord =
  | {
      ok: true;
      index: number;
      line: number;
      value: unknown;
      /** the record's text when it was cut out of the body (NDJSON, or a recovered array) */
      raw: string | undefined;
    }
  | { ok: false; index: number; line: number; raw: string; rejection: Rejection };

const BOM = 0xfeff;
const RAW_ECHO_MAX = 60;

/** How a record-level message starts: `record 3 (line 4): `. */
export function recordPrefix(index: number, line: number): string {
  return `record ${index}${line > 0 ? ` (line ${line})` : ''}: `;
}

function malformed(index: number, line: number, raw: string, error: unknown): ParsedRecord {
  const why = error instanceof Error ? error.message : String(error);
  const shown = raw.length > RAW_ECHO_MAX ? raw.slice(0, RAW_ECHO_MAX) + '…' : raw;
  return {
    ok: false,
    index,
    line,
    raw,
    rejection: rejection(
      'TALLY_EVENT_MALFORMED_JSON',
      undefined,
      `${recordPrefix(index, line)}not valid JSON (${why}): ${shown}`,
    ),
  };
}

// the invalid-byte marks of decodeUtf8Marked (utf8.ts): lone surrogates, a pair being text
const MARKS = /[\ud800-\udfff]/gu;

/**
 * The rejection of a record whose bytes are not UTF-8. `marked` is its text as
 * decodeUtf8Marked gives it, with a mark at `at`: the message names the byte, its offset in
 * the record and the field whose value holds it; the payload kept reads U+FFFD there.
 */
export function invalidUtf8(index: number, line: number, marked: string, at: number): ParsedRecord {
  const byte = marked.charCodeAt(at) & 0xff;
  const where = fieldAt(marked, at);
  const field = typeof where === 'string' ? where : undefined;
  const place =
    field !== undefined ? `, in the value of "${field}"` : where === KEY ? ', in a key' : '';
  return {
    ok: false,
    index,
    line,
    raw: marked.replace(MARKS, '\ufffd'),
    rejection: rejection(
      'TALLY_EVENT_INVALID_UTF8',
      field,
      `${recordPrefix(index, line)}not valid UTF-8: byte 0x${byte.toString(16).toUpperCase().padStart(2, '0')} at byte ${utf8Offset(marked, at)} of the record${place}; send the text encoded as UTF-8`,
    ),
  };
}

const KEY = 1;

/**
 * Which top-level field of the object text `s` position `at` falls in: its key (as written
 * between the quotes), KEY when `at` is inside a key, undefined when neither (not an object,
 * between fields). A plain walk over strings and brackets: it needs no valid JSON after `at`.
 */
function fieldAt(s: string, at: number): string | typeof KEY | undefined {
  let depth = 0;
  let inString = false;
  let keyStart = -1; // the current string is a key of the top-level object, from here
  let expectKey = false;
  let field: string | undefined;
  for (let i = 0; i < at; i++) {
    const c = s.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) {
        inString = false;
        if (keyStart >= 0) field = s.slice(keyStart, i);
        keyStart = -1;
      }
      continue;
    }
    if (c === 34) {
      inString = true;
      if (depth === 1 && expectKey) {
        keyStart = i + 1;
        expectKey = false;
      }
    } else if (c === 123 || c === 91) {
      depth++;
      if (depth === 1) expectKey = c === 123;
    } else if (c === 125 || c === 93) depth--;
    else if (depth === 1 && c === 44) {
      expectKey = true;
      field = undefined;
    }
  }
  if (inString && keyStart >= 0) return KEY;
  return depth >= 1 ? field : undefined;
}

/**
 * A record of text decoded with decodeUtf8Marked: refused as invalid UTF-8 when its text holds
 * a mark (bytes are decoded before they are parsed, so this comes first), else as it is.
 */
function checkMarks(rec: ParsedRecord, whole: string): ParsedRecord {
  const raw = rec.raw ?? whole;
  const at = invalidByteAt(raw);
  return at < 0 ? rec : invalidUtf8(rec.index, rec.line, raw, at);
}

/** Whether `s` holds only JSON whitespace and BOMs: a blank line, not a record. */
export function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10 && c !== BOM) return false;
  }
  return true;
}

/** Parses one NDJSON line (without its `\n` or `\r\n`) as record `index`. */
export function parseNdjsonLine(raw: string, index: number, line: number): ParsedRecord {
  try {
    return { ok: true, index, line, value: JSON.parse(raw), raw };
  } catch (e) {
    return malformed(index, line, raw, e);
  }
}

/** Splits NDJSON text (LF or CRLF) into records; blank lines are skipped and not indexed. */
export function parseNdjson(text: string): ParsedRecord[] {
  const out: ParsedRecord[] = [];
  let start = text.charCodeAt(0) === BOM ? 1 : 0;
  let line = 1;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const piece = stripCr(text.slice(start, end));
    if (!isBlank(piece)) out.push(parseNdjsonLine(piece, out.length, line));
    line++;
    start = end + 1;
  }
  return out;
}

function lineAt(text: string, pos: number, from: number, fromLine: number): number {
  let line = fromLine;
  for (let i = from; i < pos; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * Parses a JSON array body into one record per element. The whole-text JSON.parse is tried
 * first; when it fails, the elements are cut apart at top-level commas (tracking strings and
 * nesting) and parsed one by one, so a bad element is rejected alone.
 */
export function parseJsonArray(text: string, marked = false): ParsedRecord[] {
  // a body with invalid bytes is cut into elements, so that only those holding them are refused
  if (marked) return splitArrayElements(text);
  try {
    const all: unknown = JSON.parse(text.charCodeAt(0) === BOM ? text.slice(1) : text);
    if (Array.isArray(all)) {
      return all.map((value, index) => ({ ok: true, index, line: 0, value, raw: undefined }));
    }
  } catch {
    // recover element by element below
  }
  return splitArrayElements(text);
}

function splitArrayElements(text: string): ParsedRecord[] {
  const out: ParsedRecord[] = [];
  const n = text.length;
  let i = 0;
  while (i < n && isBlank(text[i]!)) i++;
  if (text[i] !== '[') return [malformed(0, 1, text, new Error("expected '['"))];
  i++;
  let lineNo = lineAt(text, i, 0, 1);
  let scanned = i;
  while (i < n) {
    const start = i;
    let depth = 0;
    let inString = false;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (inString) {
        if (c === 92)
          i++; // backslash: skip the escaped char
        else if (c === 34) inString = false;
      } else if (c === 34) inString = true;
      else if (c === 91 || c === 123) depth++;
      else if (c === 93 || c === 125) {
        if (depth === 0) break;
        depth--;
      } else if (c === 44 && depth === 0) break;
    }
    const piece = text.slice(start, i);
    const lead = piece.length - piece.trimStart().length;
    lineNo = lineAt(text, start + lead, scanned, lineNo);
    scanned = start + lead;
    const raw = piece.trim();
    const closing = i < n && text.charCodeAt(i) === 93;
    if (raw === '' && closing && out.length === 0) return out; // []
    if (raw === '') out.push(malformed(out.length, lineNo, raw, new Error('empty element')));
    else {
      try {
        out.push({ ok: true, index: out.length, line: lineNo, value: JSON.parse(raw), raw });
      } catch (e) {
        out.push(malformed(out.length, lineNo, raw, e));
      }
    }
    if (i >= n) {
      out.push(malformed(out.length, lineNo, '', new Error("missing ']' at the end of the array")));
      return out;
    }
    i++;
    if (closing) {
      const rest = text.slice(i).trim();
      if (rest !== '')
        out.push(
          malformed(
            out.length,
            lineAt(text, i, scanned, lineNo),
            rest,
            new Error("text after the closing ']'"),
          ),
        );
      return out;
    }
  }
  out.push(malformed(out.length, lineNo, '', new Error("missing ']' at the end of the array")));
  return out;
}

function firstNonBlank(text: string): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (!isBlank(c)) return c;
  }
  return undefined;
}

/**
 * Parses a body as its content type says: NDJSON (application/x-ndjson, text/plain, none) one
 * record per line, whatever the first line looks like; application/json a JSON array when it
 * starts with `[` (after whitespace), else one JSON value (e.g. a pretty-printed object) as
 * one record, else NDJSON sent as application/json.
 */
export function parseBody(text: string, contentType?: string, marked = false): ParsedRecord[] {
  const records = parseBodyText(text, contentType, marked);
  return marked ? records.map((r) => checkMarks(r, text)) : records;
}

/**
 * parseBody's reading; `marked` says that `text` comes from decodeUtf8Marked (utf8.ts), bytes
 * that were not all UTF-8: then every record keeps its text, where the marks are looked for.
 */
function parseBodyText(
  text: string,
  contentType: string | undefined,
  marked: boolean,
): ParsedRecord[] {
  const first = firstNonBlank(text);
  if (first === undefined) return [];
  const mime = contentType?.split(';')[0]?.trim().toLowerCase();
  if (mime === 'application/json' || (mime !== undefined && mime.endsWith('+json'))) {
    if (first === '[') return parseJsonArray(text, marked);
    try {
      const value: unknown = JSON.parse(text.charCodeAt(0) === BOM ? text.slice(1) : text);
      return [{ ok: true, index: 0, line: 1, value, raw: undefined }];
    } catch {
      // several values, one per line: NDJSON sent as application/json
    }
  }
  return parseNdjson(text);
}

/** An NDJSON line without the CR of its CRLF. */
export function stripCr(s: string): string {
  return s.charCodeAt(s.length - 1) === 13 ? s.slice(0, -1) : s;
}
