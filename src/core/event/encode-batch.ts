/**
 * Request and file bytes → encoded log records per partition, plus the rejected records:
 * everything the ingest path does between "bytes arrived" and "append to the log", with no
 * per-event work left for the service.
 *
 * Each record takes the fast path when the byte scanner (scan.ts) can read it: its fields
 * are checked with validate.ts's rules and predicates and encoded straight from the bytes
 * (RecordWriter.writeRanges). When a fast check does not pass, the known fields' values are
 * materialised as JSON.parse would give them and `validateFields` decides — the same rule,
 * message and order as validateEvent. A record the scanner does not handle (escapes, nested
 * values, duplicate keys, not an object, not JSON, …) goes the slow way: parseNdjsonLine +
 * validateEvent + RecordWriter.write, exactly what the service did before. The results are
 * the same whichever path a record takes; test/unit/event/encode-batch.test.ts checks it on
 * arbitrary input.
 *
 * Index and line semantics are parse-body.ts's: `index` counts the non-blank records, `line`
 * every line; a batch that is one chunk of a larger stream starts at `firstIndex`/`firstLine`.
 */
import type { ErrorCode, Rejection } from '../errors.js';
import { RecordWriter } from './codec.js';
import { EventRanges } from './event-ranges.js';
import { partitionFor, partitionForBytes } from './hash.js';
import { canonicalIpBytes } from './ip.js';
import { parseBody, parseNdjsonLine, type ParsedRecord } from './parse-body.js';
import {
  K_ABSENT,
  K_FALSE,
  K_NULL,
  K_NUMBER,
  K_STRING,
  K_TRUE,
  kindOf,
  ScannedObject,
  scanObject,
  skipWs,
} from './scan.js';
import type { ValidationOptions } from './types.js';
import { parseIsoBytes } from './time.js';
import {
  MAX_EPOCH_MS,
  isInFuture,
  parseTime,
  validateEvent,
  validateFields,
  type FieldValues,
} from './validate.js';
import {
  AD_ID_MAX,
  FIELD,
  FIELDS,
  F_AD_ID,
  F_CLICK_TIMESTAMP,
  F_COUNTRY,
  F_EVENT_ID,
  F_IP,
  F_TIMESTAMP,
  F_USER_ID,
  countryPair,
  isAdIdChar,
} from './fields.js';
import { isWellFormed } from './utf8.js';

const EVENT_ID_MIN = FIELD.eventId.minChars;
const EVENT_ID_MAX = FIELD.eventId.maxChars;
const USER_ID_MAX = FIELD.userId.maxChars;

export interface EncodeOptions extends ValidationOptions {
  /** partitions of the log: records are routed by partitionFor(ad_id) */
  partitions: number;
  /** index of the batch's first record (default 0): for a chunk of a longer stream */
  firstIndex?: number;
  /** 1-based line number of the batch's first line (default 1) */
  firstLine?: number;
}

export interface EncodedRejection {
  /** position among the body's (or stream's) non-blank records */
  index: number;
  /** 1-based line where the record starts (0 when not tracked: a JSON body parsed whole) */
  line: number;
  code: ErrorCode;
  field: string | undefined;
  message: string;
  /** the record's text, for the dead-letter store */
  payload: string;
}

export interface EncodedPartition {
  /** concatenated framed records (codec.ts), ready for EventLog.append */
  data: Uint8Array;
  count: number;
}

export interface EncodedBatch {
  /** the clock reading the records were validated against (EncodeOptions.now) */
  now: number;
  /** one entry per partition, in partition order; `count` 0 where no record went */
  perPartition: EncodedPartition[];
  accepted: number;
  rejected: EncodedRejection[];
  /** non-blank records seen: the next chunk's firstIndex is firstIndex + records */
  records: number;
  /** lines seen (NDJSON; 0 for a JSON body): the next chunk's firstLine is firstLine + lines */
  lines: number;
}

const EMPTY = new Uint8Array(0);
const BOM0 = 0xef;
const BOM1 = 0xbb;
const BOM2 = 0xbf;

// record lines are decoded only for the slow path and for rejected payloads; a BOM inside the
// text is content (the splitter strips only the stream's first), hence ignoreBOM
const lineDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
const encoder = new TextEncoder();

