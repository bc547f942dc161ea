/**
 * Request and file bytes → encoded log records per partition, plus the rejected records:
 * everything the ingest path does between "bytes arrived" and "append to the log", with no
 * per-event work left for the service.
 *
 * Each record takes the fast path when the byte scanner (scan.ts) can read it: its fields
 * pass the fast checks (fast-accept.ts) and are encoded straight from the bytes
 * (RecordWriter.writeRanges). When a fast check does not pass, the known fields' values are
 * materialised as JSON.parse would give them (scanned-values.ts) and `validateFields`
 * decides — the same rule, message and order as validateEvent. A record the scanner does not
 * handle (escapes, nested values, duplicate keys, not an object, not JSON, …) goes the slow
 * way: parseNdjsonLine + validateEvent + RecordWriter.write, exactly what the service did
 * before. The results are the same whichever path a record takes;
 * test/unit/event/encode-batch.test.ts checks it on arbitrary input. How a body holds its
 * records is body-framing.ts's; cutting a stream into chunks of lines, ndjson-chunker.ts's.
 *
 * Index and line semantics are parse-body.ts's: `index` counts the non-blank records, `line`
 * every line; a batch that is one chunk of a larger stream starts at `firstIndex`/`firstLine`.
 */
import type { ErrorCode, Rejection } from '../errors.js';
import { bodyShape } from './body-framing.js';
import { RecordWriter } from './codec.js';
import { EventRanges } from './event-ranges.js';
import { fastAccept } from './fast-accept.js';
import { partitionFor, partitionForBytes } from './hash.js';
import {
  invalidUtf8,
  isBlank,
  parseBody,
  parseNdjsonLine,
  recordPrefix,
  type ParsedRecord,
} from './parse-body.js';
import { ScannedObject, scanObject, skipWs } from './scan.js';
import { decodeUtf8, scannedExtra, scannedValues } from './scanned-values.js';
import type { ValidationOptions } from './types.js';
import { FAST_PATH_MAX_BYTES, safeJsonText } from './record-limits.js';
import { decodeUtf8Marked, decodeUtf8Strict, invalidByteAt, isWellFormed } from './utf8.js';
import { validateEvent, validateFields } from './validate.js';

