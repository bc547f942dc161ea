/**
 * One of the book's aggregate nodes: the state of the ads routed to one partition. It counts
 * per (minute, ad) and per (minute, ad, dimension value), keeps a top list per (window, end)
 * that can still be corrected, and running window totals so a newly closed end costs the
 * entering and leaving panes, not a re-sum of M minutes.
 */
import {
  CountMap,
  FrozenPairCounts,
  PairCountMap,
  type PairCounts,
} from '../aggregate/count-map.js';
import { DenseCounts } from '../aggregate/dense-counts.js';
import { grownInt32 } from '../aggregate/grow.js';
import type { IdTopHeap } from '../aggregate/top-n.js';
import type { SharedTotals } from '../aggregate/window-sums.js';
import { WindowSums } from '../aggregate/window-sums.js';
import { MINUTE_MS } from '../window/minute.js';

/** The counts of one minute of one node. */
export interface Pane {
  readonly minute: number;
  /** emitted: the minute's end is ≤ the watermark; later events are corrections */
  closed: boolean;
  /** some row changed since the last emission (closed panes only) */
  dirty: boolean;
  /** ad → count ('*'); kept after the rows are final, as long as a top window may need it */
  star: CountMap;
  /** while the minute is open, on a busy node: the '*' counts by local index (star is empty) */
  dense: DenseCounts | null;
  /**
   * (ad, dimension value) → count; null once the minute can no longer change, unless a top
   * window longer than a minute still needs it (then as long as the pane)
   */
  dims: PairCounts | null;
}

/** A node's top list for one (window, end), best first. */
export interface TopList {
  ids: Int32Array;
  counts: Float64Array;
}

/** Internal knobs of the engine's memory layout (never of its results). */
export interface EngineTuning {
  /** a node with this many ads counts its open minutes densely (see DenseCounts); default 1024 */
  denseMinAds?: number;
  /** at most this many dense minutes per node, whatever the timestamps; default 3 */
  denseMaxPanes?: number;
  /** ads the per-ad arrays hold before they first grow; default 4096 */
  initialAds?: number;
}

export class AggregateNode {
  /** global ad id of each local index: the ads routed here, in arrival order */
  localIds = new Int32Array(64);
  localCount = 0;
  private densePanes = 0;
  /** retained panes, ascending by minute */
  readonly panes: Pane[] = [];
  private last: Pane | null = null;
  /** running totals per configured window; null for 1-minute windows (the pane is the window) */
  readonly windows: (WindowSums | null)[];
  /** per configured window: end → this node's top list, while the window may still change */
  readonly tops: Map<number, TopList>[];
  /** ads counted into closed minutes since the last watermark (a mark array is shared) */
  correctedAds = new Int32Array(16);
  correctedCount = 0;
  /** closed minutes that received events since the last watermark */
  readonly correctedMinutes = new Set<number>();

  private readonly denseMinAds: number;
  private readonly denseMaxPanes: number;

  constructor(
    readonly id: number,
    readonly windowMinutes: readonly number[],
    shared: readonly (SharedTotals | null)[],
    tuning: EngineTuning = {},
  ) {
    this.denseMinAds = tuning.denseMinAds ?? 1024;
    this.denseMaxPanes = tuning.denseMaxPanes ?? 3;
    this.windows = shared.map((s) => (s === null ? null : new WindowSums(s)));
    this.tops = windowMinutes.map(() => new Map<number, TopList>());
  }

