import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DedupTable } from '../../../src/core/dedup/dedup-table.js';

test('a key is a duplicate while its expiry is after the watermark, and not at it', () => {
  const t = new DedupTable();
  assert.equal(t.seen(1, 2, 3, 4, 1_000, -Infinity), false, 'first sighting');
  assert.equal(t.seen(1, 2, 3, 4, 5_000, -Infinity), true, 'again: duplicate');
  assert.equal(t.seen(1, 2, 3, 4, 5_000, 999), true, 'expiry 1000 > watermark 999');
  // expiry ≤ watermark: forgotten, so this sighting counts and is remembered anew
  assert.equal(t.seen(1, 2, 3, 4, 5_000, 1_000), false);
  assert.equal(t.seen(1, 2, 3, 4, 9_000, 4_999), true, 'remembered with the new expiry 5000');
  assert.equal(t.seen(1, 2, 3, 4, 9_000, 5_000), false);
});

test('keys differ by any of their four words; unsigned and signed words are the same key', () => {
  const t = new DedupTable();
  t.seen(1, 2, 3, 4, 100, 0);
  for (const k of [
    [0, 2, 3, 4],
    [1, 0, 3, 4],
    [1, 2, 0, 4],
    [1, 2, 3, 0],
  ] as const)
    assert.equal(t.has(k[0], k[1], k[2], k[3], 0), false);
  t.seen(0xffffffff, 0x80000000, 7, 8, 100, 0);
  assert.equal(t.has(-1, -0x80000000, 7, 8, 0), true);
});

test('an entry dead on arrival is not stored', () => {
  const t = new DedupTable();
  assert.equal(t.seen(1, 1, 1, 1, 50, 100), false);
  assert.equal(t.size, 0);
  assert.equal(t.seen(1, 1, 1, 1, 50, 100), false);
});

test('grows, sweeps dead entries, and stays equivalent to a Map model', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({
            kind: fc.constant('see' as const),
            key: fc.integer({ min: 0, max: 3000 }),
            exp: fc.integer({ min: 0, max: 100 }),
          }),
          fc.record({ kind: fc.constant('wm' as const), by: fc.integer({ min: 0, max: 10 }) }),
          fc.constant({ kind: 'sweep' as const }),
        ),
        { maxLength: 2000 },
      ),
      (ops) => {
        const t = new DedupTable(16);
        const model = new Map<number, number>();
        let wm = 0;
        for (const op of ops) {
          if (op.kind === 'see') {
            // expiries as minutes, so the per-minute sweep accounting is exercised
            const exp = (wm + op.exp) * 60_000;
            const k = op.key;
            const m = model.get(k);
            const dup = m !== undefined && m > wm * 60_000;
            if (!dup) model.set(k, exp);
            assert.equal(t.seen(k, k * 7, ~k, k ^ 0x5555, exp, wm * 60_000), dup);
          } else if (op.kind === 'wm') {
            wm += op.by;
            t.maintain(wm * 60_000);
          } else {
            t.sweep(wm * 60_000);
          }
        }
        let alive = 0;
        for (const exp of model.values()) if (exp > wm * 60_000) alive++;
        assert.equal(t.countAlive(wm * 60_000), alive);
        t.sweep(wm * 60_000);
        assert.equal(t.size, alive, 'a sweep leaves exactly the live entries');
      },
    ),
    { numRuns: 100 },
  );
});

test('memory: 24-byte slots at most 70 % full', () => {
  const t = new DedupTable();
  const n = 100_000;
  for (let i = 0; i < n; i++) t.seen(Math.imul(i, 0x9e3779b1), i, i, i, 1e12, 0);
  assert.equal(t.size, n);
  const perId = t.memoryBytes / n;
  assert.ok(perId >= 24 / 0.7 - 1e-9 && perId <= 24 / 0.35 + 1e-9, `bytes per id ${perId}`);
});

test('an expiry of exactly 0 is remembered (stored as −0, not taken for an empty slot)', () => {
  const t = new DedupTable();
  assert.equal(t.seen(5, 6, 7, 8, 0, -1), false);
  assert.equal(t.size, 1);
  assert.equal(t.seen(5, 6, 7, 8, 0, -1), true);
  assert.equal(t.countAlive(-1), 1);
  let seen = 0;
  t.forEachAlive(-1, (_a, _b, _c, _d, exp) => {
    assert.equal(exp, 0);
    seen++;
  });
  assert.equal(seen, 1);
  for (let i = 0; i < 100; i++) t.seen(i * 977, i, i * 13, i, 10, -1); // grow past it
  assert.equal(t.has(5, 6, 7, 8, -1), true);
  assert.equal(t.has(5, 6, 7, 8, 0), false);
});

