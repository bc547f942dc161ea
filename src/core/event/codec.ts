/**
 * The binary record format of the raw click log: compact, little-endian, self-delimiting.
 *
 *   offset  size  field
 *   0       u32   body length L (bytes after this field: a record is 4 + L bytes)
 *   4       u8    format version (1)
 *   5       u8    flags: 1 event_id given, 2 country, 4 user_id, 8 ip, 16 extra
 *   6       u8    ad_id byte length (1–255)
 *   7       u8    reserved, 0
 *   8       f64   event time, epoch ms
 *   16      u32×4 dedup key: MurmurHash3_x86_128(ad_id 0x00 event_id), see identity.ts
 *   32      …     ad_id (ASCII)
 *           2     country (ASCII), if flag 2
 *           u16+… event_id (UTF-8), if flag 1; otherwise the canonical id is recomputed
 *           u16+… user_id (UTF-8), if flag 4
 *           u16+… ip (ASCII), if flag 8
 *           u32+… extra: unknown fields as JSON object text (UTF-8), if flag 16
 *
 * The key is computed once at encode time so the aggregator dedups without hashing strings.
 */
import { TallyError } from '../errors.js';
import type { RecordView } from './record.js';
import type { ClickEvent } from './types.js';
import { EventRanges } from './event-ranges.js';
import { FIELDS, FIELD_COUNT, F_COUNTRY, F_EVENT_ID, F_IP, F_USER_ID } from './fields.js';
import { canonicalEventId, dedupKey, dedupKeyOfRanges } from './identity.js';
import { readUtf8, utf8MaxBytes, writeUtf8 } from './utf8.js';

export const RECORD_FORMAT_VERSION = 1;
/** bytes before ad_id: length prefix, version, flags, ad_id length, reserved, time, key */
export const RECORD_HEADER_BYTES = 32;

const EMPTY = new Uint8Array(0);

/** the flags byte: which optional sections a record holds */
const FLAG_EVENT_ID = 1;
const FLAG_COUNTRY = 2;
const FLAG_USER_ID = 4;
const FLAG_IP = 8;
const FLAG_EXTRA = 16;
const KNOWN_FLAGS = FLAG_EVENT_ID | FLAG_COUNTRY | FLAG_USER_ID | FLAG_IP | FLAG_EXTRA;

