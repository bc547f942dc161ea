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

  /** Makes room for `n` bytes; returns where they go. */
  private reserve(n: number): number {
    this.ensure(n);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  // each reserves first: growing replaces buf and view

  u8(v: number): void {
    const at = this.reserve(1);
    this.buf[at] = v;
  }

  u16(v: number): void {
    const at = this.reserve(2);
    this.view.setUint16(at, v, true);
  }

  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }

  i32(v: number): void {
    const at = this.reserve(4);
    this.view.setInt32(at, v, true);
  }

  f64(v: number): void {
    const at = this.reserve(8);
    this.view.setFloat64(at, v, true);
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

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class ByteReader {
  private readonly view: DataView;
  pos = 0;

  constructor(
    readonly buf: Uint8Array,
    readonly end: number = buf.length,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** The position of the next `n` bytes, which are then consumed; throws past the end. */
  private take(n: number): number {
    if (this.pos + n > this.end) invalid(`truncated at byte ${this.pos} (needs ${n} more)`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(): number {
    return this.buf[this.take(1)]!;
  }

  u16(): number {
    return this.view.getUint16(this.take(2), true);
  }

  u32(): number {
    return this.view.getUint32(this.take(4), true);
  }

  i32(): number {
    return this.view.getInt32(this.take(4), true);
  }

  f64(): number {
    return this.view.getFloat64(this.take(8), true);
  }

  /** `n` little-endian i32 as an array of their own (a copy: restores keep them) */
  i32s(n: number): Int32Array {
    const at = this.take(4 * n);
    const out = new Int32Array(n);
    if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer).set(this.buf.subarray(at, at + 4 * n));
    else for (let i = 0; i < n; i++) out[i] = this.view.getInt32(at + 4 * i, true);
    return out;
  }

  /** Consumes `n` bytes and returns where they start in `buf` (no view made). */
  skip(n: number): number {
    return this.take(n);
  }

  bytes(n: number): Uint8Array {
    const at = this.take(n);
    return this.buf.subarray(at, at + n);
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
