/**
 * The fast path from log records to DuckDB: records are written as CSV bytes straight from
 * their binary form (no string is made per event), into a staging file that DuckDB's parallel
 * CSV reader loads. Getting 1M events into a DuckDB table took 8.3 s through the Appender API
 * (one N-API call per value) and 3.1 s through data chunks built from JS arrays; the whole
 * archive path through this file is `tally bench --only archive` (docs/benchmarks.md).
 *
 * Columns, in order: log_partition, log_offset, ad_id, t (epoch ms), event_id (only when it
 * came with the event), user_id, ip, country, extra (unknown fields, JSON text), k (the
 * 128-bit dedup key as 32 hex digits, the record's bytes 16..32 in order). Every text is
 * quoted with `"` doubled inside; an absent one is an empty unquoted field (NULL).
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { RecordCursor } from '../../core/event/codec.js';
import { F_COUNTRY, F_EVENT_ID, F_IP, F_USER_ID } from '../../core/event/fields.js';

/** read_csv's `columns` for the staging file: the one place its layout is named for DuckDB */
export const CSV_COLUMNS =
  "{'log_partition': 'INTEGER', 'log_offset': 'BIGINT', 'ad_id': 'VARCHAR', 't': 'BIGINT', " +
  "'event_id': 'VARCHAR', 'user_id': 'VARCHAR', 'ip': 'VARCHAR', 'country': 'VARCHAR', " +
  "'extra': 'VARCHAR', 'k': 'VARCHAR'}";

/** read_csv options matching what the writer writes (no sniffing: the layout is ours) */
export const CSV_OPTIONS =
  "header = false, auto_detect = false, delim = ',', quote = '\"', escape = '\"', " +
  "allow_quoted_nulls = false, new_line = '\\n', parallel = true";

const HEX = new TextEncoder().encode('0123456789abcdef');
const FLUSH_BYTES = 4 * 1024 * 1024;

/** Which records a stage keeps: all, or those a predicate on the cursor accepts. */
export type RecordPredicate = (c: RecordCursor) => boolean;

export class CsvStage {
  private buf = new Uint8Array(FLUSH_BYTES + 64 * 1024);
  private pos = 0;
  private fh: FileHandle | undefined;
  /** rows written */
  rows = 0;
  minTime = Infinity;
  maxTime = -Infinity;
  private readonly cursor = new RecordCursor();

  private constructor(readonly path: string) {}

  static async create(path: string): Promise<CsvStage> {
    const s = new CsvStage(path);
    s.fh = await open(path, 'w');
    return s;
  }

  /**
   * Appends the framed records of `data` (of `partition`, the first at `firstOffset`) that
   * `keep` accepts (all when absent).
   */
  async add(
    partition: number,
    data: Uint8Array,
    firstOffset: number,
    keep?: RecordPredicate,
  ): Promise<void> {
    const c = this.cursor.reset(data);
    let offset = firstOffset;
    while (c.next()) {
      if (keep === undefined || keep(c)) {
        this.row(partition, offset, c);
        if (this.pos >= FLUSH_BYTES) await this.flush();
      }
      offset++;
    }
  }

  /** Writes what is buffered and closes the file (not fsynced: it is scratch). */
  async close(): Promise<void> {
    if (this.fh === undefined) return;
    await this.flush();
    await this.fh.close();
    this.fh = undefined;
  }

  private async flush(): Promise<void> {
    if (this.pos === 0 || this.fh === undefined) return;
    let at = 0;
    while (at < this.pos) {
      const { bytesWritten } = await this.fh.write(this.buf, at, this.pos - at);
      at += bytesWritten;
    }
    this.pos = 0;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  private row(partition: number, offset: number, c: RecordCursor): void {
    const src = c.buf;
    // worst case: every text byte a quote (doubled), plus numbers, quotes and commas
    const textBytes = c.recordEnd - c.recordStart;
    this.ensure(2 * textBytes + 160);
    const out = this.buf;
    let p = this.pos;
    p = writeInt(out, p, partition);
    out[p++] = 44;
    p = writeInt(out, p, offset);
    out[p++] = 44;
    p = quoted(out, p, src, c.adIdStart, c.adIdEnd);
    out[p++] = 44;
    p = writeInt(out, p, c.timestamp);
    out[p++] = 44;
    p = optional(out, p, src, c.fieldStart[F_EVENT_ID]!, c.fieldEnd[F_EVENT_ID]!);
    out[p++] = 44;
    p = optional(out, p, src, c.fieldStart[F_USER_ID]!, c.fieldEnd[F_USER_ID]!);
    out[p++] = 44;
    p = optional(out, p, src, c.fieldStart[F_IP]!, c.fieldEnd[F_IP]!);
    out[p++] = 44;
    p = optional(out, p, src, c.fieldStart[F_COUNTRY]!, c.fieldEnd[F_COUNTRY]!);
    out[p++] = 44;
    p = optional(out, p, src, c.extraStart, c.extraEnd);
    out[p++] = 44;
    // the dedup key: bytes 16..32 of the record, after its 4-byte length prefix
    const k = c.recordStart + 16;
    for (let i = k; i < k + 16; i++) {
      const b = src[i]!;
      out[p++] = HEX[b >> 4]!;
      out[p++] = HEX[b & 15]!;
    }
    out[p++] = 10;
    this.pos = p;
    this.rows++;
    if (c.timestamp < this.minTime) this.minTime = c.timestamp;
    if (c.timestamp > this.maxTime) this.maxTime = c.timestamp;
  }
}

function optional(out: Uint8Array, p: number, src: Uint8Array, start: number, end: number): number {
  return start < 0 ? p : quoted(out, p, src, start, end);
}

function quoted(out: Uint8Array, p: number, src: Uint8Array, start: number, end: number): number {
  out[p++] = 34;
  for (let i = start; i < end; i++) {
    const b = src[i]!;
    out[p++] = b;
    if (b === 34) out[p++] = 34;
  }
  out[p++] = 34;
  return p;
}

/** Decimal digits of an integer (|v| < 2^53). */
function writeInt(out: Uint8Array, p: number, v: number): number {
  if (v < 0) {
    out[p++] = 45;
    v = -v;
  }
  if (v < 10) {
    out[p++] = 48 + v;
    return p;
  }
  let digits = 0;
  for (let t = v; t >= 1; t = Math.floor(t / 10)) digits++;
  let q = p + digits;
  for (let t = v; q > p; t = Math.floor(t / 10)) out[--q] = 48 + (t % 10);
  return p + digits;
}