  /** The pane of minute m, created if absent (closed if its end is ≤ watermark). */
  pane(m: number, watermark: number, withDims: boolean): Pane {
    const last = this.last;
    if (last !== null && last.minute === m) return last;
    const panes = this.panes;
    // binary search: panes are few (the lateness plus the longest top window)
    let lo = 0;
    let hi = panes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (panes[mid]!.minute < m) lo = mid + 1;
      else hi = mid;
    }
    let p = panes[lo];
    if (p === undefined || p.minute !== m) {
      const closed = m + MINUTE_MS <= watermark;
      // an open minute will likely see as many ads as the busiest pane held: size its maps
      // for that at once rather than growing them step by step (closed ones get corrections)
      let star = 64;
      let dims = 64;
      if (!closed)
        for (const q of panes) {
          star = Math.max(star, q.star.size, q.dense?.size ?? 0);
          if (q.dims !== null) dims = Math.max(dims, q.dims.size);
        }
      const dense =
        !closed && this.localCount >= this.denseMinAds && this.densePanes < this.denseMaxPanes;
      if (dense) this.densePanes++;
      p = {
        minute: m,
        closed,
        dirty: false,
        star: new CountMap(dense ? 8 : star),
        dense: dense ? new DenseCounts(this.localCount) : null,
        dims: withDims ? new PairCountMap(dims) : null,
      };
      panes.splice(lo, 0, p);
    }
    this.last = p;
    return p;
  }

  /** Routes a new ad here; returns its local index. */
  addAd(id: number): number {
    if (this.localCount === this.localIds.length)
      this.localIds = grownInt32(this.localIds, this.localCount + 1);
    this.localIds[this.localCount] = id;
    return this.localCount++;
  }

  /**
   * An open sparse pane that grew busy (it was created before this node had many ads) turns
   * dense, entries in the same order, if the node may hold another dense pane.
   */
  maybePromote(p: Pane, localOf: Int32Array): void {
    if (p.closed || p.dense !== null || p.star.size < Math.max(1, this.denseMinAds)) return;
    if (this.densePanes >= this.denseMaxPanes) return;
    const dense = new DenseCounts(this.localCount);
    const star = p.star;
    for (let e = 0; e < star.size; e++) dense.add(localOf[star.keys[e]!]!, star.countAt(e));
    p.dense = dense;
    p.star = new CountMap(8);
    this.densePanes++;
  }

  /** The pane is closing: its dense counts become its CountMap. */
  settle(p: Pane): void {
    if (p.dense === null) return;
    p.star = p.dense.toCountMap(this.localIds);
    p.dense = null;
    this.densePanes--;
  }

  paneAt(m: number): Pane | undefined {
    for (const p of this.panes) if (p.minute === m) return p;
    return undefined;
  }

  hasPaneIn(lo: number, hi: number): boolean {
    for (const p of this.panes) if (p.minute >= lo && p.minute < hi) return true;
    return false;
  }

  /** An event counted into closed minute m: remember it for the top-N corrections. */
  noteCorrection(ad: number, m: number, mark: Uint8Array): void {
    this.correctedMinutes.add(m);
    this.noteCorrectedAd(ad, mark);
  }

  noteCorrectedAd(ad: number, mark: Uint8Array): void {
    if (mark[ad] === 1) return;
    mark[ad] = 1;
    if (this.correctedCount === this.correctedAds.length)
      this.correctedAds = grownInt32(this.correctedAds, this.correctedCount + 1);
    this.correctedAds[this.correctedCount++] = ad;
  }

  clearCorrections(mark: Uint8Array): void {
    for (let i = 0; i < this.correctedCount; i++) mark[this.correctedAds[i]!] = 0;
    this.correctedCount = 0;
    this.correctedMinutes.clear();
  }

  /** Exact top list of window wi (M minutes) ending at e, computed from the panes. */
  computeTop(wi: number, e: number, heap: IdTopHeap): TopList | null {
    const span = this.windowMinutes[wi]! * MINUTE_MS;
    heap.reset();
    const w = this.windows[wi];
    if (w === null || w === undefined) {
      const p = this.paneAt(e - MINUTE_MS);
      if (p === undefined) return null;
      const star = p.star;
      for (let i = 0; i < star.size; i++) heap.offer(star.keys[i]!, star.countAt(i));
    } else {
      if (!this.hasPaneIn(e - span, e)) return null;
      w.moveTo(e - span, e, this.panes);
      const tot = w.shared.tot;
      const list = w.list;
      for (let i = 0; i < w.count; i++) {
        const id = list[i]!;
        heap.offer(id, tot[id]!);
      }
    }
    return drain(heap);
  }

  /**
   * Exact top list of window wi ending at e after corrections, from its previous list: counts
   * only grow, so the new top N is the top N of the old list (corrected ads re-read) and the
   * corrected ads at their exact totals; no other ad can enter.
   */
  correctTop(wi: number, e: number, heap: IdTopHeap, mark: Uint8Array): TopList | null {
    const span = this.windowMinutes[wi]! * MINUTE_MS;
    heap.reset();
    const old = this.tops[wi]!.get(e);
    if (old !== undefined) {
      for (let i = 0; i < old.ids.length; i++) {
        const id = old.ids[i]!;
        if (mark[id] !== 1) heap.offer(id, old.counts[i]!);
      }
    }
    const w = this.windows[wi];
    if (w === null || w === undefined) {
      const p = this.paneAt(e - MINUTE_MS);
      if (p !== undefined)
        for (let i = 0; i < this.correctedCount; i++) {
          const id = this.correctedAds[i]!;
          heap.offer(id, p.star.get(id));
        }
    } else {
      const delta = w.deltaTo(e - span, e, this.panes);
      const tot = w.shared.tot;
      for (let i = 0; i < this.correctedCount; i++) {
        const id = this.correctedAds[i]!;
        let t = tot[id]!;
        for (const d of delta) t += d.sign * d.pane.star.get(id);
        heap.offer(id, t);
      }
    }
    return drain(heap);
  }

  setTop(wi: number, e: number, list: TopList | null): void {
    if (list === null) this.tops[wi]!.delete(e);
    else this.tops[wi]!.set(e, list);
  }

  /**
   * Forgets what can no longer change at `watermark`: dimension rows of minutes past their
   * lateness (unless `keepDims`: the per-value top lists of longer windows read them), panes no top window can need (subtracted from the running totals first), and
   * top lists of windows whose every minute is final.
   */
  retain(watermark: number, lateness: number, longestWindowMs: number, keepDims = false): void {
    let drop = 0;
    for (const p of this.panes) {
      if (p.minute + MINUTE_MS + lateness > watermark) break;
      // final: nothing changes them any more, kept in their compact form
      if (!keepDims) p.dims = null;
      else if (p.dims instanceof PairCountMap) p.dims = new FrozenPairCounts(p.dims);
      if (p.minute + longestWindowMs + lateness <= watermark) drop++;
    }
    for (let i = 0; i < drop; i++) {
      const p = this.panes[i]!;
      for (const w of this.windows) if (w !== null && w.contains(p.minute)) w.addPane(p, -1);
      if (this.last === p) this.last = null;
    }
    if (drop > 0) this.panes.splice(0, drop);
    for (const tops of this.tops)
      for (const e of tops.keys()) if (e + lateness <= watermark) tops.delete(e);
  }
}

function drain(heap: IdTopHeap): TopList | null {
  if (heap.size === 0) return null;
  const ids = new Int32Array(heap.size);
  const counts = new Float64Array(heap.size);
  heap.drainSorted(ids, counts);
  return { ids, counts };
}