test('change tracking: a base copy plus the changed slots rebuild the table slot for slot', () => {
  const keyArb = fc.integer({ min: 0, max: 3000 });
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          { weight: 8, arbitrary: fc.record({ kind: fc.constant('see' as const), key: keyArb }) },
          { weight: 2, arbitrary: fc.constant({ kind: 'wm' as const }) },
          { weight: 1, arbitrary: fc.constant({ kind: 'piece' as const }) },
        ),
        { maxLength: 3000 },
      ),
      fc.boolean(),
      fc.constantFrom('raw' as const, 'packed' as const, 'slots' as const),
      (ops, clustered, form) => {
        const t = new DedupTable(16);
        let mirror: DedupTable | null = null;
        let wm = 0;
        // clustered: every key has the same home slot, so deletions shift long runs
        const k2 = (k: number) => (clustered ? ~k : k * 31);
        const piece = () => {
          if (mirror === null || t.relocated) {
            mirror = new DedupTable(16);
            if (form === 'raw') {
              // small chunks, back to back in one buffer as a store reads them: taken as is
              const view = new Uint8Array(t.capacity * 24);
              view.set(Buffer.concat(t.slotBytes(1 << 30)));
              const chunks = [];
              for (let at = 0; at < view.length; at += 240)
                chunks.push(view.subarray(at, at + 240));
              assert.ok(mirror.loadRaw(t.capacity, t.size, t.bucketCounts(), chunks), 'raw load');
            } else if (form === 'packed') {
              // small chunks, so slots and bitmap words span several
              const p = t.packedSlots(100);
              const ok = mirror.loadPacked(t.capacity, t.size, t.bucketCounts(), p.bitmap, p.slots);
              assert.ok(ok, 'packed slots load');
            } else {
              const copy = t.slotBytes(1000).map((c) => c.slice());
              assert.ok(mirror.loadSlots(t.capacity, t.size, t.bucketCounts(), copy));
            }
          } else {
            const m: DedupTable = mirror;
            t.forEachChange((s, e, a, b, c, d) => assert.ok(m.putSlot(s, e, a, b, c, d)));
            assert.ok(m.setBookkeeping(t.size, t.bucketCounts()), 'used adds up');
          }
          t.resetChanges();
          const a = Buffer.concat(t.slotBytes(1 << 20));
          const b = Buffer.concat(mirror.slotBytes(1 << 20));
          assert.ok(a.equals(b), 'slot arrays identical');
        };
        for (const op of ops) {
          if (op.kind === 'see') {
            const k = op.key;
            t.seen(k, k * 7, k2(k), 9, (wm + 1 + (k % 5)) * 60_000, wm * 60_000);
          } else if (op.kind === 'wm') {
            wm += 1;
            t.maintain(wm * 60_000);
          } else piece();
        }
        piece();
        const m: DedupTable = mirror!;
        for (let k = 0; k <= 3000; k += 7)
          assert.equal(
            m.has(k, k * 7, k2(k), 9, wm * 60_000),
            t.has(k, k * 7, k2(k), 9, wm * 60_000),
          );
      },
    ),
    { numRuns: 100 },
  );
});

test('packed slots that do not add up are refused', () => {
  const t = new DedupTable(64);
  for (let k = 1; k <= 20; k++) t.seen(k, k, k * 3, k, 120_000, 0);
  const good = t.packedSlots(48);
  const load = (bitmap: Uint8Array[], slots: Uint8Array[], used = t.size) =>
    new DedupTable(16).loadPacked(t.capacity, used, t.bucketCounts(), bitmap, slots);
  assert.equal(load(good.bitmap, good.slots), true);
  assert.equal(load(good.bitmap, good.slots, t.size - 1), false, 'used');
  assert.equal(load(good.bitmap, good.slots.slice(1)), false, 'a slot chunk missing');
  assert.equal(load(good.bitmap.slice(1), good.slots), false, 'a bitmap chunk missing');
  const extraBit = good.bitmap.map((c) => c.slice());
  for (const c of extraBit) c.fill(0xff);
  assert.equal(load(extraBit, good.slots), false, 'more bits than slots');
  const zero = good.slots.map((c) => c.slice());
  zero[0]!.fill(0, 0, 24);
  assert.equal(load(good.bitmap, zero), false, 'an empty slot marked occupied');
  const odd = [good.slots[0]!.subarray(0, 20), ...good.slots.slice(1)];
  assert.equal(load(good.bitmap, odd), false, 'a partial slot');
});

