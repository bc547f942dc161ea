/**
 * Top lists per value of each pre-aggregated dimension (the book's most_clicked_ads per
 * filter): for every configured window and every end it closes, the exact top N of each
 * (dimension, value), by the (ad, value) totals over the window, ranked as the '*' lists.
 *
 * State: the panes' (ad, value) counts, kept as long as the panes when a window is longer
 * than a minute (node.retain), running pair totals per window (PairWindowSums, over every
 * node: the lists are global, no merge step) and, per (window, end) that can still be
 * corrected, the lists by value id. Nothing of this is in the snapshot beyond the panes'
 * counts: the totals and lists are a function of them, rebuilt on restore (rebuild()).
 *
 * Corrections (events counted into closed minutes) are re-read from the panes' dirty pair
 * lists at emission: counts only grow, so a corrected value's new top N is the top N of its
 * old list (corrected pairs re-read) and the corrected pairs at their exact totals.
 */
import { PairCountMap, type PairCounts } from '../aggregate/count-map.js';
import { grownUint8 } from '../aggregate/grow.js';
import { dimensionTag, TOP_LIST_DIMENSIONS } from '../aggregate/dimensions.js';
import { PairWindowSums } from '../aggregate/pair-window-sums.js';
import { IdTopHeap } from '../aggregate/top-n.js';
import { MINUTE_MS, windowEnds } from '../window/minute.js';
import type { Pane, TopList } from './node.js';
import type { OperatorState } from './state.js';

/** pair entries scanned between two steps of an emission */
const SCAN_STEP = 1 << 16;

/** what one (window, end, value) list emission hands out */
export type DimListSink = (wi: number, end: number, value: number, list: TopList | null) => void;

export class DimTops {
  /** per configured window: running pair totals, null for a 1-minute window */
  readonly sums: (PairWindowSums | null)[];
  /** per configured window: end → value id → list, while the end may be corrected */
  readonly tops: Map<number, Map<number, TopList>>[];
  /** whether any dimension and window is configured */
  readonly enabled: boolean;
  /** panes keep their pair counts as long as the panes (a window is longer than a minute) */
  readonly keepDims: boolean;
  /** per value id, the heap of its list (made on the value's first list) */
  private heaps: (IdTopHeap | undefined)[] = [];
  private used: number[] = [];
  /** pairs counted into closed minutes since the last emission (a set: counts are 1) */
  private corrected = new PairCountMap(16);
  /** the tags of the configured dimensions that get lists (TOP_LIST_DIMENSIONS) */
  private readonly tags: number[];
  /** by value id: 0 not looked at yet, 1 its dimension gets lists, 2 not */
  private listedMark = new Uint8Array(64);

  constructor(private readonly st: OperatorState) {
    const cfg = st.cfg;
    this.tags = cfg.dimensions.filter((d) => TOP_LIST_DIMENSIONS.includes(d)).map(dimensionTag);
    this.enabled = this.tags.length > 0 && cfg.topWindows.length > 0;
    this.keepDims = this.enabled && cfg.topWindows.some((m) => m > 1);
    const listed = (v: number) => this.listed(v);
    this.sums = cfg.topWindows.map((m) =>
      this.enabled && m > 1 ? new PairWindowSums(listed) : null,
    );
    this.tops = cfg.topWindows.map(() => new Map());
  }

  /** whether value `v`'s dimension gets top lists */
  listed(v: number): boolean {
    if (v >= this.listedMark.length) this.listedMark = grownUint8(this.listedMark, v + 1);
    let m = this.listedMark[v]!;
    if (m === 0) {
      m = this.tags.includes(this.st.dimValues.tagOf(v)) ? 1 : 2;
      this.listedMark[v] = m;
    }
    return m === 1;
  }

  /** A closed minute counted (ad, value): the running totals that cover it follow. */
  onCorrection(minute: number, ad: number, value: number): void {
    if (!this.enabled || !this.listed(value)) return;
    for (const s of this.sums) if (s !== null && s.contains(minute)) s.apply(ad, value, 1);
  }

