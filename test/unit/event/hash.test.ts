import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  hash128Hex,
  hash128String,
  hash32String,
  murmur2Kafka,
  murmur3x86_128,
  murmur3x86_32,
  murmur3x86_32Steps,
  partitionFor,
} from '../../../src/core/event/hash.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

// Reference: python `mmh3` 5.3.1, struct.unpack('<4I', mmh3.hash_bytes(s, seed, x64arch=False))
// and mmh3.hash(s, seed, signed=False).
const VECTORS_128: Array<[string, number, [number, number, number, number], number]> = [
  ['', 0, [0, 0, 0, 0], 0],
  ['', 1, [0x88c4adec, 0x54d201b9, 0x54d201b9, 0x54d201b9], 1364076727],
  ['a', 0, [0xa794933c, 0x5556b01b, 0x5556b01b, 0x5556b01b], 1009084850],
  ['hello', 0, [0x2b2444a0, 0xdb91def7, 0x9adb31b6, 0x9adb31b6], 613153351],
  [
    'The quick brown fox jumps over the lazy dog',
    0,
    [0x2f1583c3, 0xecee2c67, 0x5d7bf66c, 0xe5e91d2c],
    776992547,
  ],
  ['0123456789abcde', 0, [0x3c76c46d, 0x4d0818c0, 0xadd433da, 0xa78673fa], 2250527230],
  ['abcdefghijklmnop', 0, [0x9fd27627, 0x90b91256, 0xe4ce8b21, 0xd193ba45], 3881996781],
  ['abcdefghijklmnopq', 0, [0x0445a4d3, 0x64515c6f, 0xd96ddc2a, 0x1d11079d], 3060096586],
  ['héllo wörld ✓', 42, [0x84f21c56, 0x46807eea, 0x97f9367c, 0x6f302a5a], 3902165214],
];

test('murmur3 x86_128 and x86_32 match the reference vectors', () => {
  for (const [s, seed, words, h32] of VECTORS_128) {
    assert.deepEqual([...hash128String(s, seed)], words, `128: ${JSON.stringify(s)}`);
    assert.equal(hash32String(s, seed), h32, `32: ${JSON.stringify(s)}`);
  }
});

test('murmur3 x86_128 hashes a sub-range and writes into the given array', () => {
  const bytes = utf8('xxhelloyy');
  const out = new Uint32Array(4);
  const r = murmur3x86_128(bytes, 2, 7, 0, out);
  assert.equal(r, out);
  assert.deepEqual([...out], [0x2b2444a0, 0xdb91def7, 0x9adb31b6, 0x9adb31b6]);
});

test('every tail length 0..33 agrees between a range and a fresh copy', () => {
  const base = utf8('0123456789abcdefghijklmnopqrstuvwxyzABCDEF');
  for (let n = 0; n <= 33; n++) {
    const a = [...murmur3x86_128(base, 5, 5 + n, 7, new Uint32Array(4))];
    const b = [...murmur3x86_128(base.slice(5, 5 + n), 0, n, 7, new Uint32Array(4))];
    assert.deepEqual(a, b);
  }
});

test('hash128Hex is 32 hex digits, h1 first, each word big-endian', () => {
  assert.equal(hash128Hex(''), '0'.repeat(32));
  assert.equal(hash128Hex('hello'), '2b2444a0db91def79adb31b69adb31b6');
});

test('murmur2 matches Kafka UtilsTest.testMurmur2', () => {
  const cases: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [s, want] of cases) {
    const b = utf8(s);
    assert.equal(murmur2Kafka(b, 0, b.length), want, s);
  }
});

test('partitionFor is Kafka-compatible, stable and in range', () => {
  // (murmur2 & 0x7fffffff) % n, as Kafka's default partitioner for keyed records
  assert.equal(partitionFor('21', 7), (-973932308 & 0x7fffffff) % 7);
  assert.equal(partitionFor('anything', 1), 0);
  const counts = new Array<number>(8).fill(0);
  for (let i = 0; i < 8000; i++) {
    const p = partitionFor(`ad-${i}`, 8);
    assert.ok(p >= 0 && p < 8);
    assert.equal(partitionFor(`ad-${i}`, 8), p);
    counts[p]!++;
  }
  for (const c of counts) assert.ok(c > 800 && c < 1200, `unbalanced: ${counts.join(',')}`);
});

test('murmur3 x86_32 in steps returns the hash of the whole range, for every step and tail', () => {
  const data = new Uint8Array(203);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
  for (const [start, end] of [
    [0, 203],
    [3, 200],
    [5, 5],
    [1, 4],
    [0, 64],
  ] as const) {
    const want = murmur3x86_32(data, start, end, 17);
    for (const every of [1, 4, 6, 16, 1000]) {
      const steps = murmur3x86_32Steps(data, start, end, every, 17);
      let yields = 0;
      let r = steps.next();
      for (; r.done !== true; r = steps.next()) yields++;
      assert.equal(r.value, want, `[${start}, ${end}) every ${every}`);
      const blocks = Math.floor((end - start) / 4) * 4;
      const step = Math.max(4, every & ~3);
      assert.equal(yields, Math.max(0, Math.ceil(blocks / step) - 1));
    }
  }
});
