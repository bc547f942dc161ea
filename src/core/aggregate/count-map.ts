/**
 * Counters keyed by small integers, the per-minute state of the engine: open addressing over
 * a typed array (stride [key, entry + 1], linear probing) in front of dense, insertion-ordered
 * entry arrays, so iteration touches only live entries and an entry's index is stable across
 * growth (the dirty list of a closed minute refers to entries by index).
 *
 * A map may also be made from its entries alone (`fromEntries`: keys and counts in entry
 * order, as a snapshot holds them or a dense minute settles): its hash table is built on
 * the first lookup or add, never for a minute that only gets read in entry order (a final
 * one, kept for the top windows). A restore then copies the entries instead of hashing
 * millions of them into fresh tables.
 */
import { grownInt32, grownUint8 } from './grow.js';

const NO_TABLE = new Int32Array(0);

function nextPow2(n: number): number {
  let c = 8;
  while (c < n) c *= 2;
  return c;
}

/** Marks entries changed since the last emission of a closed minute, in first-change order. */
class DirtySet {
  mark: Uint8Array = new Uint8Array(8);
  list: Int32Array = new Int32Array(8);
  count = 0;

  add(entry: number): void {
    if (entry >= this.mark.length) this.mark = grownUint8(this.mark, entry + 1);
    if (this.mark[entry] === 1) return;
    this.mark[entry] = 1;
    if (this.count === this.list.length) this.list = grownInt32(this.list, this.count + 1);
    this.list[this.count++] = entry;
  }

  clear(): void {
    for (let i = 0; i < this.count; i++) this.mark[this.list[i]!] = 0;
    this.count = 0;
  }
}

/**
 * key (int32) → count. The count lives in the probed slot itself ([key, count, entry + 1, ·],
 * 16 bytes, aligned), so an increment costs one cache line; entries keep the keys in
 * insertion order and their current slot.
 */
export class CountMap {
  private table: Int32Array;
  private shift: number;
  keys: Int32Array;
  private slots: Int32Array;
  size = 0;
  readonly dirty = new DirtySet();
  /** made from entries, no table yet: the counts by entry */
  private counts: Int32Array | null = null;

  constructor(expected = 8) {
    const cap = nextPow2(expected * 2);
    this.table = new Int32Array(cap * 4);
    this.shift = 32 - Math.log2(cap);
    this.keys = new Int32Array(Math.max(expected, 8));
    this.slots = new Int32Array(Math.max(expected, 8));
  }

  /**
   * The map of `n` entries, keys[e] → counts[e] (distinct keys: the caller's to check); the
   * arrays become the map's. Its table is built on the first add or get.
   */
  static fromEntries(keys: Int32Array, counts: Int32Array, n: number): CountMap {
    const m = new CountMap(0);
    m.table = NO_TABLE;
    m.keys = keys;
    m.slots = NO_TABLE;
    m.counts = counts;
    m.size = n;
    return m;
  }

  /** Adds `delta` to key's count; returns the entry index. */
  add(key: number, delta: number): number {
    if (this.counts !== null) this.buildTable();
    const table = this.table;
    const mask = (table.length >> 2) - 1;
    let slot = Math.imul(key, 0x9e3779b1) >>> this.shift;
    while (true) {
      const t = slot << 2;
      const ep1 = table[t + 2]!;
      if (ep1 === 0) break;
      if (table[t] === key) {
        table[t + 1]! += delta;
        return ep1 - 1;
      }
      slot = (slot + 1) & mask;
    }
    const e = this.size++;
    if (e === this.keys.length) {
      this.keys = grownInt32(this.keys, e + 1);
      this.slots = grownInt32(this.slots, e + 1);
    }
    this.keys[e] = key;
    this.slots[e] = slot;
    const t = slot << 2;
    table[t] = key;
    table[t + 1] = delta;
    table[t + 2] = e + 1;
    if (this.size * 2 > mask + 1) this.rehash();
    return e;
  }

  /** the count of entry e */
  countAt(e: number): number {
    const counts = this.counts;
    return counts !== null ? counts[e]! : this.table[(this.slots[e]! << 2) + 1]!;
  }

  /** Touches key's home slot (see ByteInterner.hint). */
  hint(key: number): number {
    if (this.counts !== null) return 0;
    return this.table[(Math.imul(key, 0x9e3779b1) >>> this.shift) << 2]!;
  }

  get(key: number): number {
    if (this.counts !== null) this.buildTable();
    const table = this.table;
    const mask = (table.length >> 2) - 1;
    let slot = Math.imul(key, 0x9e3779b1) >>> this.shift;
    while (true) {
      const t = slot << 2;
      if (table[t + 2] === 0) return 0;
      if (table[t] === key) return table[t + 1]!;
      slot = (slot + 1) & mask;
    }
  }

