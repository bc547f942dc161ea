import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteInterner } from '../../../src/core/aggregate/interner.js';
import {
  CountMap,
  FrozenPairCounts,
  PairCountMap,
  type PairCounts,
} from '../../../src/core/aggregate/count-map.js';
import { PairWindowSums } from '../../../src/core/aggregate/pair-window-sums.js';
import { DimensionValues } from '../../../src/core/aggregate/dimensions.js';

const enc = new TextEncoder();

test('the interner gives dense first-seen ids, found from bytes in place', () => {
  const it = new ByteInterner(2);
  const buf = enc.encode('xxad-1yyad-2');
  assert.equal(it.intern(buf, 2, 6), 0);
  assert.equal(it.intern(buf, 8, 12), 1);
  assert.equal(it.internString('ad-1'), 0);
  assert.equal(it.find(buf, 0, 2), -1);
  assert.equal(it.text(1), 'ad-2');
  assert.equal(it.size, 2);
});

test('the interner survives growth and orders ids by their bytes', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,12}$/), { maxLength: 300 }),
      (ads) => {
        const it = new ByteInterner(1);
        ads.forEach((ad, i) => assert.equal(it.internString(ad), i));
        ads.forEach((ad, i) => {
          assert.equal(it.findString(ad), i);
          assert.equal(it.text(i), ad);
        });
        for (let i = 1; i < ads.length; i++) {
          const a = ads[i - 1]!;
          const b = ads[i]!;
          assert.equal(Math.sign(it.compare(i - 1, i)), a < b ? -1 : a > b ? 1 : 0);
        }
      },
    ),
    { numRuns: 100 },
  );
});

test('count maps equal a Map model; entry indexes are stable across growth', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 3 })), {
        maxLength: 1000,
      }),
      (adds) => {
        const one = new CountMap(2);
        const two = new PairCountMap(2);
        const m1 = new Map<number, number>();
        const m2 = new Map<string, number>();
        const entry1 = new Map<number, number>();
        for (const [a, b] of adds) {
          const e = one.add(a, 1);
          if (entry1.has(a)) assert.equal(e, entry1.get(a));
          entry1.set(a, e);
          two.add(a, b, 2);
          m1.set(a, (m1.get(a) ?? 0) + 1);
          m2.set(`${a},${b}`, (m2.get(`${a},${b}`) ?? 0) + 2);
        }
        assert.equal(one.size, m1.size);
        assert.equal(two.size, m2.size);
        for (const [a, c] of m1) assert.equal(one.get(a), c);
        for (const [k, c] of m2) {
          const [a, b] = k.split(',').map(Number) as [number, number];
          assert.equal(two.get(a, b), c);
        }
        assert.equal(one.get(9999), 0);
        assert.equal(two.get(1, 99), 0);
      },
    ),
    { numRuns: 100 },
  );
});

test('count maps made from their entries read, look up and grow like maps built by adding', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 300 }), { maxLength: 200 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 2 })), {
        maxLength: 300,
      }),
      fc.boolean(),
      (keys, later, readFirst) => {
        const counts = keys.map((k) => (k % 7) + 1);
        const built = new CountMap(2);
        const builtPairs = new PairCountMap(2);
        keys.forEach((k, i) => {
          built.add(k, counts[i]!);
          builtPairs.add(k, k % 3, counts[i]!);
        });
        const one = CountMap.fromEntries(
          Int32Array.from(keys),
          Int32Array.from(counts),
          keys.length,
        );
        const two = PairCountMap.fromEntries(
          Int32Array.from(keys),
          Int32Array.from(keys, (k) => k % 3),
          Int32Array.from(counts),
          keys.length,
        );
        const same = () => {
          assert.equal(one.size, built.size);
          assert.equal(two.size, builtPairs.size);
          for (let e = 0; e < built.size; e++) {
            assert.equal(one.keys[e], built.keys[e]);
            assert.equal(one.countAt(e), built.countAt(e));
            assert.equal(two.keysA[e], builtPairs.keysA[e]);
            assert.equal(two.keysB[e], builtPairs.keysB[e]);
            assert.equal(two.countAt(e), builtPairs.countAt(e));
          }
        };
        same();
        // entries read in order need no table; the first lookup or add builds it
        if (readFirst) for (const k of keys) assert.equal(one.get(k), built.get(k));
        for (const [k, b] of later) {
          assert.equal(one.add(k, 1), built.add(k, 1), 'the same entry index');
          assert.equal(two.add(k, b, 1), builtPairs.add(k, b, 1));
          one.hint(k);
        }
        same();
        for (let k = 0; k <= 401; k++) {
          assert.equal(one.get(k), built.get(k));
          assert.equal(two.get(k, k % 3), builtPairs.get(k, k % 3));
        }
      },
    ),
    { numRuns: 100 },
  );
});

