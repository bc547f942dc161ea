/** The DeadLetterStore contract, run by every adapter. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTallyError } from '../../src/core/errors.js';
import type { DeadLetter, DeadLetterStore } from '../../src/ports/dead-letters.js';

export interface DeadLetterFixture {
  store: DeadLetterStore;
  /** closes the store and opens it again over the same storage */
  reopen?: () => Promise<DeadLetterStore>;
  /** closes whatever instance is current and removes the storage */
  cleanup: () => Promise<void>;
}

export function letter(i: number, over: Partial<DeadLetter> = {}): DeadLetter {
  return {
    source: i % 2 === 0 ? 'http' : 'file:/tmp/clicks.ndjson',
    index: i,
    code: 'TALLY_FIELD_MISSING',
    field: i % 3 === 0 ? undefined : 'ad_id',
    reason: `record ${i} has no ad_id`,
    payload: `{"n":${i}}`,
    receivedAt: 1_700_000_000_000 + i,
    ...over,
  };
}

export function runDeadLetterStoreContract(
  name: string,
  makeStore: () => Promise<DeadLetterFixture>,
): void {
  async function withStore(fn: (f: DeadLetterFixture) => Promise<void>): Promise<void> {
    const f = await makeStore();
    try {
      await fn(f);
    } finally {
      await f.cleanup();
    }
  }

  describe(`DeadLetterStore contract: ${name}`, () => {
    it('lists what was added, in order, with every field', () =>
      withStore(async ({ store }) => {
        const letters = Array.from({ length: 10 }, (_, i) => letter(i));
        await store.add(letters.slice(0, 4));
        await store.add(letters.slice(4));
        assert.equal(await store.count(), 10);
        assert.deepEqual(await store.list(100), letters);
      }));

    it('pages with limit and offset', () =>
      withStore(async ({ store }) => {
        const letters = Array.from({ length: 25 }, (_, i) => letter(i));
        await store.add(letters);
        assert.deepEqual(await store.list(10), letters.slice(0, 10));
        assert.deepEqual(await store.list(10, 10), letters.slice(10, 20));
        assert.deepEqual(await store.list(10, 20), letters.slice(20));
        assert.deepEqual(await store.list(10, 25), []);
        assert.deepEqual(await store.list(10, 1000), []);
        assert.deepEqual(await store.list(0), []);
      }));

    it('keeps payloads with newlines, quotes, control characters and any Unicode', () =>
      withStore(async ({ store }) => {
        const odd = [
          letter(0, { payload: 'line one\nline two\r\n\t"quoted" \\ back\u0000nul' }),
          letter(1, { payload: '😀 naïve 中文 \u2028\u2029 end', reason: 'bad\nreason' }),
          letter(2, { payload: '' }),
          letter(3, { payload: 'x'.repeat(100_000) }),
        ];
        await store.add(odd);
        assert.deepEqual(await store.list(10), odd);
      }));

    it('keeps concurrent adds, all of them, in call order', () =>
      withStore(async ({ store }) => {
        const calls = Array.from({ length: 60 }, (_, c) =>
          Array.from({ length: (c % 4) + 1 }, (_, j) => letter(c * 10 + j)),
        );
        await Promise.all(calls.map((ls) => store.add(ls)));
        const all = calls.flat();
        assert.equal(await store.count(), all.length);
        assert.deepEqual(await store.list(all.length + 10), all);
      }));

    it('treats an empty add as a no-op', () =>
      withStore(async ({ store }) => {
        await store.add([]);
        assert.equal(await store.count(), 0);
        assert.deepEqual(await store.list(10), []);
      }));

    it('keeps everything across a reopen', () =>
      withStore(async (f) => {
        if (f.reopen === undefined) return;
        const letters = Array.from({ length: 7 }, (_, i) => letter(i));
        await f.store.add(letters);
        const store = await f.reopen();
        assert.equal(await store.count(), 7);
        assert.deepEqual(await store.list(100), letters);
        await store.add([letter(7)]);
        assert.deepEqual(await store.list(100), [...letters, letter(7)]);
      }));

    it('refuses a negative limit or offset', () =>
      withStore(async ({ store }) => {
        for (const [limit, offset, field] of [
          [-1, 0, 'limit'],
          [1, -1, 'offset'],
        ] as const) {
          await assert.rejects(
            async () => store.list(limit, offset),
            (e: unknown) =>
              isTallyError(e) && e.code === 'TALLY_BAD_PARAMETER' && e.field === field,
          );
        }
      }));
  });
}