/** `src[start, end)` as text (UTF-8, U+FFFD for invalid bytes), as the stream decoder gives it. */
function decodeUtf8(src: Uint8Array, start: number, end: number): string {
  return lineDecoder.decode(src.subarray(start, end));
}

function asciiText(src: Uint8Array, start: number, end: number): string {
  if (end - start > 64) return decodeUtf8(src, start, end);
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(src[i]!);
  return s;
}

/** Whether bytes at `i` are a UTF-8 BOM. */
function isBomAt(src: Uint8Array, i: number, end: number): boolean {
  return i + 2 < end && src[i] === BOM0 && src[i + 1] === BOM1 && src[i + 2] === BOM2;
}

/**
 * Renumbers an NDJSON batch encoded as if it started the stream (firstIndex 0, firstLine 1)
 * to start at `firstIndex`/`firstLine`: chunks can be encoded in parallel before the records
 * ahead of them are counted. A malformed record's message names its index and line, so it is
 * made again by parseNdjsonLine from the payload (the line's text), as the stream would have.
 */
export function rebaseNdjsonBatch(
  b: EncodedBatch,
  firstIndex: number,
  firstLine: number,
): EncodedBatch {
  if (firstIndex === 0 && firstLine === 1) return b;
  for (const r of b.rejected) {
    r.index += firstIndex;
    r.line += firstLine - 1;
    if (r.code === 'TALLY_EVENT_MALFORMED_JSON') {
      const again = parseNdjsonLine(r.payload, r.index, r.line);
      if (!again.ok) r.message = again.rejection.message;
    }
  }
  return b;
}

/**
 * Encodes batches; owns the per-partition writers and the scanner's scratch, reused from batch
 * to batch. One instance per thread (the core's scratch buffers are per isolate).
 */
export class BatchEncoder {
  private readonly writers: RecordWriter[] = [];
  private readonly scanned = new ScannedObject();
  private readonly ranges = new EventRanges();
  private opts: ValidationOptions = { now: 0, maxFutureSkewMs: 0 };
  private partitions = 1;
  private rejected: EncodedRejection[] = [];
  private accepted = 0;
  /** records by path since construction: scanned and accepted by the fast checks; scanned and
   * decided by validateFields; parsed with JSON.parse */
  readonly stats = { fast: 0, checked: 0, slow: 0 };

  /**
   * Encodes NDJSON bytes `src[start, end)`: complete lines, the last one with or without its
   * LF. CRLF is handled; blank lines are skipped and not indexed. A leading BOM is not
   * stripped here: the caller strips the stream's (see NdjsonChunker).
   */
  encodeNdjson(
    bytes: Uint8Array,
    opts: EncodeOptions,
    start = 0,
    end = bytes.length,
  ): EncodedBatch {
    const src = plainView(bytes);
    this.begin(opts);
    let index = opts.firstIndex ?? 0;
    const firstIndex = index;
    let line = (opts.firstLine ?? 1) - 1;
    const lineStart = line;
    let pos = start;
    while (pos < end) {
      line++;
      if (src[pos] === 123) {
        // the common line: `{…}` scanned to its end without looking for the LF first
        const after = scanObject(src, pos, end, this.scanned, false);
        if (after >= 0) {
          let q = after;
          while (q < end && (src[q] === 32 || src[q] === 9 || src[q] === 13)) q++;
          if (q === end || src[q] === 10) {
            const e = q > pos && src[q - 1] === 13 ? q - 1 : q;
            if (!this.fastAccept(src)) this.materialised(src, index, line, pos, e);
            index++;
            pos = q + 1;
            continue;
          }
        }
      }
      let nl = src.indexOf(10, pos);
      if (nl < 0 || nl >= end) nl = end;
      let e = nl;
      if (e > pos && src[e - 1] === 13) e--;
      const p = skipWs(src, pos, e);
      if (p < e) {
        // `{` after leading whitespace still takes the fast path; a line that starts with `{`
        // was scanned above already
        if (p === pos || src[p] !== 123 || !this.fastLine(src, p, e, pos, index, line)) {
          if (!this.slowLine(src, pos, e, index, line)) {
            pos = nl + 1;
            continue; // blank after all (a BOM): not a record
          }
        }
        index++;
      }
      pos = nl + 1;
    }
    return this.finish(index - firstIndex, line - lineStart);
  }

