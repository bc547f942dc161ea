/**
 * Exact top N (SPEC §2): by count descending, ties by ad_id ascending in JavaScript string
 * order (UTF-16 code units; ad ids are ASCII, so this is byte order too).
 *
 * The book's aggregate nodes each keep a bounded heap of their own ads; its reduce node
 * merges the nodes' lists. The merge is exact because events are partitioned by ad_id: the
 * nodes' ad sets are disjoint, so an ad's count is whole in exactly one list, and any ad of
 * the global top N is in the top N of its own node.
 */
import type { RankedAd } from './types.js';

/** Rank order: negative if `a` ranks before `b`. */
export function compareRanked(a: RankedAd, b: RankedAd): number {
  if (a.count !== b.count) return b.count - a.count;
  return a.adId < b.adId ? -1 : a.adId > b.adId ? 1 : 0;
}

/** The exact top n of (ad, count) pairs (counts ≤ 0 are not ranked), with a bounded heap. */
export function topNFromCounts(counts: Iterable<readonly [string, number]>, n: number): RankedAd[] {
  if (n <= 0) return [];
  // a min-heap on rank: the root is the worst of the best n so far
  const heap: RankedAd[] = [];
  const worse = (i: number, j: number): boolean => compareRanked(heap[i]!, heap[j]!) > 0;
  for (const [adId, count] of counts) {
    if (!(count > 0)) continue;
    const item = { adId, count };
    if (heap.length < n) {
      heap.push(item);
      siftUp(heap, heap.length - 1, worse);
    } else if (compareRanked(item, heap[0]!) < 0) {
      heap[0] = item;
      siftDown(heap, 0, worse);
    }
  }
  return heap.sort(compareRanked);
}

/**
 * The reduce step: the exact global top n from per-node top lists over DISJOINT ad sets
 * (each list holding its node's top n or more; sorted lists are merged as they are, others
 * are sorted first). A k-way merge: n steps over the lists' heads.
 */
export function mergeTopLists(lists: readonly (readonly RankedAd[])[], n: number): RankedAd[] {
  const sorted = lists
    .filter((l) => l.length > 0)
    .map((l) => (isSorted(l) ? l : [...l].sort(compareRanked)));
  const heads = new Array<number>(sorted.length).fill(0);
  const out: RankedAd[] = [];
  while (out.length < n) {
    let best = -1;
    for (let i = 0; i < sorted.length; i++) {
      const list = sorted[i]!;
      if (heads[i]! >= list.length) continue;
      if (best < 0 || compareRanked(list[heads[i]!]!, sorted[best]![heads[best]!]!) < 0) best = i;
    }
    if (best < 0) break;
    const r = sorted[best]![heads[best]!++]!;
    out.push({ adId: r.adId, count: r.count });
  }
  return out;
}

function isSorted(list: readonly RankedAd[]): boolean {
  for (let i = 1; i < list.length; i++) if (compareRanked(list[i - 1]!, list[i]!) > 0) return false;
  return true;
}

function siftUp<T>(heap: T[], i: number, worse: (i: number, j: number) => boolean): void {
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!worse(i, parent)) break;
    swap(heap, i, parent);
    i = parent;
  }
}

function siftDown<T>(heap: T[], i: number, worse: (i: number, j: number) => boolean): void {
  const n = heap.length;
  while (true) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    const c = r < n && worse(r, l) ? r : l;
    if (!worse(c, i)) break;
    swap(heap, i, c);
    i = c;
  }
}

function swap<T>(a: T[], i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/** Order of interned ids' texts (see ByteInterner.compare). */
export interface IdOrder {
  compare(a: number, b: number): number;
}

/**
 * The engine's bounded heap over interned ad ids: typed arrays, no allocation per offer.
 * Keeps the best `n` (count desc, ad text asc); the root is the worst kept.
 */
export class IdTopHeap {
  readonly ids: Int32Array;
  readonly counts: Float64Array;
  size = 0;

  constructor(
    readonly n: number,
    private readonly order: IdOrder,
  ) {
    this.ids = new Int32Array(Math.max(n, 1));
    this.counts = new Float64Array(Math.max(n, 1));
  }

  reset(): void {
    this.size = 0;
  }

  /** The threshold an offer must beat once full (for callers that want to pre-filter). */
  get minCount(): number {
    return this.size < this.n ? 0 : this.counts[0]!;
  }

  offer(id: number, count: number): void {
    if (count <= 0 || this.n <= 0) return;
    if (this.size < this.n) {
      let i = this.size++;
      this.ids[i] = id;
      this.counts[i] = count;
      // sift up while worse than the parent
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!this.worse(i, p)) break;
        this.swap(i, p);
        i = p;
      }
      return;
    }
    const rootCount = this.counts[0]!;
    if (count < rootCount) return;
    if (count === rootCount && this.order.compare(id, this.ids[0]!) > 0) return;
    this.ids[0] = id;
    this.counts[0] = count;
    this.siftDown(this.size);
  }

  /** The kept ids, best first, into the given arrays (resized by the caller); returns size. */
  drainSorted(outIds: Int32Array, outCounts: Float64Array): number {
    const k = this.size;
    // pop the worst repeatedly, filling from the back
    for (let pos = k - 1; pos >= 0; pos--) {
      outIds[pos] = this.ids[0]!;
      outCounts[pos] = this.counts[0]!;
      const last = --this.size;
      this.ids[0] = this.ids[last]!;
      this.counts[0] = this.counts[last]!;
      this.siftDown(last);
    }
    this.size = 0;
    return k;
  }

  /** Moves the root down to its place among the first `size` items (the worst at the root). */
  private siftDown(size: number): void {
    let i = 0;
    while (true) {
      const l = 2 * i + 1;
      if (l >= size) break;
      const r = l + 1;
      const c = r < size && this.worse(r, l) ? r : l;
      if (!this.worse(c, i)) break;
      this.swap(i, c);
      i = c;
    }
  }

  /** whether kept item i ranks below kept item j */
  private worse(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    if (ci !== cj) return ci < cj;
    return this.order.compare(this.ids[i]!, this.ids[j]!) > 0;
  }

  private swap(i: number, j: number): void {
    const id = this.ids[i]!;
    const c = this.counts[i]!;
    this.ids[i] = this.ids[j]!;
    this.counts[i] = this.counts[j]!;
    this.ids[j] = id;
    this.counts[j] = c;
  }
}