  /** Before the pane's dirty lists are cleared: its corrected pairs. */
  noteDirty(p: Pane): void {
    const d = p.dims;
    if (!this.enabled || d === null) return;
    const list = d.dirty.list;
    for (let i = 0; i < d.dirty.count; i++) {
      const e = list[i]!;
      const a = d.keysA[e]!;
      const b = d.keysB[e]!;
      if (this.listed(b) && this.corrected.get(a, b) === 0) this.corrected.add(a, b, 1);
    }
  }

  /**
   * The lists the watermark's move from `before` to `W` changed: first the closed ends the
   * corrections touched (per node minute sets are the '*' path's: `touchedMinutes`), then the
   * ends that close now. Each list goes to `sink`.
   */
  *emit(
    before: number,
    W: number,
    touchedMinutes: readonly number[],
    dataMinutes: readonly number[],
    sink: DimListSink,
  ): Generator<void, void> {
    if (!this.enabled) return;
    const windows = this.st.cfg.topWindows;
    if (this.corrected.size > 0) {
      const groups = this.groupCorrected();
      for (let wi = 0; wi < windows.length; wi++)
        for (const e of windowEnds(touchedMinutes, windows[wi]!, -Infinity, before)) {
          yield* this.correctEnd(wi, e, groups, sink);
          yield;
        }
      this.corrected = new PairCountMap(16);
    }
    if (W > before)
      for (let wi = 0; wi < windows.length; wi++)
        for (const e of windowEnds(dataMinutes, windows[wi]!, before, W)) {
          yield* this.computeEnd(wi, e);
          const lists = this.tops[wi]!.get(e);
          if (lists !== undefined) for (const [v, t] of lists) sink(wi, e, v, t);
          yield;
        }
  }

  /** Forgets lists that can no longer change; subtracts the panes about to be dropped. */
  retain(W: number): void {
    if (!this.enabled) return;
    const lateness = this.st.cfg.allowedLatenessMs;
    const dropBefore = W - this.st.longestWindowMs - lateness;
    for (const s of this.sums) {
      if (s === null) continue;
      for (const node of this.st.nodes)
        for (const p of node.panes) {
          if (p.minute > dropBefore) break;
          if (s.contains(p.minute)) s.addPane(p, -1);
        }
    }
    for (const tops of this.tops)
      for (const e of tops.keys()) if (e + lateness <= W) tops.delete(e);
  }

  /** After a restore: the lists of every end that can still be corrected, from the panes. */
  rebuild(dataMinutes: readonly number[]): void {
    const W = this.st.W;
    if (!this.enabled || !Number.isFinite(W)) return;
    const after = W - this.st.cfg.allowedLatenessMs;
    this.st.cfg.topWindows.forEach((m, wi) => {
      for (const e of windowEnds(dataMinutes, m, after, W)) {
        const steps = this.computeEnd(wi, e);
        while (steps.next().done !== true);
      }
    });
  }

  get memoryBytes(): number {
    let n = 0;
    for (const s of this.sums) if (s !== null) n += s.memoryBytes;
    for (const tops of this.tops)
      for (const lists of tops.values()) for (const t of lists.values()) n += t.ids.byteLength * 3;
    return n;
  }

  /** whether every retained pane of the window holds its pair counts (not so after a restore
   * from a snapshot of a build that dropped them at finality: those ends get no lists) */
  private complete(lo: number, hi: number): boolean {
    for (const node of this.st.nodes)
      for (const p of node.panes)
        if (p.minute >= lo && p.minute < hi && p.dims === null) return false;
    return true;
  }

  private heapOf(v: number): IdTopHeap {
    let h = this.heaps[v];
    if (h === undefined) {
      h = new IdTopHeap(this.st.cfg.topN, this.st.ads);
      this.heaps[v] = h;
    }
    if (h.size === 0) this.used.push(v);
    return h;
  }

  /** the lists of the used heaps, emptied */
  private drainUsed(): Map<number, TopList> {
    const out = new Map<number, TopList>();
    this.used.sort((a, b) => a - b);
    for (const v of this.used) {
      const h = this.heaps[v]!;
      const ids = new Int32Array(h.size);
      const counts = new Float64Array(h.size);
      h.drainSorted(ids, counts);
      out.set(v, { ids, counts });
    }
    this.used = [];
    return out;
  }