  /**
   * Encodes a request body as parse-body.ts's parseBody reads it: a JSON array when it starts
   * with `[`, one JSON value for application/json when the whole body is one, else NDJSON.
   * Bytes are read as UTF-8 (a leading BOM is skipped, as parseBody skips it in text).
   */
  encodeBody(
    body: string | Uint8Array,
    contentType: string | undefined,
    opts: EncodeOptions,
  ): EncodedBatch {
    let bytes: Uint8Array;
    if (typeof body === 'string') {
      // a string with a lone surrogate has no UTF-8 form: parse it as text
      if (!isWellFormed(body)) return this.encodeParsed(parseBody(body, contentType), opts);
      bytes = encoder.encode(body);
    } else bytes = plainView(body);
    const n = bytes.length;
    const start = isBomAt(bytes, 0, n) ? 3 : 0;
    // the first character that is not blank (parseBody's test: whitespace and BOMs)
    let first = start;
    for (;;) {
      first = skipWs(bytes, first, n);
      if (isBomAt(bytes, first, n)) first += 3;
      else break;
    }
    if (first >= n) return this.encodeParsed([], opts);
    const mime = contentType?.split(';')[0]?.trim().toLowerCase();
    const json = mime === 'application/json' || (mime !== undefined && mime.endsWith('+json'));
    if (bytes[first] !== 91 && !(json && !this.notOneValue(bytes, start, n))) {
      return this.encodeNdjson(bytes, opts, start, n);
    }
    if (bytes[first] === 91 && skipWs(bytes, start, n) === first) {
      const b = this.encodeArray(bytes, first, n, opts);
      if (b !== undefined) return b;
    }
    return this.encodeParsed(parseBody(textOf(body), contentType), opts);
  }

  /**
   * A JSON array body whose elements are all objects the scanner reads (then JSON.parse of
   * the whole body succeeds, and parseJsonArray gives one record per element: index = its
   * position, line 0, a rejected one's payload re-serialised). Undefined when any part is
   * not of that shape: the caller parses the body as text.
   */
  private encodeArray(
    src: Uint8Array,
    open: number,
    end: number,
    opts: EncodeOptions,
  ): EncodedBatch | undefined {
    this.begin(opts);
    let i = skipWs(src, open + 1, end);
    let index = 0;
    if (i < end && src[i] === 93) i++;
    else {
      for (;;) {
        if (i >= end || src[i] !== 123) return undefined;
        const after = scanObject(src, i, end, this.scanned, true);
        if (after < 0) return undefined;
        if (!this.fastAccept(src)) this.materialised(src, index, 0, i, after, true);
        index++;
        i = skipWs(src, after, end);
        if (i >= end) return undefined;
        if (src[i] === 93) {
          i++;
          break;
        }
        if (src[i] !== 44) return undefined;
        i = skipWs(src, i + 1, end);
      }
    }
    if (skipWs(src, i, end) !== end) return undefined;
    return this.finish(index, 0);
  }

  /**
   * Whether JSON.parse of the body `src[start, end)` surely fails: its first non-blank line is
   * an object the scanner reads whole, and something other than JSON whitespace follows.
   * Then parseBody reads an application/json body as NDJSON.
   */
  private notOneValue(src: Uint8Array, start: number, end: number): boolean {
    const p = skipWs(src, start, end);
    if (p >= end || src[p] !== 123) return false;
    const after = scanObject(src, p, end, this.scanned, true);
    if (after < 0) return false;
    let nl = src.indexOf(10, after);
    if (nl < 0) nl = end;
    if (skipWs(src, after, nl) !== nl) return false; // more on the same line
    return skipWs(src, nl, end) < end;
  }

  /** Encodes records parsed by parse-body.ts (the slow path for a whole body). */
  encodeParsed(records: readonly ParsedRecord[], opts: EncodeOptions): EncodedBatch {
    this.begin(opts);
    for (const rec of records) this.slowRecord(rec);
    return this.finish(records.length, 0);
  }

  private begin(opts: EncodeOptions): void {
    this.opts = { now: opts.now, maxFutureSkewMs: opts.maxFutureSkewMs };
    this.partitions = Math.max(1, opts.partitions);
    while (this.writers.length < this.partitions) this.writers.push(new RecordWriter(64 * 1024));
    for (const w of this.writers) w.reset();
    this.rejected = [];
    this.accepted = 0;
  }

