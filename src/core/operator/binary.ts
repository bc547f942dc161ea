/**
 * Little-endian binary writer and bounds-checked reader for operator snapshots. The reader
 * throws TALLY_SNAPSHOT_INVALID on any overrun, so a truncated snapshot is reported, never
 * half-read.
 */
import { TallyError } from '../errors.js';

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  pos = 0;

  /** `expected`: a size estimate, so a large snapshot is not copied at every doubling */
  constructor(expected = 4096) {
    this.buf = new Uint8Array(Math.max(64, expected));
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  i32(v: number): void {
    this.ensure(4);
    this.view.setInt32(this.pos, v, true);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  i32s(a: Int32Array, n: number): void {
    this.ensure(4 * n);
    const view = this.view;
    let p = this.pos;
    for (let i = 0; i < n; i++, p += 4) view.setInt32(p, a[i]!, true);
    this.pos = p;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** the bytes written (a view: valid until the next write) */
  view8(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

export class ByteReader {
  private readonly view: DataView;
  pos = 0;

  constructor(
    readonly buf: Uint8Array,
    readonly end: number = buf.length,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number): void {
    if (this.pos + n > this.end) invalid(`truncated at byte ${this.pos} (needs ${n} more)`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** a count of items of at least `itemBytes` each: rejects counts the rest cannot hold */
  count(itemBytes: number): number {
    const n = this.u32();
    if (n * itemBytes > this.end - this.pos) invalid(`count ${n} at byte ${this.pos} overruns`);
    return n;
  }
}

export function invalid(why: string): never {
  throw new TallyError('TALLY_SNAPSHOT_INVALID', `operator snapshot: ${why}`);
}