export interface EncodeOptions extends ValidationOptions {
  /** partitions of the log: records are routed by partitionFor(ad_id) */
  partitions: number;
  /** index of the batch's first record (default 0): for a chunk of a longer stream */
  firstIndex?: number;
  /** 1-based line number of the batch's first line (default 1) */
  firstLine?: number;
  /**
   * records a body may hold (a request's cap): beyond it the encoder stops early and the
   * batch says `overLimit`, with nothing to append (default: no cap)
   */
  maxRecords?: number;
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
  /** the body holds more than EncodeOptions.maxRecords records: refuse it whole */
  overLimit: boolean;
}

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

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
    const before = recordPrefix(r.index, r.line);
    r.index += firstIndex;
    r.line += firstLine - 1;
    if (r.code === 'TALLY_EVENT_MALFORMED_JSON') {
      const again = parseNdjsonLine(r.payload, r.index, r.line);
      if (!again.ok) r.message = again.rejection.message;
    } else if (r.code === 'TALLY_EVENT_INVALID_UTF8' && r.message.startsWith(before)) {
      r.message = recordPrefix(r.index, r.line) + r.message.slice(before.length);
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
  private maxRecords = Infinity;
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
    const stopAt = firstIndex + this.maxRecords;
    while (pos < end) {
      // one record over the cap is enough to refuse the body: no work on the rest
      if (index > stopAt) break;
      line++;
      if (src[pos] === 123) {
        // the common line: `{…}` scanned to its end without looking for the LF first
        const after = scanObject(src, pos, end, this.scanned, false);
        // a long record is the slow path's: it applies the record limits (record-limits.ts)
        if (after >= 0 && after - pos <= FAST_PATH_MAX_BYTES) {
          let q = after;
          while (q < end && (src[q] === 32 || src[q] === 9 || src[q] === 13)) q++;
          if (q === end || src[q] === 10) {
            const e = q > pos && src[q - 1] === 13 ? q - 1 : q;
            if (!this.fast(src)) this.materialised(src, index, line, pos, e);
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
    this.maxRecords = opts.maxRecords ?? Infinity;
    const shape = bodyShape(bytes, contentType, this.scanned);
    switch (shape.kind) {
      case 'empty':
        return this.encodeParsed([], opts);
      case 'ndjson':
        return this.encodeNdjson(bytes, opts, shape.start, bytes.length);
      case 'array': {
        const scanned = this.encodeArray(bytes, shape.open, bytes.length, opts);
        if (scanned !== undefined) return scanned;
        // before JSON.parse makes an object of every element: a body over the cap is refused
        if (arrayElementsOver(bytes, shape.open, this.maxRecords)) return this.overLimit(opts);
        return this.encodeText(body, bytes, contentType, opts);
      }
      case 'text':
        return this.encodeText(body, bytes, contentType, opts);
    }
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
        if (index > this.maxRecords) return this.overLimit(opts);
        if (i >= end || src[i] !== 123) return undefined;
        const after = scanObject(src, i, end, this.scanned, true);
        if (after < 0 || after - i > FAST_PATH_MAX_BYTES) return undefined;
        if (!this.fast(src)) this.materialised(src, index, 0, i, after, true);
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
   * A body the scanner does not read whole, parsed as text (parse-body.ts). Bytes that are not
   * all UTF-8 are decoded with marks where they fail, and the records holding them refused.
   */
  private encodeText(
    body: string | Uint8Array,
    bytes: Uint8Array,
    contentType: string | undefined,
    opts: EncodeOptions,
  ): EncodedBatch {
    if (typeof body === 'string') return this.encodeParsed(parseBody(body, contentType), opts);
    const text = decodeUtf8Strict(bytes, 0, bytes.length);
    const records =
      text === undefined
        ? parseBody(decodeUtf8Marked(bytes, 0, bytes.length), contentType, true)
        : parseBody(text, contentType);
    return this.encodeParsed(records, opts);
  }

  /** Encodes records parsed by parse-body.ts (the slow path for a whole body). */
  encodeParsed(records: readonly ParsedRecord[], opts: EncodeOptions): EncodedBatch {
    this.begin(opts);
    if (records.length > this.maxRecords) return this.overLimit(opts);
    for (const rec of records) this.slowRecord(rec);
    return this.finish(records.length, 0);
  }

  /** A body over EncodeOptions.maxRecords: nothing to append, nothing rejected one by one. */
  private overLimit(opts: EncodeOptions): EncodedBatch {
    this.begin(opts);
    const b = this.finish(this.maxRecords + 1, 0);
    b.overLimit = true;
    return b;
  }

  private begin(opts: EncodeOptions): void {
    this.opts = { now: opts.now, maxFutureSkewMs: opts.maxFutureSkewMs };
    this.maxRecords = opts.maxRecords ?? Infinity;
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
      overLimit: records > this.maxRecords,
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
    const text = decodeUtf8Strict(src, start, end);
    if (text === undefined) {
      // bytes that are not UTF-8: refused, naming the byte and the field, never read as U+FFFD
      const marked = decodeUtf8Marked(src, start, end);
      this.stats.slow++;
      this.slowRecord(invalidUtf8(index, line, marked, invalidByteAt(marked)));
      return true;
    }
    if (isBlank(text)) return false;
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
    // an element of a JSON array body has no text of its own: it is re-serialised, without
    // recursion (a record refused for its nesting may be thousands of levels deep)
    this.reject(rec.index, rec.line, v.rejection, rec.raw ?? safeJsonText(rec.value));
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
    if (after < 0 || after - p > FAST_PATH_MAX_BYTES || skipWs(src, after, end) !== end) {
      return false;
    }
    if (!this.fast(src)) this.materialised(src, index, line, lineStart, end);
    return true;
  }

  /**
   * The fast path for a scanned record: encoded from its bytes when the fast checks pass
   * (fast-accept.ts); false sends it to `materialised`.
   */
  private fast(src: Uint8Array): boolean {
    const r = this.ranges;
    if (!fastAccept(src, this.scanned, r, this.opts)) return false;
    this.writers[partitionForBytes(src, r.adStart, r.adEnd, this.partitions)]!.writeRanges(r);
    this.accepted++;
    this.stats.fast++;
    return true;
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
    const v = validateFields(scannedValues(src, this.scanned), this.opts);
    if (!v.ok) {
      // an NDJSON record's payload is its line; an array element's is re-serialised, as
      // parseJsonArray keeps no raw text when the whole body parses
      const text = decodeUtf8(src, lineStart, lineEnd);
      this.reject(index, line, v.rejection, element ? JSON.stringify(JSON.parse(text)) : text);
      return;
    }
    v.event.extra = scannedExtra(src, this.scanned);
    this.writers[partitionFor(v.event.adId, this.partitions)]!.write(v.event);
    this.accepted++;
  }
}

/**
 * Whether the JSON array whose `[` is at `src[open]` has more than `max` elements: its
 * top-level commas, counted over strings and nesting, up to max + 1. A byte walk, for bodies
 * about to be parsed whole.
 */
function arrayElementsOver(src: Uint8Array, open: number, max: number): boolean {
  if (max === Infinity) return false;
  let commas = 0;
  let depth = 0;
  for (let i = open + 1; i < src.length; i++) {
    const c = src[i]!;
    if (c === 34) {
      // a string: to its closing quote
      for (i++; i < src.length; i++) {
        const d = src[i]!;
        if (d === 92) i++;
        else if (d === 34) break;
      }
    } else if (c === 91 || c === 123) depth++;
    else if (c === 93 || c === 125) {
      if (depth === 0) break;
      depth--;
    } else if (c === 44 && depth === 0 && ++commas >= max) return true;
  }
  return false;
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