test('a slot array is taken in place when back to back in one buffer, else copied; refused when it does not add up', () => {
  const t = new DedupTable(64);
  for (let k = 1; k <= 20; k++) t.seen(k, k, k * 3, k, 120_000 + (k % 3) * 60_000, 0);
  const bytes = t.capacity * 24;
  // as a store reads a region: one buffer, the slots from a multiple of 8 after other bytes
  const region = new Uint8Array(16 + bytes);
  region.set(Buffer.concat(t.slotBytes(1 << 20)), 16);
  const inPlace = [region.subarray(16, 16 + 480), region.subarray(16 + 480)];
  const u = new DedupTable(16);
  assert.equal(u.loadRaw(t.capacity, t.size, t.bucketCounts(), inPlace), true);
  const [first] = u.slotBytes(1 << 30);
  assert.equal(first!.buffer, region.buffer, 'the table is the region, not a copy');
  assert.equal(first!.byteOffset, 16);
  // apart (separate buffers): copied, same table
  const apart = inPlace.map((c) => c.slice());
  const v = new DedupTable(16);
  assert.equal(v.loadRaw(t.capacity, t.size, t.bucketCounts(), apart), true);
  assert.notEqual(v.slotBytes(1 << 30)[0]!.buffer, apart[0]!.buffer);
  for (const m of [u, v]) {
    for (let k = 1; k <= 20; k++) assert.equal(m.has(k, k, k * 3, k, 60_000), true);
    assert.equal(m.has(21, 21, 63, 21, 60_000), false);
    // a slot array taken in place keeps working as the table: inserts, sweeps, growth
    for (let k = 100; k < 200; k++) m.seen(k, k, k * 3, k, 240_000, 60_000);
    m.sweep(150_000);
    assert.equal(m.has(3, 3, 9, 3, 150_000), false, 'expired at 120 s');
    assert.equal(m.has(1, 1, 3, 1, 150_000), true, 'expires at 180 s');
    assert.equal(m.has(150, 150, 450, 150, 150_000), true);
  }
  const load = (chunks: Uint8Array[], used = t.size, cap = t.capacity) =>
    new DedupTable(16).loadRaw(cap, used, t.bucketCounts(), chunks);
  assert.equal(load(apart, t.size - 1), false, 'used against the bucket counts');
  assert.equal(load(apart.slice(1)), false, 'a chunk missing');
  assert.equal(load([...apart, new Uint8Array(24)]), false, 'a slot too many');
  assert.equal(load(apart, t.size, t.capacity * 2), false, 'another capacity');
  assert.equal(load(apart, t.size, 100), false, 'not a power of two');
  // unaligned (a view at an odd offset): copied, not refused
  const odd = new Uint8Array(1 + bytes);
  odd.set(Buffer.concat(apart), 1);
  assert.equal(load([odd.subarray(1)]), true);
});

test('change records written in steps are the bytes of changeRecords, a step per chunk', () => {
  const t = new DedupTable(1024);
  for (let k = 1; k <= 20; k++) t.seen(k, k, k * 3, k, 120_000, 0);
  t.resetChanges();
  for (let k = 21; k <= 120; k++) t.seen(k, k, k * 3, k, 180_000, 0);
  assert.ok(t.changedSlots > 32, `${t.changedSlots} slots changed`);
  const whole = t.changeRecords(28 * 16);
  const steps = t.changeRecordSteps(28 * 16);
  let yields = 0;
  let r = steps.next();
  for (; r.done !== true; r = steps.next()) yields++;
  assert.equal(whole.length, Math.ceil(t.changedSlots / 16));
  assert.equal(yields, whole.length - 1);
  assert.deepEqual(r.value, whole);
});