  get memoryBytes(): number {
    return (
      this.table.byteLength +
      this.keys.byteLength +
      this.slots.byteLength +
      (this.counts?.byteLength ?? 0)
    );
  }

  /** fromEntries' map gets its table (keys are distinct: each goes to the first empty slot) */
  private buildTable(): void {
    const counts = this.counts!;
    const n = this.size;
    const cap = nextPow2(Math.max(n, 8) * 2);
    const table = new Int32Array(cap * 4);
    const mask = cap - 1;
    const shift = 32 - Math.log2(cap);
    const keys = this.keys;
    const slots = new Int32Array(Math.max(keys.length, 8));
    for (let e = 0; e < n; e++) {
      const key = keys[e]!;
      let slot = Math.imul(key, 0x9e3779b1) >>> shift;
      while (table[(slot << 2) + 2] !== 0) slot = (slot + 1) & mask;
      const t = slot << 2;
      table[t] = key;
      table[t + 1] = counts[e]!;
      table[t + 2] = e + 1;
      slots[e] = slot;
    }
    this.table = table;
    this.shift = shift;
    this.slots = slots;
    this.counts = null;
  }

  private rehash(): void {
    const old = this.table;
    const cap = (old.length >> 2) * 2;
    const table = new Int32Array(cap * 4);
    const mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    for (let e = 0; e < this.size; e++) {
      const key = this.keys[e]!;
      let slot = Math.imul(key, 0x9e3779b1) >>> this.shift;
      while (table[(slot << 2) + 2] !== 0) slot = (slot + 1) & mask;
      const t = slot << 2;
      table[t] = key;
      table[t + 1] = old[(this.slots[e]! << 2) + 1]!;
      table[t + 2] = e + 1;
      this.slots[e] = slot;
    }
    this.table = table;
  }
}

/** (a, b) int32 pair → count: the (ad, dimension value) rows of a minute; slots [a, b, count, entry + 1] */
export class PairCountMap implements PairCounts {
  private table: Int32Array;
  private shift: number;
  keysA: Int32Array;
  keysB: Int32Array;
  private slots: Int32Array;
  size = 0;
  readonly dirty = new DirtySet();
  /** made from entries, no table yet: the counts by entry */
  private counts: Int32Array | null = null;

  constructor(expected = 8) {
    const cap = nextPow2(expected * 2);
    this.table = new Int32Array(cap * 4);
    this.shift = 32 - Math.log2(cap);
    this.keysA = new Int32Array(Math.max(expected, 8));
    this.keysB = new Int32Array(Math.max(expected, 8));
    this.slots = new Int32Array(Math.max(expected, 8));
  }

  /** As CountMap.fromEntries: (keysA[e], keysB[e]) → counts[e], the pairs distinct. */
  static fromEntries(
    keysA: Int32Array,
    keysB: Int32Array,
    counts: Int32Array,
    n: number,
  ): PairCountMap {
    const m = new PairCountMap(0);
    m.table = NO_TABLE;
    m.keysA = keysA;
    m.keysB = keysB;
    m.slots = NO_TABLE;
    m.counts = counts;
    m.size = n;
    return m;
  }

  add(a: number, b: number, delta: number): number {
    if (this.counts !== null) this.buildTable();
    const table = this.table;
    const mask = (table.length >> 2) - 1;
    let slot = pairSlot(a, b, this.shift);
    while (true) {
      const t = slot << 2;
      const ep1 = table[t + 3]!;
      if (ep1 === 0) break;
      if (table[t] === a && table[t + 1] === b) {
        table[t + 2]! += delta;
        return ep1 - 1;
      }
      slot = (slot + 1) & mask;
    }
    const e = this.size++;
    if (e === this.keysA.length) {
      this.keysA = grownInt32(this.keysA, e + 1);
      this.keysB = grownInt32(this.keysB, e + 1);
      this.slots = grownInt32(this.slots, e + 1);
    }
    this.keysA[e] = a;
    this.keysB[e] = b;
    this.slots[e] = slot;
    const t = slot << 2;
    table[t] = a;
    table[t + 1] = b;
    table[t + 2] = delta;
    table[t + 3] = e + 1;
    if (this.size * 2 > mask + 1) this.rehash();
    return e;
  }

  countAt(e: number): number {
    const counts = this.counts;
    return counts !== null ? counts[e]! : this.table[(this.slots[e]! << 2) + 2]!;
  }