  private finish(records: number, lines: number): EncodedBatch {
    const perPartition: EncodedPartition[] = [];
    for (let p = 0; p < this.partitions; p++) {
      const w = this.writers[p]!;
      perPartition.push({ data: w.count > 0 ? w.finish() : EMPTY, count: w.count });
    }
    return {
      now: this.opts.now,
      perPartition,
      accepted: this.accepted,
      rejected: this.rejected,
      records,
      lines,
    };
  }

  private reject(index: number, line: number, r: Rejection, payload: string): void {
    this.rejected.push({ index, line, code: r.code, field: r.field, message: r.message, payload });
  }

  /** The slow path for one line; false when the line is blank (not a record). */
  private slowLine(
    src: Uint8Array,
    start: number,
    end: number,
    index: number,
    line: number,
  ): boolean {
    const text = decodeUtf8(src, start, end);
    if (isBlankText(text)) return false;
    this.stats.slow++;
    this.slowRecord(parseNdjsonLine(text, index, line));
    return true;
  }

  private slowRecord(rec: ParsedRecord): void {
    if (!rec.ok) {
      this.reject(rec.index, rec.line, rec.rejection, rec.raw);
      return;
    }
    const v = validateEvent(rec.value, this.opts);
    if (v.ok) {
      this.writers[partitionFor(v.event.adId, this.partitions)]!.write(v.event);
      this.accepted++;
      return;
    }
    this.reject(
      rec.index,
      rec.line,
      v.rejection,
      rec.raw ?? JSON.stringify(rec.value) ?? String(rec.value),
    );
  }

  /**
   * The fast path for the line `src[lineStart, end)` whose first non-blank byte, a `{`, is at
   * `p`; false when the scanner does not handle it (the caller takes the slow path).
   */
  private fastLine(
    src: Uint8Array,
    p: number,
    end: number,
    lineStart: number,
    index: number,
    line: number,
  ): boolean {
    const after = scanObject(src, p, end, this.scanned, false);
    if (after < 0 || skipWs(src, after, end) !== end) return false;
    if (!this.fastAccept(src)) this.materialised(src, index, line, lineStart, end);
    return true;
  }

