import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  IdTopHeap,
  compareRanked,
  mergeTopLists,
  topNFromCounts,
} from '../../../src/core/aggregate/top-n.js';
import type { RankedAd } from '../../../src/core/aggregate/types.js';
import { ByteInterner } from '../../../src/core/aggregate/interner.js';

function bySort(counts: Map<string, number>, n: number): RankedAd[] {
  return [...counts]
    .filter(([, c]) => c > 0)
    .map(([adId, count]) => ({ adId, count }))
    .sort((a, b) => b.count - a.count || (a.adId < b.adId ? -1 : a.adId > b.adId ? 1 : 0))
    .slice(0, n);
}

test('ties are broken by ad_id ascending, in JavaScript string order', () => {
  const counts = new Map([
    ['b', 5],
    ['a', 5],
    ['B', 5],
    ['a1', 5],
    ['c', 9],
    ['z', 1],
  ]);
  assert.deepEqual(topNFromCounts(counts, 4), [
    { adId: 'c', count: 9 },
    { adId: 'B', count: 5 },
    { adId: 'a', count: 5 },
    { adId: 'a1', count: 5 },
  ]);
});

test('topNFromCounts equals sorting everything', () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 5 })),
      fc.integer({ min: 0, max: 8 }),
      (dict, n) => {
        const counts = new Map(Object.entries(dict));
        assert.deepEqual(topNFromCounts(counts, n), bySort(counts, n));
      },
    ),
    { numRuns: 300 },
  );
});

test("the book's example: three aggregate nodes each keep a top 3; the reduce node merges them", () => {
  // Figure 6.x of the book: ads partitioned over three nodes, each with its own top 3
  const node1 = topNFromCounts(
    new Map([
      ['ad1', 12],
      ['ad2', 5],
      ['ad3', 8],
      ['ad4', 1],
    ]),
    3,
  );
  const node2 = topNFromCounts(
    new Map([
      ['ad5', 14],
      ['ad6', 2],
      ['ad7', 9],
    ]),
    3,
  );
  const node3 = topNFromCounts(
    new Map([
      ['ad8', 7],
      ['ad9', 20],
      ['ad10', 3],
      ['ad11', 12],
    ]),
    3,
  );
  assert.deepEqual(
    node1.map((r) => r.adId),
    ['ad1', 'ad3', 'ad2'],
  );
  assert.deepEqual(mergeTopLists([node1, node2, node3], 3), [
    { adId: 'ad9', count: 20 },
    { adId: 'ad5', count: 14 },
    { adId: 'ad1', count: 12 },
  ]);
  // the tie at 12 between ad1 and ad11 is broken by ad_id: 'ad1' < 'ad11'
  assert.deepEqual(mergeTopLists([node1, node2, node3], 4).at(3), { adId: 'ad11', count: 12 });
});

test('merging per-node top lists over disjoint ads equals the global top N', () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 6 })),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 6 }),
      (dict, nodes, n) => {
        const all = new Map(Object.entries(dict));
        const parts = Array.from({ length: nodes }, () => new Map<string, number>());
        for (const [ad, c] of all) parts[ad.charCodeAt(0) % nodes]!.set(ad, c);
        const lists = parts.map((p) => topNFromCounts(p, n));
        assert.deepEqual(mergeTopLists(lists, n), bySort(all, n));
        // unsorted lists are sorted first
        assert.deepEqual(
          mergeTopLists(
            lists.map((l) => [...l].reverse()),
            n,
          ),
          bySort(all, n),
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('compareRanked orders by count, then ad_id', () => {
  assert.ok(compareRanked({ adId: 'b', count: 2 }, { adId: 'a', count: 1 }) < 0);
  assert.ok(compareRanked({ adId: 'a', count: 1 }, { adId: 'b', count: 1 }) < 0);
  assert.equal(compareRanked({ adId: 'a', count: 1 }, { adId: 'a', count: 1 }), 0);
});

test('IdTopHeap over interned ids equals sorting everything', () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,4}$/), fc.integer({ min: 0, max: 5 })),
      fc.integer({ min: 1, max: 8 }),
      (dict, n) => {
        const interner = new ByteInterner(4);
        const heap = new IdTopHeap(n, interner);
        const counts = new Map(Object.entries(dict));
        for (const [ad, c] of counts) heap.offer(interner.internString(ad), c);
        const ids = new Int32Array(n);
        const cs = new Float64Array(n);
        const k = heap.drainSorted(ids, cs);
        const got = Array.from({ length: k }, (_, i) => ({
          adId: interner.text(ids[i]!),
          count: cs[i]!,
        }));
        assert.deepEqual(got, bySort(counts, n));
      },
    ),
    { numRuns: 300 },
  );
});
