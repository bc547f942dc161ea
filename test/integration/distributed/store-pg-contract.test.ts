/**
 * The PostgreSQL aggregate store against the real database: the aggregate store contract
 * (test/contract/aggregate-store.contract), each case in a schema of its own that is dropped
 * afterwards; then what only a shared database shows: two processes' commits fenced by seq,
 * and a concurrent open migrating once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dropPgSchema, openPgStore } from '../../../src/adapters/store-pg/index.js';
import {
  batch,
  reopenableFixture,
  row,
  runAggregateStoreContract,
} from '../../contract/aggregate-store.contract.js';
import { DATABASE_URL, uniqueNamespace } from './support.js';

const run = uniqueNamespace('store');
let n = 0;

function fixture() {
  return async () => {
    const schema = `${run}_${n++}`;
    return reopenableFixture(
      () => openPgStore({ url: DATABASE_URL, schema, poolSize: 2 }),
      () => dropPgSchema(DATABASE_URL, schema),
    );
  };
}

runAggregateStoreContract('postgres', fixture());

describe('postgres store: what a shared database adds', () => {
  it('opens concurrently: one migration, every opener works', async () => {
    const schema = `${run}_c`;
    const stores = await Promise.all(
      Array.from({ length: 4 }, () => openPgStore({ url: DATABASE_URL, schema, poolSize: 1 })),
    );
    try {
      await Promise.all(
        stores.map((s, i) =>
          s.commit(batch({ consumer: `c${i}`, rows: [row(0, `a${i}`, i + 1)] })),
        ),
      );
      assert.equal((await stores[0]!.status()).consumers.length, 4);
      assert.equal(await stores[3]!.count('a2', -Infinity, Infinity), 3);
    } finally {
      for (const s of stores) await s.close();
      await dropPgSchema(DATABASE_URL, schema);
    }
  });

  it('fences concurrent writers of one consumer: exactly one of two commits at a seq lands', async () => {
    const schema = `${run}_f`;
    const one = await openPgStore({ url: DATABASE_URL, schema });
    const two = await openPgStore({ url: DATABASE_URL, schema });
    try {
      await one.commit(batch({ expectedSeq: 0 }));
      for (let seq = 1; seq <= 20; seq++) {
        const results = await Promise.allSettled([
          one.commit(batch({ expectedSeq: seq, rows: [row(0, 'a', 2 * seq)] })),
          two.commit(batch({ expectedSeq: seq, rows: [row(0, 'a', 2 * seq + 1)] })),
        ]);
        const ok = results.filter((r) => r.status === 'fulfilled');
        assert.equal(ok.length, 1, `seq ${seq}: ${results.map((r) => r.status).join(', ')}`);
        const refused = results.find((r) => r.status === 'rejected');
        assert.equal(
          (refused?.reason as { details?: { reason?: string } }).details?.reason,
          'fenced',
        );
      }
      assert.equal((await one.loadCheckpoint('agg')).seq, 21);
    } finally {
      await one.close();
      await two.close();
      await dropPgSchema(DATABASE_URL, schema);
    }
  });

  it('an unreachable database is a TALLY_STORE_FAILURE naming the cause, not a hang', async () => {
    const started = Date.now();
    await assert.rejects(
      openPgStore({
        url: 'postgres://tally@127.0.0.1:1/tally',
        schema: `${run}_u`,
        connectTimeoutMs: 2000,
      }),
      (e: { code?: string; message?: string; details?: { pgCode?: string } }) =>
        e.code === 'TALLY_STORE_FAILURE' && e.details?.pgCode === 'ECONNREFUSED',
    );
    assert.ok(Date.now() - started < 5000);
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    await assert.rejects(
      openPgStore({ url: DATABASE_URL, schema: 'x"; drop schema public; --' }),
      (e: { code?: string }) => e.code === 'TALLY_CONFIG_INVALID',
    );
  });
});
