/**
 * Counts of an open minute indexed directly by a node-local ad index: the minute that takes
 * nearly all the traffic costs one increment in an array the size of the node's ad set
 * (which stays in cache), not a hash probe. When the minute closes it becomes a CountMap,
 * with entries in first-counted order, exactly as if it had been one all along.
 */
import { CountMap } from './count-map.js';

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
    if (local >= this.counts.length) {
      const next = new Int32Array(Math.max(this.counts.length * 2, local + 1));
      next.set(this.counts);
      this.counts = next;
    }
    const old = this.counts[local]!;
    this.counts[local] = old + delta;
    if (old !== 0) return;
    if (this.size === this.touched.length) {
      const next = new Int32Array(this.touched.length * 2);
      next.set(this.touched);
      this.touched = next;
    }
    this.touched[this.size++] = local;
  }

  /** the sparse form, keyed by global ad id (`ids[local]`), in first-counted order */
  toCountMap(ids: Int32Array): CountMap {
    const m = new CountMap(this.size);
    for (let i = 0; i < this.size; i++) {
      const local = this.touched[i]!;
      m.add(ids[local]!, this.counts[local]!);
    }
    return m;
  }

  get memoryBytes(): number {
    return this.counts.byteLength + this.touched.byteLength;
  }
}
