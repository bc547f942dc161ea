/**
 * The aggregator runner fences its commits: each one expects the seq of the consumer's
 * latest commit, so a second runner of the same consumer (a zombie after a failover) cannot
 * interleave its cycles with the new owner's. Embedded mode also holds a pid lock on the data
 * dir; this is the store-level guard the distributed deployment relies on.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openEmbeddedLog } from '../../src/adapters/log-embedded/index.js';
import { openSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { loadConfig } from '../../src/config/index.js';
import { isTallyError } from '../../src/core/errors.js';
import { AggregatorRunner } from '../../src/services/aggregator/runner.js';
import { silentLogger } from '../../src/services/observability/logger.js';
import { tempDir } from '../helpers/cli.js';

describe('aggregator runner: fencing', () => {
  it('refuses the commit of a runner whose consumer another runner has committed for', async () => {
    const t = tempDir('fencing');
    const log = await openEmbeddedLog({
      dir: join(t.dir, 'log'),
      partitions: 2,
      durability: 'none',
    });
    const store = await openSqliteStore({ file: join(t.dir, 'tally.sqlite') });
    try {
      const { aggregation } = loadConfig({ env: {} });
      const runner = () =>
        new AggregatorRunner({
          log,
          store,
          aggregation,
          clock: { now: () => Date.UTC(2026, 10, 25, 10) },
          logger: silentLogger(),
        });
      const zombie = runner();
      const owner = runner();
      await zombie.init();
      await owner.init();
      await owner.cycle({ snapshot: true });
      await assert.rejects(zombie.cycle({ snapshot: true }), (e: unknown) => {
        assert.ok(isTallyError(e) && e.details?.reason === 'fenced', String(e));
        return true;
      });
      await owner.cycle({ snapshot: true });
      assert.equal((await store.loadCheckpoint(owner.consumer)).seq, 2);
    } finally {
      await store.close();
      await log.close();
      t.cleanup();
    }
  });
});