test('dimension values: one id per (dimension, value), keys like country=US', () => {
  const d = new DimensionValues();
  const b = enc.encode('USFR10.0.0.1US');
  const us = d.id(0, b, 0, 2);
  const fr = d.id(0, b, 2, 4);
  assert.notEqual(us, fr);
  assert.equal(d.id(0, b, 12, 14), us);
  // the same bytes under another dimension are another value
  const ipUs = d.id(2, b, 0, 2);
  assert.notEqual(ipUs, us);
  assert.equal(d.key(us), 'country=US');
  assert.equal(d.key(ipUs), 'ip=US');
  assert.equal(d.key(d.id(2, b, 4, 12)), 'ip=10.0.0.1');
  assert.equal(d.key(d.id(1, enc.encode('ünï'), 0, 5)), 'user_id=ünï');
});

test('frozen pair counts read as the map they were made from', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 5 })), {
        maxLength: 400,
      }),
      (adds) => {
        const m = new PairCountMap(4);
        for (const [a, b] of adds) m.add(a, b, 1);
        const f = new FrozenPairCounts(m);
        assert.equal(f.size, m.size);
        for (let a = -1; a <= 61; a++)
          for (let b = -1; b <= 6; b++) assert.equal(f.get(a, b), m.get(a, b), `(${a}, ${b})`);
        const entries = (x: PairCounts) =>
          Array.from({ length: x.size }, (_, e) => `${x.keysA[e]},${x.keysB[e]},${x.countAt(e)}`);
        assert.deepEqual(entries(f).sort(), entries(m).sort());
        assert.equal(f.dirty.count, 0);
      },
    ),
  );
});

test('running pair totals equal the sums of the panes in the window, through moves and compactions', () => {
  // enough pairs that the map compacts (≥ 4096 entries, most of them back to 0)
  let seed = 7;
  const rnd = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  const M = 60_000;
  const nodes: Array<Array<{ minute: number; dims: PairCountMap }>> = [[], []];
  for (let k = 0; k < 40; k++)
    for (const panes of nodes) {
      const dims = new PairCountMap(8);
      for (let i = 0; i < 400; i++) dims.add(k * 300 + rnd(600), rnd(4), 1 + rnd(3));
      panes.push({ minute: k * M, dims });
    }
  const s = new PairWindowSums();
  const check = (lo: number, hi: number) => {
    const want = new Map<string, number>();
    for (const panes of nodes)
      for (const p of panes)
        if (p.minute >= lo && p.minute < hi)
          for (let e = 0; e < p.dims.size; e++) {
            const k = `${p.dims.keysA[e]},${p.dims.keysB[e]}`;
            want.set(k, (want.get(k) ?? 0) + p.dims.countAt(e));
          }
    const got = new Map<string, number>();
    for (let e = 0; e < s.map.size; e++)
      if (s.map.countAt(e) !== 0) got.set(`${s.map.keysA[e]},${s.map.keysB[e]}`, s.map.countAt(e));
    assert.deepEqual(new Map([...got].sort()), new Map([...want].sort()), `[${lo}, ${hi})`);
    for (const [k, v] of want) {
      const [a, b] = k.split(',').map(Number) as [number, number];
      assert.equal(s.get(a, b), v);
    }
  };
  let compactions = 0;
  for (let end = M; end <= 40 * M; end += M) {
    const lo = Math.max(0, end - 5 * M);
    s.moveTo(lo, end, nodes);
    const before = s.map;
    s.compactIfSparse(s.live());
    if (s.map !== before) compactions++;
    check(lo, end);
  }
  // a jump back, and one that shares nothing with the last window
  s.moveTo(3 * M, 20 * M, nodes);
  check(3 * M, 20 * M);
  s.moveTo(30 * M, 31 * M, nodes);
  check(30 * M, 31 * M);
  assert.ok(compactions > 0, 'the map never compacted: the test proved nothing about it');
});
