/**
 * Running per-ad totals of a sliding window [lo, hi) of minute panes, for the top N of the
 * last M minutes: moving the window adds the entering panes and subtracts the leaving ones
 * instead of re-summing M panes at every end.
 *
 * The totals live in arrays indexed by interned ad id, shared by every aggregate node (their
 * ad sets are disjoint); each node keeps the list of its ads with a non-zero total, so that a
 * top-N scan touches only those. Invariant: tot[ad] = Σ over the node's RETAINED panes in
 * [lo, hi) of the ad's count; a pane is subtracted when it is dropped.
 */
import type { CountMap } from './count-map.js';
import { grownInt32 } from './grow.js';

/** tot and pos by ad id, grown with the interner */
export class SharedTotals {
  tot: Int32Array;
  /** index of the ad in its node's list, valid while tot > 0 */
  pos: Int32Array;

  /** `ids`: the ad ids to cover from the start (the owner must ensure() more as they come) */
  constructor(ids: number) {
    this.tot = new Int32Array(ids);
    this.pos = new Int32Array(ids);
  }

  ensure(ids: number): void {
    if (ids <= this.tot.length) return;
    let n = this.tot.length;
    while (n < ids) n *= 2;
    const tot = new Int32Array(n);
    tot.set(this.tot);
    const pos = new Int32Array(n);
    pos.set(this.pos);
    this.tot = tot;
    this.pos = pos;
  }

  get memoryBytes(): number {
    return this.tot.byteLength + this.pos.byteLength;
  }
}

/** A pane as the window sees it: its minute and its '*' counts. */
export interface StarPane {
  readonly minute: number;
  readonly star: CountMap;
}

export class WindowSums {
  lo = 0;
  hi = 0;
  /** this node's ads with tot > 0 */
  list = new Int32Array(64);
  count = 0;

  constructor(readonly shared: SharedTotals) {}

  contains(minute: number): boolean {
    return minute >= this.lo && minute < this.hi;
  }

  /** tot[id] += d, keeping the list of non-zero ads */
  apply(id: number, d: number): void {
    const tot = this.shared.tot;
    const old = tot[id]!;
    const now = old + d;
    tot[id] = now;
    if (old === 0) {
      if (now === 0) return;
      if (this.count === this.list.length) this.list = grownInt32(this.list, this.count + 1);
      this.shared.pos[id] = this.count;
      this.list[this.count++] = id;
    } else if (now === 0) {
      const pos = this.shared.pos;
      const at = pos[id]!;
      const last = this.list[--this.count]!;
      this.list[at] = last;
      pos[last] = at;
    }
  }

  addPane(pane: StarPane, sign: number): void {
    const star = pane.star;
    const keys = star.keys;
    for (let e = 0; e < star.size; e++) this.apply(keys[e]!, sign * star.countAt(e));
  }

  /** Zeroes every total of this node. */
  clear(): void {
    const tot = this.shared.tot;
    for (let i = 0; i < this.count; i++) tot[this.list[i]!] = 0;
    this.count = 0;
  }

  /** Moves the window to [lo, hi), given the node's retained panes in ascending minute order. */
  moveTo(lo: number, hi: number, panes: readonly StarPane[]): void {
    if (lo === this.lo && hi === this.hi) return;
    if (hi <= this.lo || lo >= this.hi || this.count === 0) {
      this.clear();
      for (const p of panes) if (p.minute >= lo && p.minute < hi) this.addPane(p, 1);
    } else {
      for (const p of panes) {
        const inOld = p.minute >= this.lo && p.minute < this.hi;
        const inNew = p.minute >= lo && p.minute < hi;
        if (inOld !== inNew) this.addPane(p, inNew ? 1 : -1);
      }
    }
    this.lo = lo;
    this.hi = hi;
  }

  /**
   * The panes to add (+1) or subtract (−1) to turn this window's totals into those of
   * [lo, hi): for reading one ad's total over a nearby window without moving.
   */
  deltaTo(
    lo: number,
    hi: number,
    panes: readonly StarPane[],
  ): Array<{ pane: StarPane; sign: number }> {
    const out: Array<{ pane: StarPane; sign: number }> = [];
    for (const p of panes) {
      const inOld = p.minute >= this.lo && p.minute < this.hi;
      const inNew = p.minute >= lo && p.minute < hi;
      if (inOld !== inNew) out.push({ pane: p, sign: inNew ? 1 : -1 });
    }
    return out;
  }
}