  /**
   * The fast checks: every known field in its common valid form. On success the record is
   * encoded and true returned; false sends it to `materialised` (which decides with the full
   * rules), so these checks only ever need to be sufficient for acceptance.
   */
  private fastAccept(src: Uint8Array): boolean {
    const s = this.scanned;
    const r = this.ranges;

    // ad_id: 1–64 characters of [A-Za-z0-9_.:-] (ASCII, so bytes are characters)
    if (kindOf(s, F_AD_ID) !== K_STRING) return false;
    const adStart = s.start[F_AD_ID]!;
    const adEnd = s.end[F_AD_ID]!;
    if (adEnd - adStart < 1 || adEnd - adStart > AD_ID_MAX) return false;
    for (let i = adStart; i < adEnd; i++) if (!isAdIdChar(src[i]!)) return false;

    // exactly one of timestamp / click_timestamp (both: the rules compare them)
    const tsKind = kindOf(s, F_TIMESTAMP);
    const ctKind = kindOf(s, F_CLICK_TIMESTAMP);
    if (tsKind > K_NULL === ctKind > K_NULL) return false;
    const tf = tsKind > K_NULL ? F_TIMESTAMP : F_CLICK_TIMESTAMP;
    const tKind = tsKind > K_NULL ? tsKind : ctKind;
    let ms: number;
    if (tKind === K_NUMBER) {
      const v = s.num[tf]!;
      const t = parseTime(
        Number.isNaN(v) ? Number(asciiText(src, s.start[tf]!, s.end[tf]!)) : v,
        tf === F_TIMESTAMP ? 'timestamp' : 'click_timestamp',
      );
      if (typeof t !== 'number') return false;
      ms = t;
    } else if (tKind === K_STRING) {
      // parseTime's string rule, when it accepts: ISO text (never numeric-looking) in range
      const t = parseIsoBytes(src, s.start[tf]!, s.end[tf]!);
      if (typeof t !== 'number' || t < 0 || t > MAX_EPOCH_MS) return false;
      ms = t;
    } else return false;
    if (isInFuture(ms, this.opts)) return false;

    // event_id: 1–128 characters (valid UTF-8: no lone surrogate)
    const idKind = kindOf(s, F_EVENT_ID);
    if (idKind > K_NULL) {
      if (idKind !== K_STRING) return false;
      const n = s.chars[F_EVENT_ID]!;
      if (n < EVENT_ID_MIN || n > EVENT_ID_MAX) return false;
      r.eventIdStart = s.start[F_EVENT_ID]!;
      r.eventIdEnd = s.end[F_EVENT_ID]!;
    } else r.eventIdStart = r.eventIdEnd = -1;

    // user_id: at most 128 characters
    const userKind = kindOf(s, F_USER_ID);
    if (userKind > K_NULL) {
      if (userKind !== K_STRING || s.chars[F_USER_ID]! > USER_ID_MAX) return false;
      r.userIdStart = s.start[F_USER_ID]!;
      r.userIdEnd = s.end[F_USER_ID]!;
    } else r.userIdStart = r.userIdEnd = -1;

    // ip: canonical text (ip.ts, the same parser the string rule uses)
    const ipKind = kindOf(s, F_IP);
    if (ipKind > K_NULL) {
      if (ipKind !== K_STRING || s.ascii[F_IP] !== 1) return false;
      const n = canonicalIpBytes(src, s.start[F_IP]!, s.end[F_IP]!, r.ipBuf, 0);
      if (n < 0) return false;
      r.ipStart = 0;
      r.ipEnd = n;
    } else r.ipStart = r.ipEnd = -1;

    // country: two letters, upper-cased, an assigned code
    const countryKind = kindOf(s, F_COUNTRY);
    if (countryKind > K_NULL) {
      const cs = s.start[F_COUNTRY]!;
      if (countryKind !== K_STRING || s.end[F_COUNTRY]! - cs !== 2) return false;
      const a = src[cs]!;
      const b = src[cs + 1]!;
      if (countryPair(a, b) < 0) return false;
      r.country = ((a & ~32) << 8) | (b & ~32); // the code, upper-cased (countryPair's letters)
    } else r.country = -1;

    r.src = src;
    r.timestamp = ms;
    r.adStart = adStart;
    r.adEnd = adEnd;
    r.unknown = s.unknown;
    r.unknownCount = s.unknownCount;
    r.extraBytes = s.extraBytes;
    this.writers[partitionForBytes(src, adStart, adEnd, this.partitions)]!.writeRanges(r);
    this.accepted++;
    this.stats.fast++;
    return true;
  }

  /** The known field `f` as JSON.parse gives it (null as undefined: absent). */
  private value(src: Uint8Array, f: number): unknown {
    const s = this.scanned;
    switch (kindOf(s, f)) {
      case K_STRING:
        return decodeUtf8(src, s.start[f]!, s.end[f]!);
      case K_NUMBER:
        return Number(asciiText(src, s.start[f]!, s.end[f]!));
      case K_TRUE:
        return true;
      case K_FALSE:
        return false;
      case K_ABSENT:
      case K_NULL:
      default:
        return undefined;
    }
  }

  /** A scanned record the fast checks did not accept: the full rules decide. */
  private materialised(
    src: Uint8Array,
    index: number,
    line: number,
    lineStart: number,
    lineEnd: number,
    element = false,
  ): void {
    this.stats.checked++;
    // the scanner numbers the known fields by their place in the field table
    const f = {} as FieldValues;
    for (let k = 0; k < FIELDS.length; k++) f[FIELDS[k]!.key] = this.value(src, k);
    const v = validateFields(f, this.opts);
    if (!v.ok) {
      // an NDJSON record's payload is its line; an array element's is re-serialised, as
      // parseJsonArray keeps no raw text when the whole body parses
      const text = decodeUtf8(src, lineStart, lineEnd);
      this.reject(index, line, v.rejection, element ? JSON.stringify(JSON.parse(text)) : text);
      return;
    }
    const s = this.scanned;
    if (s.unknownCount > 0) {
      let extra = '{';
      for (let k = 0; k < s.unknownCount; k++) {
        const u = s.unknown;
        if (k > 0) extra += ',';
        extra +=
          decodeUtf8(src, u[4 * k]!, u[4 * k + 1]!) +
          ':' +
          decodeUtf8(src, u[4 * k + 2]!, u[4 * k + 3]!);
      }
      v.event.extra = extra + '}';
    }
    this.writers[partitionFor(v.event.adId, this.partitions)]!.write(v.event);
    this.accepted++;
  }
}