  /** Exact lists of window wi ending at e, every value, from the panes. */
  private *computeEnd(wi: number, e: number): Generator<void, void> {
    const span = this.st.cfg.topWindows[wi]! * MINUTE_MS;
    const tops = this.tops[wi]!;
    if (!this.complete(e - span, e)) {
      tops.delete(e);
      return;
    }
    const s = this.sums[wi];
    let scanned = 0;
    if (s === null || s === undefined) {
      for (const node of this.st.nodes) {
        const d = node.paneAt(e - MINUTE_MS)?.dims;
        if (d === null || d === undefined) continue;
        for (let i = 0; i < d.size; i++) {
          const c = d.countAt(i);
          const v = d.keysB[i]!;
          if (c > 0 && this.listed(v)) this.offer(v, d.keysA[i]!, c);
          if (++scanned % SCAN_STEP === 0) yield;
        }
      }
    } else {
      yield* s.moveToSteps(
        e - span,
        e,
        this.st.nodes.map((n) => n.panes),
      );
      const m = s.map;
      let live = 0;
      for (let i = 0; i < m.size; i++) {
        const c = m.countAt(i);
        if (c > 0) {
          live++;
          this.offer(m.keysB[i]!, m.keysA[i]!, c);
        }
        if (++scanned % SCAN_STEP === 0) yield;
      }
      s.compactIfSparse(live);
    }
    tops.set(e, this.drainUsed());
  }

  private offer(v: number, ad: number, c: number): void {
    const h = this.heaps[v];
    // the common case: a full heap the count does not beat (no call into heapOf)
    if (h !== undefined && h.size > 0 && c < h.minCount) return;
    this.heapOf(v).offer(ad, c);
  }

  /** the corrected pairs by value: value → ads */
  private groupCorrected(): Map<number, number[]> {
    const groups = new Map<number, number[]>();
    const c = this.corrected;
    for (let i = 0; i < c.size; i++) {
      const v = c.keysB[i]!;
      let g = groups.get(v);
      if (g === undefined) groups.set(v, (g = []));
      g.push(c.keysA[i]!);
    }
    return groups;
  }

  /** The lists of (wi, e) of the corrected values, from their previous lists. */
  private *correctEnd(
    wi: number,
    e: number,
    groups: Map<number, number[]>,
    sink: DimListSink,
  ): Generator<void, void> {
    const span = this.st.cfg.topWindows[wi]! * MINUTE_MS;
    if (!this.complete(e - span, e)) return;
    const old = this.tops[wi]!.get(e);
    if (old === undefined) {
      // an end that held no data when it closed: computed whole (the pane counts are exact)
      yield* this.computeEnd(wi, e);
      const lists = this.tops[wi]!.get(e);
      if (lists !== undefined) for (const v of groups.keys()) sink(wi, e, v, lists.get(v) ?? null);
      return;
    }
    const s = this.sums[wi];
    const deltas = new Map<number, Array<{ pane: { dims: PairCounts | null }; sign: number }>>();
    const total = (ad: number, v: number): number => {
      const owner = this.st.owner[ad]!;
      const node = this.st.nodes[owner]!;
      if (s === null || s === undefined) return node.paneAt(e - MINUTE_MS)?.dims?.get(ad, v) ?? 0;
      let d = deltas.get(owner);
      if (d === undefined) deltas.set(owner, (d = s.deltaTo(e - span, e, node.panes)));
      let t = s.get(ad, v);
      for (const x of d) t += x.sign * (x.pane.dims?.get(ad, v) ?? 0);
      return t;
    };
    for (const [v, ads] of groups) {
      const h = this.heapOf(v);
      const prev = old.get(v);
      if (prev !== undefined)
        for (let i = 0; i < prev.ids.length; i++) {
          const id = prev.ids[i]!;
          if (this.corrected.get(id, v) === 0) h.offer(id, prev.counts[i]!);
        }
      for (const ad of ads) h.offer(ad, total(ad, v));
      if (h.size === 0) this.used.pop();
    }
    const lists = this.drainUsed();
    for (const v of groups.keys()) {
      const t = lists.get(v) ?? null;
      if (t === null) old.delete(v);
      else old.set(v, t);
      sink(wi, e, v, t);
    }
  }
}
