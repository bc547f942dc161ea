/**
 * The set of remembered event ids (SPEC §2: duplicates within dedupHorizon count once).
 * Keys are the records' 128-bit dedup keys; each entry expires at event time + horizon and
 * is dead once the pipeline watermark reaches that expiry: a dead entry is treated exactly as
 * an absent one, so when the dead entries are physically dropped never changes an answer.
 *
 * Layout: one ArrayBuffer of 24-byte slots, [expiry f64 | k0 k1 k2 k3 i32], open addressing
 * with linear probing, so a probe mostly touches one cache line. An empty slot is all zero
 * bits, so a new table needs no fill pass (fresh memory is zero); an expiry of 0 is stored
 * as −0, which compares the same but has a sign bit.
 * No tombstones: dead entries are overwritten in place by inserts, and `sweep` deletes them in
 * place (backward-shift deletion) once enough have died (counted per expiry minute, so we know
 * when); the table is rebuilt only to grow, or to shrink when it is four times too large.
 *
 * Change tracking, for incremental snapshots: every slot written since `resetChanges` is
 * marked (a bit per slot, and a list), so a snapshot can store just those slots, and a restore
 * can put the slots back as they were (a copy, no re-insertion). A rebuild moves every entry:
 * it sets `relocated`, and the next snapshot must hold the whole slot array.
 */
import { MINUTE_MS } from '../window/minute.js';

const SLOT_BYTES = 24;
const SLOT_F64 = 3;
const SLOT_I32 = 6;
const MAX_LOAD = 0.7;
// entries are counted per expiry minute
const BUCKET_MS = MINUTE_MS;