/** Appends events as framed records into one growing buffer, reused across batches. */
export class RecordWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  private n = 0;
  private readonly key = new Uint32Array(4);
  // write(): the event's strings as UTF-8, and their ranges
  private text = new Uint8Array(256);
  private readonly textRanges = new EventRanges();

  constructor(initialCapacity = 64 * 1024) {
    this.buf = new Uint8Array(Math.max(initialCapacity, 64));
    this.view = new DataView(this.buf.buffer);
  }

  /** records written since the last reset */
  get count(): number {
    return this.n;
  }

  get byteLength(): number {
    return this.pos;
  }

  /**
   * Appends one validated event. When `eventIdGiven` is false the id is not stored (decode
   * recomputes it), so it must be canonicalEventId of the content, as validateEvent makes it.
   * Throws TALLY_INTERNAL if a field exceeds the format's limits.
   */
  write(ev: ClickEvent): void {
    // the canonical id's JSON escapes what the ranges' text may hold: hash the id as made
    this.layOut(this.rangesOf(ev), dedupKey(ev.adId, ev.eventId, this.key));
  }

  /**
   * Appends one event whose dedup key is already known (four unsigned words, as a record holds
   * them): the archive keeps the key, so a replay from it rebuilds the very records the log
   * held without hashing again. `ev.eventId` is stored only when `eventIdGiven`.
   */
  writeKeyed(ev: ClickEvent, k0: number, k1: number, k2: number, k3: number): void {
    const key = this.key;
    key[0] = k0;
    key[1] = k1;
    key[2] = k2;
    key[3] = k3;
    this.layOut(this.rangesOf(ev), key);
  }

  /** The event's strings as UTF-8 in `text`, and their ranges. */
  private rangesOf(ev: ClickEvent): EventRanges {
    const r = this.textRanges;
    const need =
      utf8MaxBytes(ev.adId) +
      (ev.eventIdGiven ? utf8MaxBytes(ev.eventId) : 0) +
      (ev.userId === undefined ? 0 : utf8MaxBytes(ev.userId)) +
      (ev.ip === undefined ? 0 : utf8MaxBytes(ev.ip)) +
      (ev.extra === undefined ? 0 : utf8MaxBytes(ev.extra));
    if (need > this.text.length) this.text = new Uint8Array(Math.max(need, this.text.length * 2));
    const t = this.text;
    r.src = t;
    r.ipSrc = t;
    r.timestamp = ev.timestamp;
    r.adStart = 0;
    let p = (r.adEnd = writeUtf8(t, 0, ev.adId));
    if (ev.country === undefined) r.country = -1;
    else if (ev.country.length !== 2) throw formatLimit('country', ev.country.length, 2);
    else r.country = ((ev.country.charCodeAt(0) & 255) << 8) | (ev.country.charCodeAt(1) & 255);
    if (ev.eventIdGiven) {
      r.eventIdStart = p;
      p = r.eventIdEnd = writeUtf8(t, p, ev.eventId);
    } else r.eventIdStart = r.eventIdEnd = -1;
    if (ev.userId !== undefined) {
      r.userIdStart = p;
      p = r.userIdEnd = writeUtf8(t, p, ev.userId);
    } else r.userIdStart = r.userIdEnd = -1;
    if (ev.ip !== undefined) {
      r.ipStart = p;
      p = r.ipEnd = writeUtf8(t, p, ev.ip);
    } else r.ipStart = r.ipEnd = -1;
    if (ev.extra !== undefined) {
      r.extraStart = p;
      p = r.extraEnd = writeUtf8(t, p, ev.extra);
    } else r.extraStart = r.extraEnd = -1;
    return r;
  }

  /**
   * Appends one validated event given as byte ranges whose texts need no JSON escaping (what
   * the byte scanner reads): the same bytes as write() of the same event (property-tested).
   */
  writeRanges(r: EventRanges): void {
    this.layOut(r, dedupKeyOfRanges(r, this.key));
  }

  /** The record format (see the top of this file): the one place that lays a record out. */
  private layOut(r: EventRanges, key: Uint32Array): void {
    const src = r.src;
    const adLen = r.adEnd - r.adStart;
    const idLen = r.eventIdStart < 0 ? -1 : r.eventIdEnd - r.eventIdStart;
    const userLen = r.userIdStart < 0 ? -1 : r.userIdEnd - r.userIdStart;
    const ipLen = r.ipStart < 0 ? -1 : r.ipEnd - r.ipStart;
    const extraLen =
      r.unknownCount > 0 ? r.extraBytes : r.extraStart < 0 ? -1 : r.extraEnd - r.extraStart;
    if (adLen < 1 || adLen > 255) throw formatLimit('ad_id', adLen, 255);
    if (idLen > 0xffff) throw formatLimit('event_id', idLen, 0xffff);
    if (userLen > 0xffff) throw formatLimit('user_id', userLen, 0xffff);
    if (ipLen > 0xffff) throw formatLimit('ip', ipLen, 0xffff);
    this.ensure(
      this.pos +
        RECORD_HEADER_BYTES +
        adLen +
        2 +
        (idLen + 2) +
        (userLen + 2) +
        (ipLen + 2) +
        (extraLen + 4),
    );
    const buf = this.buf;
    const view = this.view;
    const start = this.pos;

    let flags = 0;
    let p = start + RECORD_HEADER_BYTES;
    // short fields are copied by hand: a subarray per field costs more than the copy
    for (let i = r.adStart; i < r.adEnd; i++) buf[p++] = src[i]!;
    if (r.country >= 0) {
      flags |= FLAG_COUNTRY;
      buf[p++] = r.country >> 8;
      buf[p++] = r.country & 255;
    }
    if (idLen >= 0) {
      flags |= FLAG_EVENT_ID;
      view.setUint16(p, idLen, true);
      p = copyBytes(src, r.eventIdStart, r.eventIdEnd, buf, p + 2);
    }
    if (userLen >= 0) {
      flags |= FLAG_USER_ID;
      view.setUint16(p, userLen, true);
      p = copyBytes(src, r.userIdStart, r.userIdEnd, buf, p + 2);
    }
    if (ipLen >= 0) {
      flags |= FLAG_IP;
      view.setUint16(p, ipLen, true);
      p = copyBytes(r.ipSrc, r.ipStart, r.ipEnd, buf, p + 2);
    }
    if (extraLen >= 0) {
      flags |= FLAG_EXTRA;
      view.setUint32(p, extraLen, true);
      p += 4;
      if (r.unknownCount > 0) {
        const u = r.unknown;
        buf[p++] = 123; // {
        for (let k = 0; k < r.unknownCount; k++) {
          if (k > 0) buf[p++] = 44; // ,
          p = copyBytes(src, u[4 * k]!, u[4 * k + 1]!, buf, p);
          buf[p++] = 58; // :
          p = copyBytes(src, u[4 * k + 2]!, u[4 * k + 3]!, buf, p);
        }
        buf[p++] = 125; // }
      } else p = copyBytes(src, r.extraStart, r.extraEnd, buf, p);
    }

    view.setUint32(start, p - start - 4, true);
    buf[start + 4] = RECORD_FORMAT_VERSION;
    buf[start + 5] = flags;
    buf[start + 6] = adLen;
    buf[start + 7] = 0;
    view.setFloat64(start + 8, r.timestamp, true);
    view.setUint32(start + 16, key[0]!, true);
    view.setUint32(start + 20, key[1]!, true);
    view.setUint32(start + 24, key[2]!, true);
    view.setUint32(start + 28, key[3]!, true);
    this.pos = p;
    this.n++;
  }

  /** Appends already-framed records verbatim (e.g. one copied out of a cursor's buffer). */
  appendRaw(data: Uint8Array, start: number, end: number, records: number): void {
    this.ensure(this.pos + (end - start));
    this.buf.set(data.subarray(start, end), this.pos);
    this.pos += end - start;
    this.n += records;
  }

  /** A copy of exactly the bytes written: it stays valid after reset() and further writes. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /** A view of the bytes written, without copying: valid only until the next write or reset. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** Empties the writer, keeping its buffer. */
  reset(): void {
    this.pos = 0;
    this.n = 0;
  }

  private ensure(capacity: number): void {
    if (capacity <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < capacity) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

/** Copies `src[start, end)` to `out[p]`; returns the position after. */
function copyBytes(
  src: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  p: number,
): number {
  if (end - start > 64) {
    out.set(src.subarray(start, end), p);
    return p + end - start;
  }
  for (let i = start; i < end; i++) out[p++] = src[i]!;
  return p;
}

function formatLimit(field: string, got: number, max: number): TallyError {
  return new TallyError(
    'TALLY_INTERNAL',
    `record format: ${field} is ${got} bytes, the format holds ${max === 2 ? 'exactly 2' : `1–${max}`}`,
    { field },
  );
}

/**
 * Walks concatenated framed records. `next()` parses the next record's fields into
 * positions without allocating; `decode()` and the string getters allocate, for the rare
 * records that need them (late events, raw scans).
 */
export class RecordCursor implements RecordView {
  buf: Uint8Array = EMPTY;
  recordStart = 0;
  recordEnd = 0;
  timestamp = 0;
  adIdStart = 0;
  adIdEnd = 0;
  key0 = 0;
  key1 = 0;
  key2 = 0;
  key3 = 0;
  /** ranges of the optional fields by field number, -1 when absent (event_id: when given) */
  readonly fieldStart = new Int32Array(FIELD_COUNT).fill(-1);
  readonly fieldEnd = new Int32Array(FIELD_COUNT).fill(-1);
  extraStart = -1;
  extraEnd = -1;
  flags = 0;
  private view: DataView<ArrayBufferLike> = new DataView(EMPTY.buffer);
  private pos = 0;

  constructor(data?: Uint8Array) {
    if (data !== undefined) this.reset(data);
  }

  /** Starts walking `data` from its first record. */
  reset(data: Uint8Array): this {
    this.buf = data;
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.pos = 0;
    this.recordStart = 0;
    this.recordEnd = 0;
    return this;
  }

  /** Moves to the next record; false at the end. Throws TALLY_LOG_CORRUPT on a malformed record. */
  next(): boolean {
    const buf = this.buf;
    const view = this.view;
    const start = this.pos;
    const total = buf.length;
    if (start >= total) return false;
    if (total - start < RECORD_HEADER_BYTES) {
      corrupt(start, `truncated header (${total - start} bytes left)`);
    }
    const bodyLen = view.getUint32(start, true);
    const end = start + 4 + bodyLen;
    if (bodyLen < RECORD_HEADER_BYTES - 4 || end > total) {
      corrupt(start, `record length ${bodyLen} does not fit the ${total - start} bytes left`);
    }
    const version = buf[start + 4]!;
    if (version !== RECORD_FORMAT_VERSION) {
      corrupt(start, `unknown record format version ${version}`);
    }
    const flags = buf[start + 5]!;
    if ((flags & ~KNOWN_FLAGS) !== 0) corrupt(start, `unknown flags 0x${flags.toString(16)}`);
    const adLen = buf[start + 6]!;
    let p = start + RECORD_HEADER_BYTES;
    if (adLen === 0 || p + adLen > end) corrupt(start, `bad ad_id length ${adLen}`);
    this.adIdStart = p;
    p += adLen;
    this.adIdEnd = p;

    p = this.section(p, end, start, F_COUNTRY, (flags & FLAG_COUNTRY) !== 0, 2);
    p = this.section(p, end, start, F_EVENT_ID, (flags & FLAG_EVENT_ID) !== 0, 0);
    p = this.section(p, end, start, F_USER_ID, (flags & FLAG_USER_ID) !== 0, 0);
    p = this.section(p, end, start, F_IP, (flags & FLAG_IP) !== 0, 0);
    if ((flags & FLAG_EXTRA) !== 0) {
      if (p + 4 > end) corrupt(start, 'truncated extra length');
      const len = view.getUint32(p, true);
      p += 4;
      if (p + len > end) corrupt(start, `extra length ${len} overruns the record`);
      this.extraStart = p;
      p += len;
      this.extraEnd = p;
    } else {
      this.extraStart = this.extraEnd = -1;
    }
    if (p !== end) corrupt(start, `${end - p} stray bytes at the end of the record`);

    const ts = view.getFloat64(start + 8, true);
    if (!Number.isFinite(ts)) corrupt(start, 'non-finite timestamp');
    this.flags = flags;
    this.timestamp = ts;
    this.key0 = view.getUint32(start + 16, true);
    this.key1 = view.getUint32(start + 20, true);
    this.key2 = view.getUint32(start + 24, true);
    this.key3 = view.getUint32(start + 28, true);
    this.recordStart = start;
    this.recordEnd = end;
    this.pos = end;
    return true;
  }

  /**
   * The optional field `f` at `p`, when `present`: `size` bytes, or (size 0) a u16 length and
   * that many bytes. Sets its range (-1 when absent); returns the position after it.
   */
  private section(
    p: number,
    end: number,
    recStart: number,
    f: number,
    present: boolean,
    size: number,
  ): number {
    if (!present) {
      this.fieldStart[f] = this.fieldEnd[f] = -1;
      return p;
    }
    let len = size;
    if (size === 0) {
      if (p + 2 > end) corrupt(recStart, `truncated ${FIELDS[f]!.name} length`);
      len = this.view.getUint16(p, true);
      p += 2;
      if (p + len > end) corrupt(recStart, `${FIELDS[f]!.name} length ${len} overruns the record`);
    } else if (p + size > end) corrupt(recStart, `truncated ${FIELDS[f]!.name}`);
    this.fieldStart[f] = p;
    this.fieldEnd[f] = p + len;
    return p + len;
  }

  /** The text of optional field `f` (its field number) in the current record, or undefined. */
  field(f: number): string | undefined {
    const start = this.fieldStart[f]!;
    return start < 0 ? undefined : readUtf8(this.buf, start, this.fieldEnd[f]!);
  }

  adId(): string {
    return readUtf8(this.buf, this.adIdStart, this.adIdEnd);
  }

  country(): string | undefined {
    return this.field(F_COUNTRY);
  }

  userId(): string | undefined {
    return this.field(F_USER_ID);
  }

  ip(): string | undefined {
    return this.field(F_IP);
  }

  extra(): string | undefined {
    return this.extraStart < 0 ? undefined : readUtf8(this.buf, this.extraStart, this.extraEnd);
  }

  /** whether the current record's event_id came with the event */
  eventIdGiven(): boolean {
    return (this.flags & FLAG_EVENT_ID) !== 0;
  }

  /** The event id of the current record: the given one, or the canonical id recomputed. */
  eventId(): string {
    return (
      this.field(F_EVENT_ID) ??
      canonicalEventId(this.adId(), this.timestamp, this.userId(), this.ip(), this.country())
    );
  }

  /** The current record as a ClickEvent (allocates). */
  decode(): ClickEvent {
    const adId = this.adId();
    const userId = this.userId();
    const ip = this.ip();
    const country = this.country();
    const given = this.field(F_EVENT_ID);
    return {
      adId,
      timestamp: this.timestamp,
      eventId: given ?? canonicalEventId(adId, this.timestamp, userId, ip, country),
      eventIdGiven: given !== undefined,
      userId,
      ip,
      country,
      extra: this.extra(),
    };
  }
}

function corrupt(offset: number, why: string): never {
  throw new TallyError('TALLY_LOG_CORRUPT', `corrupt click record at byte ${offset}: ${why}`, {
    details: { offset },
  });
}

/** Encodes events into one buffer of framed records. */
export function encodeEvents(events: Iterable<ClickEvent>): Uint8Array {
  const w = new RecordWriter();
  for (const ev of events) w.write(ev);
  return w.finish();
}

/** Decodes every framed record of `data`; throws TALLY_LOG_CORRUPT on a malformed one. */
export function decodeAll(data: Uint8Array): ClickEvent[] {
  const out: ClickEvent[] = [];
  const c = new RecordCursor(data);
  while (c.next()) out.push(c.decode());
  return out;
}

/** Counts the framed records of `data` without decoding them. */
export function countRecords(data: Uint8Array): number {
  const c = new RecordCursor(data);
  let n = 0;
  while (c.next()) n++;
  return n;
}