  /** Touches (a, b)'s home slot (see ByteInterner.hint). */
  hint(a: number, b: number): number {
    if (this.counts !== null) return 0;
    return this.table[pairSlot(a, b, this.shift) << 2]!;
  }

  get(a: number, b: number): number {
    if (this.counts !== null) this.buildTable();
    const table = this.table;
    const mask = (table.length >> 2) - 1;
    let slot = pairSlot(a, b, this.shift);
    while (true) {
      const t = slot << 2;
      if (table[t + 3] === 0) return 0;
      if (table[t] === a && table[t + 1] === b) return table[t + 2]!;
      slot = (slot + 1) & mask;
    }
  }

  get memoryBytes(): number {
    return (
      this.table.byteLength +
      this.keysA.byteLength +
      this.keysB.byteLength +
      this.slots.byteLength +
      (this.counts?.byteLength ?? 0)
    );
  }

  private buildTable(): void {
    const counts = this.counts!;
    const n = this.size;
    const cap = nextPow2(Math.max(n, 8) * 2);
    const table = new Int32Array(cap * 4);
    const mask = cap - 1;
    const shift = 32 - Math.log2(cap);
    const slots = new Int32Array(Math.max(this.keysA.length, 8));
    for (let e = 0; e < n; e++) {
      const a = this.keysA[e]!;
      const b = this.keysB[e]!;
      let slot = pairSlot(a, b, shift);
      while (table[(slot << 2) + 3] !== 0) slot = (slot + 1) & mask;
      const t = slot << 2;
      table[t] = a;
      table[t + 1] = b;
      table[t + 2] = counts[e]!;
      table[t + 3] = e + 1;
      slots[e] = slot;
    }
    this.table = table;
    this.shift = shift;
    this.slots = slots;
    this.counts = null;
  }

  private rehash(): void {
    const old = this.table;
    const cap = (old.length >> 2) * 2;
    const table = new Int32Array(cap * 4);
    const mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    for (let e = 0; e < this.size; e++) {
      const a = this.keysA[e]!;
      const b = this.keysB[e]!;
      let slot = pairSlot(a, b, this.shift);
      while (table[(slot << 2) + 3] !== 0) slot = (slot + 1) & mask;
      const t = slot << 2;
      table[t] = a;
      table[t + 1] = b;
      table[t + 2] = old[(this.slots[e]! << 2) + 2]!;
      table[t + 3] = e + 1;
      this.slots[e] = slot;
    }
    this.table = table;
  }
}

function pairSlot(a: number, b: number, shift: number): number {
  return Math.imul(a ^ Math.imul(b, 0x85ebca6b), 0x9e3779b1) >>> shift;
}

/** What reads a minute's (a, b) counts needs, whether they can still change or not. */
export interface PairCounts {
  readonly size: number;
  readonly keysA: Int32Array;
  readonly keysB: Int32Array;
  readonly dirty: { readonly count: number; readonly list: Int32Array; clear(): void };
  countAt(e: number): number;
  get(a: number, b: number): number;
  readonly memoryBytes: number;
}

/**
 * The (a, b) counts of a minute that can no longer change, 12 bytes an entry instead of a
 * hash table's ~60: entries sorted by (a, b), found by binary search. Kept while a top window
 * longer than a minute still covers the minute (the per-value top lists re-read them).
 */
export class FrozenPairCounts implements PairCounts {
  readonly size: number;
  readonly keysA: Int32Array;
  readonly keysB: Int32Array;
  private readonly counts: Int32Array;
  /** always empty: nothing changes a final minute */
  readonly dirty = new DirtySet();

  constructor(m: PairCounts) {
    const n = m.size;
    const order = new Uint32Array(n);
    for (let e = 0; e < n; e++) order[e] = e;
    const ka = m.keysA;
    const kb = m.keysB;
    order.sort((x, y) => ka[x]! - ka[y]! || kb[x]! - kb[y]!);
    this.size = n;
    this.keysA = new Int32Array(n);
    this.keysB = new Int32Array(n);
    this.counts = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const e = order[i]!;
      this.keysA[i] = ka[e]!;
      this.keysB[i] = kb[e]!;
      this.counts[i] = m.countAt(e);
    }
  }

  countAt(e: number): number {
    return this.counts[e]!;
  }

  get(a: number, b: number): number {
    const ka = this.keysA;
    const kb = this.keysB;
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const d = ka[mid]! - a || kb[mid]! - b;
      if (d === 0) return this.counts[mid]!;
      if (d < 0) lo = mid + 1;
      else hi = mid;
    }
    return 0;
  }

  get memoryBytes(): number {
    return this.keysA.byteLength + this.keysB.byteLength + this.counts.byteLength;
  }
}
