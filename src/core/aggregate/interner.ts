/**
 * Byte strings (ASCII ad ids, dimension values) → dense integer ids, looked up straight from
 * a record buffer: the bytes are hashed in place and compared against an arena, so the hot
 * path creates no string. Ids are 0, 1, 2, … in first-seen order and are never reused.
 */
import { fmix32 } from '../event/hash.js';
import { readUtf8, utf8MaxBytes, writeUtf8 } from '../event/utf8.js';
import { grownInt32 } from './grow.js';

const EMPTY_SLOT = 0;

export class ByteInterner {
  /**
   * open addressing, linear probing; 16-byte slots [hash, id + 1 (0 = empty), arena start,
   * length]: a lookup goes from the slot straight to the bytes it compares
   */
  private table: Int32Array;
  private mask: number;
  /** bytes of id i are arena[starts[i], starts[i + 1]) */
  private arena: Uint8Array;
  private starts: Int32Array;
  private n = 0;
  private scratch = new Uint8Array(64);

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity * 2) cap *= 2;
    this.table = new Int32Array(cap * 4);
    this.mask = cap - 1;
    this.arena = new Uint8Array(initialCapacity * 16);
    this.starts = new Int32Array(initialCapacity + 1);
  }

  get size(): number {
    return this.n;
  }

  /** The id of `buf[start, end)`, adding it if new. */
  intern(buf: Uint8Array, start: number, end: number): number {
    return this.internHashed(hashBytes(buf, start, end), buf, start, end);
  }

  /**
   * Reads the slot `h` (= hashBytes of the key) starts probing at, and returns a word of it:
   * a batch touches its keys' slots first so that the cache misses overlap.
   */
  hint(h: number): number {
    return this.table[(h & this.mask) << 2]!;
  }

  /** After hint(h): touches the bytes the home slot points to, if its hash matches. */
  hintBytes(h: number): number {
    const t = (h & this.mask) << 2;
    return this.table[t] === h ? this.arena[this.table[t + 2]!]! : 0;
  }

  /** intern() with the key's hashBytes already computed */
  internHashed(h: number, buf: Uint8Array, start: number, end: number): number {
    const t = this.slotOf(h, buf, start, end);
    const idp1 = this.table[t + 1]!;
    return idp1 !== EMPTY_SLOT ? idp1 - 1 : this.add(h, t, buf, start, end);
  }

  /** The id of `buf[start, end)`, or -1 if it was never interned. */
  find(buf: Uint8Array, start: number, end: number): number {
    const t = this.slotOf(hashBytes(buf, start, end), buf, start, end);
    return this.table[t + 1]! - 1;
  }

  /** the table index of the key's slot, or of the empty slot where it would go */
  private slotOf(h: number, buf: Uint8Array, start: number, end: number): number {
    const table = this.table;
    const mask = this.mask;
    const len = end - start;
    let slot = h & mask;
    while (true) {
      const t = slot << 2;
      if (table[t + 1] === EMPTY_SLOT) return t;
      if (table[t] === h && table[t + 3] === len && this.equals(table[t + 2]!, buf, start, len))
        return t;
      slot = (slot + 1) & mask;
    }
  }

  /** Interns the UTF-8 bytes of `s` (setup, tests, restore: not the hot path). */
  internString(s: string): number {
    const need = utf8MaxBytes(s);
    if (need > this.scratch.length) this.scratch = new Uint8Array(need * 2);
    const end = writeUtf8(this.scratch, 0, s);
    return this.intern(this.scratch, 0, end);
  }

  findString(s: string): number {
    const need = utf8MaxBytes(s);
    if (need > this.scratch.length) this.scratch = new Uint8Array(need * 2);
    const end = writeUtf8(this.scratch, 0, s);
    return this.find(this.scratch, 0, end);
  }

  /** The text of id (allocates: for emission only). */
  text(id: number): string {
    return readUtf8(this.arena, this.starts[id]!, this.starts[id + 1]!);
  }

  byteLength(id: number): number {
    return this.starts[id + 1]! - this.starts[id]!;
  }

  /** The arena and the range of id's bytes, for serialisation. */
  bytesOf(id: number): Uint8Array {
    return this.arena.subarray(this.starts[id]!, this.starts[id + 1]!);
  }

  /**
   * Byte-wise order of two ids' texts: for ASCII this is JavaScript's string order
   * (UTF-16 code units), which is how ties in a top list are broken.
   */
  compare(a: number, b: number): number {
    if (a === b) return 0;
    const arena = this.arena;
    let i = this.starts[a]!;
    const ie = this.starts[a + 1]!;
    let j = this.starts[b]!;
    const je = this.starts[b + 1]!;
    for (; i < ie && j < je; i++, j++) {
      const d = arena[i]! - arena[j]!;
      if (d !== 0) return d;
    }
    return ie - i - (je - j);
  }

  /** bytes held by the table and the arena (for memory reports) */
  get memoryBytes(): number {
    return this.table.byteLength + this.arena.byteLength + this.starts.byteLength;
  }

  private equals(at: number, buf: Uint8Array, start: number, len: number): boolean {
    const arena = this.arena;
    for (let i = 0; i < len; i++) if (arena[at + i] !== buf[start + i]) return false;
    return true;
  }

  private add(h: number, t: number, buf: Uint8Array, start: number, end: number): number {
    const id = this.n;
    const len = end - start;
    if (id + 2 > this.starts.length) this.starts = grownInt32(this.starts, id + 2);
    const at = this.starts[id]!;
    if (at + len > this.arena.length) {
      const next = new Uint8Array(Math.max(this.arena.length * 2, at + len));
      next.set(this.arena.subarray(0, at));
      this.arena = next;
    }
    // a byte loop: ids are short, and a subarray per new id is garbage (2M at a restore)
    const arena = this.arena;
    for (let i = 0; i < len; i++) arena[at + i] = buf[start + i]!;
    this.starts[id + 1] = at + len;
    this.table[t] = h;
    this.table[t + 1] = id + 1;
    this.table[t + 2] = at;
    this.table[t + 3] = len;
    this.n = id + 1;
    if (this.n * 2 > this.mask + 1) this.grow();
    return id;
  }

  /**
   * Makes room for `ids` ids without growing step by step (a restore knows how many ads it
   * interns); the arena for 16 bytes each, as the constructor sizes it.
   */
  reserve(ids: number): void {
    if (ids + 1 > this.starts.length) {
      const starts = new Int32Array(ids + 1);
      starts.set(this.starts.subarray(0, this.n + 1));
      this.starts = starts;
    }
    const bytes = ids * 16;
    if (bytes > this.arena.length) {
      const arena = new Uint8Array(bytes);
      arena.set(this.arena.subarray(0, this.starts[this.n]!));
      this.arena = arena;
    }
    let cap = this.mask + 1;
    while (ids * 2 > cap) cap *= 2;
    if (cap > this.mask + 1) this.grow(cap);
  }

  private grow(cap = (this.mask + 1) * 2): void {
    const old = this.table;
    const table = new Int32Array(cap * 4);
    const mask = cap - 1;
    for (let o = 0; o < old.length; o += 4) {
      if (old[o + 1] === EMPTY_SLOT) continue;
      const h = old[o]!;
      let slot = h & mask;
      while (table[(slot << 2) + 1] !== EMPTY_SLOT) slot = (slot + 1) & mask;
      const t = slot << 2;
      table[t] = h;
      table[t + 1] = old[o + 1]!;
      table[t + 2] = old[o + 2]!;
      table[t + 3] = old[o + 3]!;
    }
    this.table = table;
    this.mask = mask;
  }
}

/** FNV-1a over the bytes, then a murmur finaliser so the low bits (the slot) are well mixed. */
export function hashBytes(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return fmix32(h);
}
