/**
 * Emission, at each watermark: the rows of minutes that close (absolute counts), the changed
 * rows of closed minutes that were corrected, and the top lists of the windows that close or
 * that a correction touched (the nodes' lists merged: the book's reduce step), and the same
 * lists per dimension value (dim-tops.ts). Strings are made here, once per ad and dimension
 * value.
 */
import type { MinuteRow, RankedAd, TopRow } from '../aggregate/types.js';
import type { PairCounts } from '../aggregate/count-map.js';
import { ALL_DIMS } from '../aggregate/types.js';
import { IdTopHeap, mergeTopLists } from '../aggregate/top-n.js';
import { MINUTE_MS, windowEnds } from '../window/minute.js';
import type { AggregateNode, Pane, TopList } from './node.js';
import type { OutputBuffer } from './output.js';
import type { OperatorState } from './state.js';

/** rows of a closing minute made between two steps of Emitter.emit */
export const EMIT_STEP = 1 << 16;

export class Emitter {
  private readonly heap: IdTopHeap;

  constructor(
    private readonly st: OperatorState,
    private readonly out: OutputBuffer,
  ) {
    this.heap = new IdTopHeap(st.cfg.topN, st.ads);
  }

  /**
   * Emits what the watermark's move from `before` to `W` closed or corrections changed, in
   * steps: it yields between panes, between slices of EMIT_STEP rows of a closing minute and
   * between top lists (at millions of ads a closing minute is seconds of work). Nothing may
   * change the state between the steps.
   */
  *emit(before: number, W: number): Generator<void, void> {
    for (const node of this.st.nodes) yield* this.emitRows(node, W);
    yield* this.emitTops(before, W);
  }

  private *emitRows(node: AggregateNode, W: number): Generator<void, void> {
    for (const p of node.panes) {
      if (!p.closed) {
        if (p.minute + MINUTE_MS > W) break; // panes are ascending: the rest are open too
        node.settle(p);
        p.closed = true;
        yield* this.emitAll(p);
      } else if (p.dirty) {
        this.emitDirty(p);
        this.st.dimTops.noteDirty(p);
      }
      p.dirty = false;
      p.star.dirty.clear();
      p.dims?.dirty.clear();
      yield;
    }
  }

  /** Every row of a minute that closes. */
  private *emitAll(p: Pane): Generator<void, void> {
    const rows = this.out.rows;
    for (let e = 0; e < p.star.size; e++) {
      rows.push(this.starRow(p, e));
      if ((e + 1) % EMIT_STEP === 0) yield;
    }
    const d = p.dims;
    if (d !== null)
      for (let e = 0; e < d.size; e++) {
        rows.push(this.dimRow(p, d, e));
        if ((e + 1) % EMIT_STEP === 0) yield;
      }
  }

  /** The rows of a closed minute that corrections changed. */
  private emitDirty(p: Pane): void {
    const rows = this.out.rows;
    const s = p.star.dirty;
    for (let i = 0; i < s.count; i++) rows.push(this.starRow(p, s.list[i]!));
    const d = p.dims;
    if (d !== null)
      for (let i = 0; i < d.dirty.count; i++) rows.push(this.dimRow(p, d, d.dirty.list[i]!));
  }

  /** entry `e` of the minute's '*' counts */
  private starRow(p: Pane, e: number): MinuteRow {
    const star = p.star;
    return {
      minute: p.minute,
      adId: this.st.adText(star.keys[e]!),
      dim: ALL_DIMS,
      count: star.countAt(e),
    };
  }

  /** entry `e` of the minute's (ad, dimension value) counts */
  private dimRow(p: Pane, d: PairCounts, e: number): MinuteRow {
    return {
      minute: p.minute,
      adId: this.st.adText(d.keysA[e]!),
      dim: this.st.dimValues.key(d.keysB[e]!),
      count: d.countAt(e),
    };
  }

  /**
   * Top lists: first the windows closed before this call that a correction touched (each
   * node's list is corrected from its previous one), then the windows that close now (from
   * the running totals); then, per (window, end), the nodes' lists are merged.
   */
  private *emitTops(before: number, W: number): Generator<void, void> {
    const windows = this.st.cfg.topWindows;
    if (windows.length === 0) {
      for (const node of this.st.nodes) node.clearCorrections(this.st.corrected);
      return;
    }
    const touched: Set<number>[] = windows.map(() => new Set<number>());
    const correctedMinutes = new Set<number>();
    for (const node of this.st.nodes) {
      if (node.correctedMinutes.size === 0) continue;
      const minutes = [...node.correctedMinutes].sort((a, b) => a - b);
      for (const m of minutes) correctedMinutes.add(m);
      for (let wi = 0; wi < windows.length; wi++) {
        for (const e of windowEnds(minutes, windows[wi]!, -Infinity, before)) {
          node.setTop(wi, e, node.correctTop(wi, e, this.heap, this.st.corrected));
          touched[wi]!.add(e);
          yield;
        }
      }
      node.clearCorrections(this.st.corrected);
    }
    const dataMinutes = this.dataMinutes();
    if (W > before) {
      for (let wi = 0; wi < windows.length; wi++) {
        for (const e of windowEnds(dataMinutes, windows[wi]!, before, W)) {
          for (const node of this.st.nodes) {
            node.setTop(wi, e, node.computeTop(wi, e, this.heap));
            yield;
          }
          touched[wi]!.add(e);
        }
      }
    }
    const out: TopRow[] = [];
    for (let wi = 0; wi < windows.length; wi++) {
      for (const e of touched[wi]!) {
        const lists: RankedAd[][] = [];
        for (const node of this.st.nodes) {
          const t = node.tops[wi]!.get(e);
          if (t !== undefined) lists.push(this.ranked(t));
        }
        out.push({
          windowMinutes: windows[wi]!,
          endMinute: e,
          ads: mergeTopLists(lists, this.st.cfg.topN),
        });
      }
    }
    yield* this.st.dimTops.emit(
      before,
      W,
      [...correctedMinutes].sort((a, b) => a - b),
      dataMinutes,
      (wi, e, v, t) => {
        if (t !== null)
          out.push({
            windowMinutes: windows[wi]!,
            endMinute: e,
            dim: this.st.dimValues.key(v),
            ads: this.ranked(t),
          });
      },
    );
    // '*' first within one (end, window): its dim is absent
    out.sort(
      (a, b) =>
        a.endMinute - b.endMinute ||
        a.windowMinutes - b.windowMinutes ||
        cmp(a.dim ?? ALL_DIMS, b.dim ?? ALL_DIMS),
    );
    for (const t of out) this.out.top.push(t);
  }

  private ranked(t: TopList): RankedAd[] {
    const out: RankedAd[] = [];
    for (let i = 0; i < t.ids.length; i++)
      out.push({ adId: this.st.adText(t.ids[i]!), count: t.counts[i]! });
    return out;
  }

  /** every minute some node holds a pane of, ascending */
  dataMinutes(): number[] {
    const set = new Set<number>();
    for (const node of this.st.nodes) for (const p of node.panes) set.add(p.minute);
    return [...set].sort((a, b) => a - b);
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
