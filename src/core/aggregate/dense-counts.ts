/**
 * Counts of an open minute indexed directly by a node-local ad index: the minute that takes
 * nearly all the traffic costs one increment in an array the size of the node's ad set
 * (which stays in cache), not a hash probe. When the minute closes it becomes a CountMap,
 * with entries in first-counted order, exactly as if it had been one all along.
 */
import { CountMap } from './count-map.js';
import { grownInt32 } from './grow.js';

export class DenseCounts {
  counts: Int32Array;
  /** local indexes in the order they were first counted */
  touched: Int32Array;
  size = 0;

  constructor(locals: number) {
    this.counts = new Int32Array(Math.max(locals, 64));
    this.touched = new Int32Array(64);
  }

  add(local: number, delta: number): void {
    if (local >= this.counts.length) this.counts = grownInt32(this.counts, local + 1);
    const old = this.counts[local]!;
    this.counts[local] = old + delta;
    if (old !== 0) return;
    if (this.size === this.touched.length) this.touched = grownInt32(this.touched, this.size + 1);
    this.touched[this.size++] = local;
  }

  /** the sparse form, keyed by global ad id (`ids[local]`), in first-counted order */
  toCountMap(ids: Int32Array): CountMap {
    // entries only: a closed minute is mostly read in order, its table built if it is corrected
    const n = this.size;
    const keys = new Int32Array(Math.max(n, 8));
    const counts = new Int32Array(Math.max(n, 8));
    for (let i = 0; i < n; i++) {
      const local = this.touched[i]!;
      keys[i] = ids[local]!;
      counts[i] = this.counts[local]!;
    }
    return CountMap.fromEntries(keys, counts, n);
  }

  get memoryBytes(): number {
    return this.counts.byteLength + this.touched.byteLength;
  }
}
