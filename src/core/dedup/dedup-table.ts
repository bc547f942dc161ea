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
 * No tombstones: dead entries are overwritten in place by inserts, and `sweep` rebuilds the
 * table without them once enough have died (counted per expiry minute, so we know when).
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

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap * MAX_LOAD < initialCapacity) cap *= 2;
    const buf = new ArrayBuffer(cap * SLOT_BYTES);
    this.f64 = new Float64Array(buf);
    this.i32 = new Int32Array(buf);
    this.mask = cap - 1;
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

  /** Rebuilds the table with only the entries alive at `watermark`. */
  sweep(watermark: number): void {
    this.flushCount();
    let alive = 0;
    for (const [bucket, n] of this.buckets) if ((bucket + 1) * BUCKET_MS > watermark) alive += n;
    this.rebuild(this.capacityFor(alive), watermark);
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
