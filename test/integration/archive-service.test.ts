/**
 * `tally start` archives by itself: closed segments reach the Parquet archive and retention
 * deletes them from the log once the aggregator has snapshotted past them, while the service
 * runs and takes clicks.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { serve } from '../../src/app/http.js';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/services/observability/logger.js';
import { MINUTE_MS } from '../../src/core/window/minute.js';
import { tempDir } from '../helpers/cli.js';

const tmp = tempDir('archive-service');
after(() => tmp.cleanup());

it(
  'tally start archives closed segments and frees the log by itself',
  { timeout: 60_000 },
  async () => {
    const dataDir = join(tmp.dir, 'data');
    const config = loadConfig({
      env: {},
      overrides: {
        dataDir,
        http: { port: 0 },
        log: { partitions: 2, segmentBytes: 4096, durability: 'none' },
        aggregation: { commitIntervalMs: 50, snapshotIntervalMs: 100 },
        archive: { intervalMs: 200 },
      },
    });
    const serving = await serve({ config, logger: silentLogger() }, { demo: false });
    try {
      const t0 = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - 10 * MINUTE_MS;
      // many small requests: a segment rolls between batches, so this makes closed segments
      for (let b = 0; b < 30; b++) {
        const body = Array.from({ length: 100 }, (_, j) => {
          const i = b * 100 + j;
          return JSON.stringify({
            ad_id: `ad-${i % 40}`,
            timestamp: t0 + i * 100,
            event_id: `s-${i}`,
          });
        }).join('\n');
        const res = await fetch(`${serving.address}/v1/clicks`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson' },
          body,
        });
        assert.equal(res.status, 200);
      }
      const firstSegment = async (p: string) =>
        (await readdir(join(dataDir, 'log', p))).filter((n) => n.endsWith('.seg')).sort()[0];
      let archived = 0;
      let freed = false;
      for (let i = 0; i < 200 && !(archived > 0 && freed); i++) {
        await new Promise((r) => setTimeout(r, 100));
        const manifest = await readFile(join(dataDir, 'archive', 'manifest.ndjson'), 'utf8').catch(
          () => '',
        );
        archived = manifest
          .split('\n')
          .filter(Boolean)
          .reduce((n, l) => n + (JSON.parse(l) as { records: number }).records, 0);
        freed = (await firstSegment('p-000')) !== `${'0'.repeat(20)}.seg`;
      }
      assert.ok(archived > 0, 'closed segments were archived');
      assert.ok(freed, 'archived segments were deleted from the log');
      // the counts are whole: the aggregator read every event before its segments went (the
      // first 4 minutes are closed: the watermark is 15 s behind the last event, at 5 min)
      const count = await fetch(
        `${serving.address}/v1/ads/ad-1/aggregated_count?from=${t0}&to=${t0 + 4 * MINUTE_MS}`,
      );
      assert.equal(((await count.json()) as { count: number }).count, 2400 / 40);
    } finally {
      await serving.stop();
    }
  },
);