export class DedupTable {
  private f64: Float64Array;
  private i32: Int32Array;
  private mask: number;
  /** occupied slots, dead ones included */
  private used = 0;
  /** occupied slots per expiry minute (floor(expiry / 1 min)): what a sweep would free */
  private buckets = new Map<number, number>();
  // one-entry cache in front of `buckets`: consecutive events mostly share a minute
  private cachedBucket = NaN;
  private cachedDelta = 0;
  /** one bit per slot: written since the last resetChanges */
  private marks: Uint32Array;
  /** the marked slots, in marking order */
  private changes = new Int32Array(1024);
  private changeCount = 0;
  /** a rebuild moved the entries since the last resetChanges */
  private moved = true;

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap * MAX_LOAD < initialCapacity) cap *= 2;
    const buf = new ArrayBuffer(cap * SLOT_BYTES);
    this.f64 = new Float64Array(buf);
    this.i32 = new Int32Array(buf);
    this.mask = cap - 1;
    this.marks = new Uint32Array(Math.ceil(cap / 32));
    this.clearSlots();
  }

  /** occupied slots (dead entries not yet swept included) */
  get size(): number {
    return this.used;
  }

  get capacity(): number {
    return this.mask + 1;
  }

  get memoryBytes(): number {
    return this.f64.byteLength;
  }

  /**
   * The dedup step for one event: true if the key is remembered with expiry > watermark (a
   * duplicate); otherwise remembers it with `expiry` (replacing a dead entry) and returns false.
   * Key words are taken as 32-bit patterns (signed or unsigned alike).
   */
  seen(k0: number, k1: number, k2: number, k3: number, expiry: number, watermark: number): boolean {
    const f64 = this.f64;
    const found = this.probe(k0 | 0, k1 | 0, k2 | 0, k3 | 0, watermark);
    if (found >= 0) {
      const e = f64[found * SLOT_F64]!;
      if (e > watermark) return true;
      // the same id, but its previous sighting is forgotten: remember this one
      f64[found * SLOT_F64] = expiry === 0 ? -0 : expiry;
      this.mark(found);
      this.count(e, -1);
      this.count(expiry, 1);
      return false;
    }
    // an entry that is dead on arrival would never answer "duplicate": don't store it
    if (!(expiry > watermark)) return false;
    const slot = ~found;
    const i32 = this.i32;
    const old = f64[slot * SLOT_F64]!;
    if (old === 0 && i32[slot * SLOT_I32 + 1] === 0) this.used++;
    else this.count(old, -1); // a dead entry, replaced
    f64[slot * SLOT_F64] = expiry === 0 ? -0 : expiry;
    this.mark(slot);
    const b = slot * SLOT_I32 + 2;
    i32[b] = k0;
    i32[b + 1] = k1;
    i32[b + 2] = k2;
    i32[b + 3] = k3;
    this.count(expiry, 1);
    if (this.used > (this.mask + 1) * MAX_LOAD) this.rebuild((this.mask + 1) * 2, -Infinity);
    return false;
  }

  /**
   * The slot holding the key (k words as int32), alive or dead; or, when it is absent, ~slot
   * of where it would go: the first dead entry on its probe path, else the empty slot ending it.
   */
  private probe(k0: number, k1: number, k2: number, k3: number, watermark: number): number {
    const f64 = this.f64;
    const i32 = this.i32;
    const mask = this.mask;
    let slot = (k0 ^ k2) & mask;
    let reuse = -1;
    while (true) {
      const e = f64[slot * SLOT_F64]!;
      if (e === 0 && i32[slot * SLOT_I32 + 1] === 0) return ~(reuse >= 0 ? reuse : slot); // +0: empty
      const b = slot * SLOT_I32 + 2;
      if (i32[b] === k0 && i32[b + 1] === k1 && i32[b + 2] === k2 && i32[b + 3] === k3) return slot;
      if (reuse < 0 && !(e > watermark)) reuse = slot;
      slot = (slot + 1) & mask;
    }
  }

  /** Touches the key's home slot (see ByteInterner.hint): returns a word of it. */
  hint(k0: number, k2: number): number {
    return this.i32[((k0 ^ k2) & this.mask) * SLOT_I32 + 2]!;
  }

  /** Whether the key is remembered and alive at `watermark` (no side effect). */
  has(k0: number, k1: number, k2: number, k3: number, watermark: number): boolean {
    const found = this.probe(k0 | 0, k1 | 0, k2 | 0, k3 | 0, watermark);
    return found >= 0 && this.f64[found * SLOT_F64]! > watermark;
  }

  /** occupied slots whose whole expiry minute is ≤ watermark: certainly dead */
  deadAtLeast(watermark: number): number {
    this.flushCount();
    let dead = 0;
    for (const [bucket, n] of this.buckets) if ((bucket + 1) * BUCKET_MS <= watermark) dead += n;
    return dead;
  }

  /**
   * Drops dead entries when that pays: when at least a quarter of the slots are dead, so the
   * O(capacity) rebuild is amortised over the inserts that filled them.
   */
  maintain(watermark: number): void {
    if (this.used === 0) return;
    const dead = this.deadAtLeast(watermark);
    if (dead * 4 >= this.used) this.sweep(watermark);
  }

  /**
   * Drops the entries dead at `watermark`: in place, so only the slots that change are
   * marked; or by a rebuild when the survivors would fit a table a quarter of this size.
   */
  sweep(watermark: number): void {
    this.flushCount();
    let alive = 0;
    for (const [bucket, n] of this.buckets) if ((bucket + 1) * BUCKET_MS > watermark) alive += n;
    const cap = this.capacityFor(alive);
    if (cap * 4 <= this.mask + 1) this.rebuild(cap, watermark);
    else this.sweepInPlace(watermark);
  }

  private isEmpty(slot: number): boolean {
    return this.f64[slot * SLOT_F64] === 0 && this.i32[slot * SLOT_I32 + 1] === 0;
  }

  private sweepInPlace(watermark: number): void {
    const f64 = this.f64;
    const cap = this.mask + 1;
    // start just after an empty slot, so no probe run wraps across the start of the pass
    let start = 0;
    while (start < cap && !this.isEmpty(start)) start++;
    if (start === cap) {
      this.rebuild(cap, watermark); // never at a load below 0.7; kept for safety
      return;
    }
    for (let i = 1; i <= cap; i++) {
      const s = (start + i) & this.mask;
      while (!this.isEmpty(s)) {
        const e = f64[s * SLOT_F64]!;
        if (e > watermark) break;
        this.count(e, -1);
        this.deleteAt(s);
      }
    }
    this.flushCount();
  }

  /** Backward-shift deletion: empties slot i, moving later entries of its run back. */
  private deleteAt(i: number): void {
    const f64 = this.f64;
    const i32 = this.i32;
    const mask = this.mask;
    let hole = i;
    let j = i;
    while (true) {
      j = (j + 1) & mask;
      if (this.isEmpty(j)) break;
      const b = j * SLOT_I32 + 2;
      const home = (i32[b]! ^ i32[b + 2]!) & mask;
      // the entry at j may move to the hole unless its home lies cyclically in (hole, j]
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      f64[hole * SLOT_F64] = f64[j * SLOT_F64]!;
      const hb = hole * SLOT_I32 + 2;
      i32[hb] = i32[b]!;
      i32[hb + 1] = i32[b + 1]!;
      i32[hb + 2] = i32[b + 2]!;
      i32[hb + 3] = i32[b + 3]!;
      this.mark(hole);
      hole = j;
    }
    f64[hole * SLOT_F64] = 0;
    const hb = hole * SLOT_I32 + 2;
    i32[hb] = 0;
    i32[hb + 1] = 0;
    i32[hb + 2] = 0;
    i32[hb + 3] = 0;
    this.mark(hole);
    this.used--;
  }

  private mark(slot: number): void {
    const w = slot >>> 5;
    const bit = 1 << (slot & 31);
    const m = this.marks[w]!;
    if ((m & bit) !== 0) return;
    this.marks[w] = m | bit;
    if (this.changeCount === this.changes.length) {
      const next = new Int32Array(this.changes.length * 2);
      next.set(this.changes);
      this.changes = next;
    }
    this.changes[this.changeCount++] = slot;
  }

  /** a rebuild moved every entry since the last resetChanges: a snapshot needs all slots */
  get relocated(): boolean {
    return this.moved;
  }

  /** slots written since the last resetChanges */
  get changedSlots(): number {
    return this.changeCount;
  }

  /** Forgets the marks: the state as of now is what the last snapshot holds. */
  resetChanges(): void {
    if (this.changeCount * 32 < this.marks.length)
      for (let i = 0; i < this.changeCount; i++) this.marks[this.changes[i]! >>> 5] = 0;
    else this.marks.fill(0);
    this.changeCount = 0;
    if (this.changes.length > 1 << 16) this.changes = new Int32Array(1024);
    this.moved = false;
  }

  /**
   * Calls fn(slot, expiry, k0, k1, k2, k3) for each slot written since resetChanges, in slot
   * order: a restore then writes the slot array front to back instead of at random (a delta
   * at the book's scale is millions of slots in a table of gigabytes).
   */
  forEachChange(
    fn: (slot: number, expiry: number, k0: number, k1: number, k2: number, k3: number) => void,
  ): void {
    const f64 = this.f64;
    const i32 = this.i32;
    const marks = this.marks;
    let left = this.changeCount;
    for (let w = 0; w < marks.length && left > 0; w++) {
      let m = marks[w]!;
      while (m !== 0) {
        const bit = 31 - Math.clz32(m & -m);
        m &= m - 1;
        const s = w * 32 + bit;
        const b = s * SLOT_I32 + 2;
        fn(s, f64[s * SLOT_F64]!, i32[b]!, i32[b + 1]!, i32[b + 2]!, i32[b + 3]!);
        left--;
      }
    }
  }

  /** The slot array's bytes, as views of it (valid until the table next changes). */
  slotBytes(maxChunk: number): Uint8Array[] {
    const f64 = this.f64;
    const all = new Uint8Array(f64.buffer, f64.byteOffset, f64.byteLength);
    const out: Uint8Array[] = [];
    const step = Math.max(SLOT_BYTES, Math.floor(maxChunk / SLOT_BYTES) * SLOT_BYTES);
    for (let at = 0; at < all.length; at += step)
      out.push(all.subarray(at, Math.min(all.length, at + step)));
    return out;
  }

  /**
   * The occupied slots only, as copies (snapshot pieces of version 2, which loadPacked reads;
   * tests make such pieces with it): a bitmap of the occupied slots (one bit per slot, u32
   * words, little-endian) in chunks of at most `maxChunk` bytes, then the occupied slots'
   * 24 bytes in slot order, in chunks holding whole slots.
   */
  packedSlots(maxChunk: number): { bitmap: Uint8Array[]; slots: Uint8Array[] } {
    const f64 = this.f64;
    const i32 = this.i32;
    const cap = this.mask + 1;
    const words = new Uint32Array(Math.ceil(cap / 32));
    const perChunk = Math.max(1, Math.floor(maxChunk / SLOT_BYTES));
    const slots: Uint8Array[] = [];
    let left = this.used;
    let out = new Float64Array(0);
    let outI = new Int32Array(0);
    let at = 0;
    for (let s = 0; s < cap; s++) {
      const e = f64[s * SLOT_F64]!;
      if (e === 0 && i32[s * SLOT_I32 + 1] === 0) continue;
      words[s >>> 5]! |= 1 << (s & 31);
      if (at * SLOT_F64 === out.length) {
        const n = Math.max(1, Math.min(perChunk, left));
        out = new Float64Array(n * SLOT_F64);
        outI = new Int32Array(out.buffer);
        slots.push(new Uint8Array(out.buffer));
        at = 0;
      }
      out[at * SLOT_F64] = e;
      const b = s * SLOT_I32 + 2;
      const o = at * SLOT_I32 + 2;
      outI[o] = i32[b]!;
      outI[o + 1] = i32[b + 1]!;
      outI[o + 2] = i32[b + 2]!;
      outI[o + 3] = i32[b + 3]!;
      at++;
      left--;
    }
    const all = new Uint8Array(words.buffer);
    const step = Math.max(4, Math.floor(maxChunk / 4) * 4);
    const bitmap: Uint8Array[] = [];
    for (let i = 0; i < all.length; i += step)
      bitmap.push(all.subarray(i, Math.min(all.length, i + step)));
    return { bitmap, slots };
  }

  /**
   * Replaces the table with `capacity` slots from packedSlots' bitmap and slot chunks, `used`
   * of them occupied, and the bucket counts. Returns false if the bytes do not add up.
   */
  loadPacked(
    capacity: number,
    used: number,
    buckets: readonly [number, number][],
    bitmap: readonly Uint8Array[],
    slots: readonly Uint8Array[],
  ): boolean {
    if (capacity < 16 || (capacity & (capacity - 1)) !== 0) return false;
    const wordCount = Math.ceil(capacity / 32);
    const words = new Uint32Array(wordCount);
    const wordBytes = new Uint8Array(words.buffer);
    let got = 0;
    for (const c of bitmap) {
      if (got + c.length > wordBytes.length) return false;
      wordBytes.set(c, got);
      got += c.length;
    }
    if (got !== wordBytes.length) return false;
    const buf = new ArrayBuffer(capacity * SLOT_BYTES);
    const f64 = new Float64Array(buf);
    const i32 = new Int32Array(buf);
    let chunk = 0;
    let src: Float64Array = new Float64Array(0);
    let srcI: Int32Array = new Int32Array(0);
    let at = 0;
    let n = 0;
    let placed = 0;
    for (let w = 0; w < wordCount; w++) {
      let m = words[w]!;
      while (m !== 0) {
        const s = w * 32 + (31 - Math.clz32(m & -m));
        m &= m - 1;
        if (s >= capacity) return false;
        while (at === n) {
          const c = slots[chunk++];
          if (c === undefined || c.length % SLOT_BYTES !== 0) return false;
          // the store hands out byte views: take them as they are when aligned
          const aligned = c.byteOffset % 8 === 0 ? c : new Uint8Array(c); // a copy, also of a Buffer
          src = new Float64Array(aligned.buffer, aligned.byteOffset, c.length / 8);
          srcI = new Int32Array(aligned.buffer, aligned.byteOffset, c.length / 4);
          at = 0;
          n = c.length / SLOT_BYTES;
        }
        const e = src[at * SLOT_F64]!;
        const o = at * SLOT_I32;
        // an occupied slot is never all zero bits (an expiry of 0 is stored as −0)
        if (e === 0 && srcI[o + 1] === 0) return false;
        f64[s * SLOT_F64] = e;
        const b = s * SLOT_I32 + 2;
        i32[b] = srcI[o + 2]!;
        i32[b + 1] = srcI[o + 3]!;
        i32[b + 2] = srcI[o + 4]!;
        i32[b + 3] = srcI[o + 5]!;
        at++;
        placed++;
      }
    }
    if (placed !== used || at !== n || chunk !== slots.length) return false;
    this.install(f64, i32, used, buckets);
    return true;
  }

  /**
   * The slots written since resetChanges as records of 28 bytes (i32 slot, f64 expiry,
   * 4 × i32 key, little-endian; what putSlots reads), in slot order, in chunks of whole
   * records of at most `maxChunk` bytes.
   */
  changeRecords(maxChunk: number): Uint8Array[] {
    const steps = this.changeRecordSteps(maxChunk);
    for (;;) {
      const r = steps.next();
      if (r.done === true) return r.value;
    }
  }

  /**
   * changeRecords in steps: it yields after each chunk it fills (the table must not change
   * meanwhile) and returns what changeRecords returns.
   */
  *changeRecordSteps(maxChunk: number): Generator<void, Uint8Array[]> {
    const perChunk = Math.max(1, Math.floor(maxChunk / 28));
    const out: Uint8Array[] = [];
    const f64 = this.f64;
    const i32 = this.i32;
    const marks = this.marks;
    let left = this.changeCount;
    let dv = new DataView(new ArrayBuffer(0));
    let p = 0;
    for (let w = 0; w < marks.length && left > 0; w++) {
      let m = marks[w]!;
      while (m !== 0) {
        const s = w * 32 + (31 - Math.clz32(m & -m));
        m &= m - 1;
        if (p === dv.byteLength) {
          if (out.length > 0) yield;
          const bytes = new Uint8Array(Math.min(perChunk, left) * 28);
          out.push(bytes);
          dv = new DataView(bytes.buffer);
          p = 0;
        }
        const b = s * SLOT_I32 + 2;
        dv.setInt32(p, s, true);
        dv.setFloat64(p + 4, f64[s * SLOT_F64]!, true);
        dv.setInt32(p + 12, i32[b]!, true);
        dv.setInt32(p + 16, i32[b + 1]!, true);
        dv.setInt32(p + 20, i32[b + 2]!, true);
        dv.setInt32(p + 24, i32[b + 3]!, true);
        p += 28;
        left--;
      }
    }
    return out;
  }

  /** The bookkeeping a restore needs besides the slots: [bucket, entries] pairs. */
  bucketCounts(): [number, number][] {
    this.flushCount();
    return [...this.buckets];
  }

  /**
   * Replaces the table with `capacity` slots as slotBytes gave them, `used` of them occupied,
   * and the bucket counts (snapshot pieces of version 3). Chunks that are views of one buffer,
   * back to back from a multiple of 8 (a store's read of them into one buffer), become the
   * table as they are: no copy, and no second pass through gigabytes of fresh memory. Other
   * chunks are copied into a new array. The bytes are the store's to check (it checksums
   * every chunk); here only what must add up: the length, and the bucket counts to `used`.
   * Returns false if they do not.
   */
  loadRaw(
    capacity: number,
    used: number,
    buckets: readonly [number, number][],
    chunks: readonly Uint8Array[],
  ): boolean {
    if (capacity < 16 || (capacity & (capacity - 1)) !== 0) return false;
    const bytes = capacity * SLOT_BYTES;
    let total = 0;
    for (const [, n] of buckets) total += n;
    if (total !== used || used > capacity) return false;
    let buf: ArrayBuffer | undefined;
    let offset = 0;
    const first = chunks[0];
    if (first !== undefined && first.byteOffset % 8 === 0) {
      let end = first.byteOffset;
      for (const c of chunks) {
        if (c.buffer !== first.buffer || c.byteOffset !== end) break;
        end += c.length;
      }
      if (end - first.byteOffset === bytes && first.buffer instanceof ArrayBuffer) {
        buf = first.buffer;
        offset = first.byteOffset;
      }
    }
    if (buf === undefined) {
      buf = new ArrayBuffer(bytes);
      const all = new Uint8Array(buf);
      let at = 0;
      for (const c of chunks) {
        if (at + c.length > bytes) return false;
        all.set(c, at);
        at += c.length;
      }
      if (at !== bytes) return false;
    }
    this.install(
      new Float64Array(buf, offset, capacity * SLOT_F64),
      new Int32Array(buf, offset, capacity * SLOT_I32),
      used,
      buckets,
    );
    return true;
  }

  /**
   * Replaces the table with `capacity` slots copied from `chunks` (slotBytes of a table),
   * `used` of them occupied, and the bucket counts. Returns false if the bytes do not add up.
   */
  loadSlots(
    capacity: number,
    used: number,
    buckets: readonly [number, number][],
    chunks: readonly Uint8Array[],
  ): boolean {
    if (capacity < 16 || (capacity & (capacity - 1)) !== 0) return false;
    const buf = new ArrayBuffer(capacity * SLOT_BYTES);
    const all = new Uint8Array(buf);
    let at = 0;
    for (const c of chunks) {
      if (at + c.length > all.length) return false;
      all.set(c, at);
      at += c.length;
    }
    if (at !== all.length) return false;
    // a cheap structural check (the store checksums the bytes): the occupied slots add up
    const f64 = new Float64Array(buf);
    const i32 = new Int32Array(buf);
    let occupied = 0;
    for (let s = 0; s < capacity; s++)
      if (f64[s * SLOT_F64] !== 0 || i32[s * SLOT_I32 + 1] !== 0) occupied++;
    if (occupied !== used) return false;
    this.install(f64, i32, used, buckets);
    return true;
  }

  /** A loaded slot array (a power-of-two capacity) and its bookkeeping become the table. */
  private install(
    f64: Float64Array,
    i32: Int32Array,
    used: number,
    buckets: readonly [number, number][],
  ): void {
    const capacity = f64.length / SLOT_F64;
    this.f64 = f64;
    this.i32 = i32;
    this.mask = capacity - 1;
    this.marks = new Uint32Array(Math.ceil(capacity / 32));
    this.changeCount = 0;
    this.moved = false;
    this.used = used;
    this.buckets = new Map(buckets);
    this.cachedBucket = NaN;
    this.cachedDelta = 0;
  }

  /** Writes one slot as a snapshot recorded it (restore of a delta); false if out of range. */
  putSlot(slot: number, expiry: number, k0: number, k1: number, k2: number, k3: number): boolean {
    if (!Number.isInteger(slot) || slot < 0 || slot > this.mask) return false;
    const wasEmpty = this.isEmpty(slot);
    this.f64[slot * SLOT_F64] = expiry;
    const b = slot * SLOT_I32 + 2;
    this.i32[b] = k0;
    this.i32[b + 1] = k1;
    this.i32[b + 2] = k2;
    this.i32[b + 3] = k3;
    const isEmpty = this.isEmpty(slot);
    if (wasEmpty && !isEmpty) this.used++;
    else if (!wasEmpty && isEmpty) this.used--;
    return true;
  }

  /**
   * putSlot for `n` records of 28 bytes from `src` at `at` (i32 slot, f64 expiry, 4 × i32 key,
   * little-endian), in one loop: a delta's slots. False if a slot is out of range.
   */
  putSlots(src: Uint8Array, at: number, n: number): boolean {
    const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
    const f64 = this.f64;
    const i32 = this.i32;
    const cap = this.mask + 1;
    let used = this.used;
    for (let i = 0, p = at; i < n; i++, p += 28) {
      const slot = dv.getInt32(p, true);
      if (slot < 0 || slot >= cap) return false;
      const e = slot * SLOT_F64;
      const b = slot * SLOT_I32;
      const was = f64[e] !== 0 || i32[b + 1] !== 0;
      f64[e] = dv.getFloat64(p + 4, true);
      i32[b + 2] = dv.getInt32(p + 12, true);
      i32[b + 3] = dv.getInt32(p + 16, true);
      i32[b + 4] = dv.getInt32(p + 20, true);
      i32[b + 5] = dv.getInt32(p + 24, true);
      const now = f64[e] !== 0 || i32[b + 1] !== 0;
      if (now !== was) used += now ? 1 : -1;
    }
    this.used = used;
    return true;
  }

  /** After putSlot calls: the bucket counts and used as the snapshot recorded them. */
  setBookkeeping(used: number, buckets: readonly [number, number][]): boolean {
    if (used !== this.used) return false;
    this.buckets = new Map(buckets);
    this.cachedBucket = NaN;
    this.cachedDelta = 0;
    return true;
  }

  /** Calls fn(k0, k1, k2, k3, expiry) for every entry alive at `watermark` (snapshots). */
  forEachAlive(
    watermark: number,
    fn: (k0: number, k1: number, k2: number, k3: number, expiry: number) => void,
  ): void {
    const f64 = this.f64;
    const i32 = this.i32;
    for (let slot = 0; slot <= this.mask; slot++) {
      const e = f64[slot * SLOT_F64]!;
      if (!(e > watermark) || (e === 0 && i32[slot * SLOT_I32 + 1] === 0)) continue;
      const b = slot * SLOT_I32 + 2;
      fn(i32[b]!, i32[b + 1]!, i32[b + 2]!, i32[b + 3]!, e === 0 ? 0 : e);
    }
  }

  /** Counts entries alive at `watermark`. */
  countAlive(watermark: number): number {
    let n = 0;
    const f64 = this.f64;
    const i32 = this.i32;
    for (let slot = 0; slot <= this.mask; slot++) {
      const e = f64[slot * SLOT_F64]!;
      if (e > watermark && !(e === 0 && i32[slot * SLOT_I32 + 1] === 0)) n++;
    }
    return n;
  }

  /** after a sweep: at most half full, so the survivors leave room to grow */
  private capacityFor(entries: number): number {
    let cap = 16;
    while (cap * 0.5 < entries) cap *= 2;
    return cap;
  }

  private rebuild(cap: number, watermark: number): void {
    this.flushCount();
    const oldF = this.f64;
    const oldI = this.i32;
    const oldCap = this.mask + 1;
    const buf = new ArrayBuffer(cap * SLOT_BYTES);
    const f64 = new Float64Array(buf);
    const i32 = new Int32Array(buf);
    const mask = cap - 1;
    let used = 0;
    // only the watermark's own expiry minute can be partly dead: older ones die whole
    const partial = Math.floor(watermark / BUCKET_MS);
    let droppedPartial = 0;
    for (let s = 0; s < oldCap; s++) {
      const e = oldF[s * SLOT_F64]!;
      if (e === 0 && oldI[s * SLOT_I32 + 1] === 0) continue;
      const b = s * SLOT_I32 + 2;
      if (!(e > watermark)) {
        if (Math.floor(e / BUCKET_MS) === partial) droppedPartial++;
        continue;
      }
      const k0 = oldI[b]!;
      let slot = (k0 ^ oldI[b + 2]!) & mask;
      while (!(f64[slot * SLOT_F64] === 0 && i32[slot * SLOT_I32 + 1] === 0))
        slot = (slot + 1) & mask;
      f64[slot * SLOT_F64] = e;
      const nb = slot * SLOT_I32 + 2;
      i32[nb] = k0;
      i32[nb + 1] = oldI[b + 1]!;
      i32[nb + 2] = oldI[b + 2]!;
      i32[nb + 3] = oldI[b + 3]!;
      used++;
    }
    if (watermark > -Infinity) {
      for (const bucket of [...this.buckets.keys()])
        if (bucket < partial) this.buckets.delete(bucket);
      const left = (this.buckets.get(partial) ?? 0) - droppedPartial;
      if (left > 0) this.buckets.set(partial, left);
      else this.buckets.delete(partial);
    }
    this.f64 = f64;
    this.i32 = i32;
    this.mask = mask;
    this.used = used;
    this.marks = new Uint32Array(Math.ceil(cap / 32));
    this.changeCount = 0;
    this.moved = true;
  }

  private clearSlots(): void {
    this.f64.fill(0);
    this.used = 0;
    this.buckets.clear();
    this.cachedBucket = NaN;
    this.cachedDelta = 0;
  }

  private count(expiry: number, delta: number): void {
    const bucket = Math.floor(expiry / BUCKET_MS);
    if (bucket !== this.cachedBucket) {
      this.flushCount();
      this.cachedBucket = bucket;
    }
    this.cachedDelta += delta;
  }

  private flushCount(): void {
    if (this.cachedDelta !== 0) {
      const n = (this.buckets.get(this.cachedBucket) ?? 0) + this.cachedDelta;
      if (n > 0) this.buckets.set(this.cachedBucket, n);
      else this.buckets.delete(this.cachedBucket);
    }
    this.cachedDelta = 0;
  }
}
