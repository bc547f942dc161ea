import assert from 'node:assert/strict';
import { test } from 'node:test';
import { committedBatches, type FetchedBatch } from '../../../src/adapters/kafka/read-committed.js';

const TXN = 1 << 4;
const CONTROL = 1 << 5;

function data(
  offset: number,
  producer: number,
  transactional = true,
  n = 2,
): FetchedBatch & { tag: string } {
  return {
    tag: `${producer}@${offset}`,
    firstOffset: BigInt(offset),
    lastOffsetDelta: n - 1,
    attributes: transactional ? TXN : 0,
    producerId: BigInt(producer),
    records: Array.from({ length: n }, () => ({ key: null })),
  };
}

function marker(
  offset: number,
  producer: number,
  type: 'abort' | 'commit',
): FetchedBatch & { tag: string } {
  return {
    tag: `${type}:${producer}@${offset}`,
    firstOffset: BigInt(offset),
    lastOffsetDelta: 0,
    attributes: TXN | CONTROL,
    producerId: BigInt(producer),
    records: [{ key: new Uint8Array([0, 0, 0, type === 'abort' ? 0 : 1]) }],
  };
}

const tags = (bs: Array<{ tag: string }>) => bs.map((b) => b.tag);

test('drops every aborted transaction of a producer, not only its last', () => {
  const batches = [
    data(0, 7),
    marker(2, 7, 'abort'),
    data(3, 7),
    marker(5, 7, 'commit'),
    data(6, 7),
    marker(8, 7, 'abort'),
    data(9, 7),
    marker(11, 7, 'commit'),
  ];
  const aborted = [
    { producerId: 7n, firstOffset: 6n },
    { producerId: 7n, firstOffset: 0n },
  ];
  assert.deepEqual(tags(committedBatches(batches, aborted)), ['7@3', '7@9']);
});

test('drops an aborted transaction whose marker is past the end of the fetch', () => {
  const batches = [data(0, 1), data(2, 2), data(4, 1)];
  assert.deepEqual(tags(committedBatches(batches, [{ producerId: 1n, firstOffset: 0n }])), ['2@2']);
});

test('keeps interleaved producers and non-transactional batches apart', () => {
  const batches = [
    data(0, 1),
    data(2, 2),
    data(4, 0, false),
    data(6, 1),
    marker(8, 1, 'abort'),
    data(9, 2),
    marker(11, 2, 'commit'),
    data(12, 1),
  ];
  // producer 1 aborted [0, 8) and later writes again at 12 (a new transaction, committed or open)
  assert.deepEqual(tags(committedBatches(batches, [{ producerId: 1n, firstOffset: 0n }])), [
    '2@2',
    '0@4',
    '2@9',
    '1@12',
  ]);
});

test('an aborted transaction that starts after this fetch does not touch it', () => {
  const batches = [data(0, 3), marker(2, 3, 'commit')];
  assert.deepEqual(tags(committedBatches(batches, [{ producerId: 3n, firstOffset: 10n }])), [
    '3@0',
  ]);
});
