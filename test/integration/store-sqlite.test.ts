import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import type { AggregateStore } from '../../src/ports/aggregate-store.js';
import { runAggregateStoreContract } from '../contract/aggregate-store.contract.js';
import { tempDir } from '../helpers/cli.js';

runAggregateStoreContract('sqlite', async () => {
  const t = tempDir('store');
  const file = join(t.dir, 'tally.sqlite');
  let store: AggregateStore = await openSqliteStore({ file });
  return {
    store,
    reopen: async () => {
      await store.close();
      store = await openSqliteStore({ file });
      return store;
    },
    cleanup: async () => {
      await store.close();
      t.cleanup();
    },
  };
});

const CHILD = join(fileURLToPath(new URL('.', import.meta.url)), 'store-sqlite-child.js');

describe('sqlite store under kill -9', () => {
  it('shows every acknowledged commit whole and no partial one', { timeout: 120_000 }, async () => {
    const t = tempDir('store-kill');
    const file = join(t.dir, 'tally.sqlite');
    try {
      let lastAcked = 0;
      for (let round = 0; round < 5; round++) {
        const child = spawn(process.execPath, [CHILD, file], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const lines = out.split('\n');
          out = lines.pop()!;
          for (const l of lines) if (l) lastAcked = Math.max(lastAcked, Number(l));
        });
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        const store = await openSqliteStore({ file });
        try {
          const cp = await store.loadCheckpoint('kill');
          const seq = cp.offsets.get(0) ?? 0;
          assert.ok(seq >= lastAcked, `acked commit ${lastAcked} lost (store has ${seq})`);
          // every row of a commit carries its seq: a partial commit would show mixed values
          const rows = await store.rows(-Infinity, Infinity, '*');
          assert.equal(rows.length, seq === 0 ? 0 : 50);
          for (const r of rows) assert.equal(r.count, seq, `row ${r.adId} has ${r.count}, the commit is ${seq}`);
          assert.equal(cp.totals.events, seq * 50);
        } finally {
          await store.close();
        }
      }
      assert.ok(lastAcked > 0, 'the child never committed');
    } finally {
      t.cleanup();
    }
  });
});
