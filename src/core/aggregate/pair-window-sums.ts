/**
 * Running (ad, dimension value) totals of a sliding window [lo, hi) of minute panes, for the
 * top N per dimension value of the last M minutes: as WindowSums for the '*' counts, moving
 * the window adds the entering panes' pair counts and subtracts the leaving ones.
 *
 * Invariant: get(a, b) = Σ over the RETAINED panes of every node in [lo, hi) of their (a, b)
 * count; a pane is subtracted before it is dropped. Pairs whose total fell to 0 keep their
 * entry until a compaction (the map has no deletion), so scans skip counts ≤ 0.
 */
import { PairCountMap, type PairCounts } from './count-map.js';

/** A pane as the pair window sees it: its minute and its (ad, value) counts. */
export interface PairPane {
  readonly minute: number;
  readonly dims: PairCounts | null;
}

export class PairWindowSums {
  lo = 0;
  hi = 0;
  map = new PairCountMap(64);

  /** `accept(b)`: whether the pairs of second key b are summed (the others are skipped) */
  constructor(private readonly accept: (b: number) => boolean = () => true) {}

  contains(minute: number): boolean {
    return minute >= this.lo && minute < this.hi;
  }

  get(a: number, b: number): number {
    return this.map.get(a, b);
  }

  apply(a: number, b: number, d: number): void {
    this.map.add(a, b, d);
  }

  addPane(p: PairPane, sign: number): void {
    const steps = this.addPaneSteps(p, sign);
    while (steps.next().done !== true);
  }

  /** addPane in steps: it yields after every `step` entries (a pane holds millions at 2M ads) */
  *addPaneSteps(p: PairPane, sign: number, step = 1 << 16): Generator<void, void> {
    const d = p.dims;
    if (d === null) return;
    const map = this.map;
    const ka = d.keysA;
    const kb = d.keysB;
    const accept = this.accept;
    for (let e = 0; e < d.size; e++) {
      const b = kb[e]!;
      if (accept(b)) map.add(ka[e]!, b, sign * d.countAt(e));
      if ((e + 1) % step === 0) yield;
    }
  }

  /** Moves the window to [lo, hi) over the retained panes of every node. */
  moveTo(lo: number, hi: number, nodes: readonly (readonly PairPane[])[]): void {
    const steps = this.moveToSteps(lo, hi, nodes);
    while (steps.next().done !== true);
  }

  /** moveTo in steps (see addPaneSteps); the totals are right once the last step has run */
  *moveToSteps(
    lo: number,
    hi: number,
    nodes: readonly (readonly PairPane[])[],
  ): Generator<void, void> {
    if (lo === this.lo && hi === this.hi) return;
    if (hi <= this.lo || lo >= this.hi) {
      this.map = new PairCountMap(Math.max(64, this.live()));
      for (const panes of nodes)
        for (const p of panes) if (p.minute >= lo && p.minute < hi) yield* this.addPaneSteps(p, 1);
    } else {
      for (const panes of nodes)
        for (const p of panes) {
          const inOld = p.minute >= this.lo && p.minute < this.hi;
          const inNew = p.minute >= lo && p.minute < hi;
          if (inOld !== inNew) yield* this.addPaneSteps(p, inNew ? 1 : -1);
        }
    }
    this.lo = lo;
    this.hi = hi;
  }

  /** The panes of one node to add (+1) or subtract (−1) to read totals over [lo, hi). */
  deltaTo(
    lo: number,
    hi: number,
    panes: readonly PairPane[],
  ): Array<{ pane: PairPane; sign: number }> {
    const out: Array<{ pane: PairPane; sign: number }> = [];
    for (const p of panes) {
      const inOld = p.minute >= this.lo && p.minute < this.hi;
      const inNew = p.minute >= lo && p.minute < hi;
      if (inOld !== inNew) out.push({ pane: p, sign: inNew ? 1 : -1 });
    }
    return out;
  }

  /** entries with a positive total */
  live(): number {
    let n = 0;
    const m = this.map;
    for (let e = 0; e < m.size; e++) if (m.countAt(e) > 0) n++;
    return n;
  }

  /** Drops the entries whose total is 0 once they are most of the map (a scan's by-product). */
  compactIfSparse(live: number): void {
    const m = this.map;
    if (m.size < 4096 || m.size < 2 * live) return;
    const next = new PairCountMap(Math.max(64, live));
    for (let e = 0; e < m.size; e++) {
      const c = m.countAt(e);
      if (c > 0) next.add(m.keysA[e]!, m.keysB[e]!, c);
    }
    this.map = next;
  }

  get memoryBytes(): number {
    return this.map.memoryBytes;
  }
}