function isBlankText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10 && c !== 0xfeff) return false;
  }
  return true;
}

function textOf(body: string | Uint8Array): string {
  return typeof body === 'string' ? body : decodeUtf8(body, 0, body.length);
}

/**
 * `b` as a plain Uint8Array (the same memory): a subclass such as node's Buffer has other
 * hidden classes, which would make the scanner's loops polymorphic.
 */
function plainView(b: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(b) === Uint8Array.prototype
    ? b
    : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

let shared: BatchEncoder | undefined;

/** Encodes NDJSON bytes with a shared encoder (see BatchEncoder.encodeNdjson). */
export function encodeNdjsonBatch(src: Uint8Array, opts: EncodeOptions): EncodedBatch {
  return (shared ??= new BatchEncoder()).encodeNdjson(src, opts);
}

/** Encodes a request body with a shared encoder (see BatchEncoder.encodeBody). */
export function encodeBodyBatch(
  body: string | Uint8Array,
  contentType: string | undefined,
  opts: EncodeOptions,
): EncodedBatch {
  return (shared ??= new BatchEncoder()).encodeBody(body, contentType, opts);
}

/**
 * Cuts a byte stream into chunks of whole NDJSON lines, for encoding chunk by chunk (or in
 * parallel): `push` returns the bytes up to the last LF seen (or undefined), `end` the last
 * line when the stream did not end with a LF. Up to two BOMs are skipped at the start of the
 * stream, as the text path skips them (TextDecoder drops one, NdjsonLineSplitter another).
 */
export class NdjsonChunker {
  // the bytes after the last LF so far, in pieces: joined once, when a LF ends the line, so a
  // very long line costs linear time
  private carry: Uint8Array[] = [];
  private carryBytes = 0;
  private head: Uint8Array = EMPTY;
  private started = false;
  private boms = 0;

  /** The whole lines completed by `chunk`, in a new buffer of their own (transferable). */
  push(chunk: Uint8Array): Uint8Array | undefined {
    let data = chunk;
    if (!this.started) {
      data = concat(this.head, chunk);
      this.head = EMPTY;
      while (this.boms < 2 && isBomAt(data, 0, data.length)) {
        data = data.subarray(3);
        this.boms++;
      }
      if (this.boms < 2 && data.length < 3 && isBomPrefix(data)) {
        this.head = copyOf(data, 0, data.length); // too few bytes yet to tell a BOM
        return undefined;
      }
      if (data.length === 0) return undefined;
      this.started = true;
    }
    const last = data.lastIndexOf(10);
    if (last < 0) {
      this.keep(data, 0);
      return undefined;
    }
    const out = new Uint8Array(this.carryBytes + last + 1);
    let p = 0;
    for (const piece of this.carry) {
      out.set(piece, p);
      p += piece.length;
    }
    out.set(data.subarray(0, last + 1), p);
    this.carry = [];
    this.carryBytes = 0;
    this.keep(data, last + 1);
    return out;
  }

  /** The last line when the stream did not end with a LF (a new buffer), or undefined. */
  end(): Uint8Array | undefined {
    const rest = new Uint8Array(this.head.length + this.carryBytes);
    rest.set(this.head, 0);
    let p = this.head.length;
    for (const piece of this.carry) {
      rest.set(piece, p);
      p += piece.length;
    }
    this.head = EMPTY;
    this.carry = [];
    this.carryBytes = 0;
    return rest.length > 0 ? rest : undefined;
  }

  private keep(data: Uint8Array, from: number): void {
    if (from >= data.length) return;
    this.carry.push(copyOf(data, from, data.length));
    this.carryBytes += data.length - from;
  }
}

function isBomPrefix(d: Uint8Array): boolean {
  return (d.length < 1 || d[0] === BOM0) && (d.length < 2 || d[1] === BOM1);
}

/** A copy (a node Buffer's slice() would be a view on memory the stream may reuse). */
function copyOf(d: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(d.subarray(start, end));
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
