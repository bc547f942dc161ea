/**
 * Exactly-once through failing writes, fsyncs, commits and reads: the real log, dead letters
 * and SQLite store with faults injected at random points (support.ts), a stream of clicks with
 * duplicates, disorder, late and invalid records (core/generate) sent by concurrent clients
 * that retry what was refused, and the aggregator runner committing all along. Then the
 * faults stop, the runner drains, and the store must hold exactly the oracle's counts: every
 * acknowledged event once, nothing twice.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openFileDeadLetters } from '../../src/adapters/deadletters-file/index.js';
import { openEmbeddedLog } from '../../src/adapters/log-embedded/index.js';
import { openSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { loadConfig } from '../../src/config/index.js';
import { isTallyError } from '../../src/core/errors.js';
import { generateClicks } from '../../src/core/generate/index.js';
import { MINUTE_MS as MINUTE } from '../../src/core/window/minute.js';
import { AggregatorRunner } from '../../src/services/aggregator/runner.js';
import { HTTP_STATUS } from '../../src/services/http/errors.js';
import { IngestService } from '../../src/services/ingest/ingest-service.js';
import { HealthBoard } from '../../src/services/observability/health-board.js';
import { silentLogger } from '../../src/services/observability/logger.js';
import { createMetrics } from '../../src/services/observability/metrics.js';
import { tempDir } from '../helpers/cli.js';
import { countByAdMinute, distinctEvents } from '../helpers/oracle.js';
import { FaultyReads, FaultyStore, Faults, faultyIo, sleep } from './support.js';

const clock = { now: () => Date.now() };

describe('exactly-once through random storage faults (real log, dead letters, SQLite)', () => {
  it(
    'counts every acknowledged event once while writes, fsyncs, commits and reads fail',
    { timeout: 300_000 },
    async () => {
      const seed = Number(process.env.TALLY_FAULT_SEED ?? Date.now() % 100_000);
      const t = tempDir('faults');
      const faults = new Faults(seed);
      faults.rates = {
        'short-write': 0.04,
        'failed-fsync': 0.04,
        'commit-before': 0.08,
        'commit-after': 0.08,
        'checkpoint-read': 0.25,
        'log-read': 0.01,
      };
      const now = Date.now();
      const lines: string[] = [];
      const gen = generateClicks({
        seed,
        count: 40_000,
        ads: 500,
        startTime: now - 6 * MINUTE,
        eventsPerSecond: 150,
        duplicateRate: 0.05,
        invalidRate: 0.02,
        lateRate: 0.005,
      });
      for (let r = gen.next(); !r.done; r = gen.next()) lines.push(...r.value);

      const { aggregation } = loadConfig({ env: {} });
      const log = await openEmbeddedLog({
        dir: join(t.dir, 'log'),
        partitions: 4,
        segmentBytes: 64 * 1024, // small segments: faults also strike around rolls
        io: faultyIo(faults),
      });
      const deadLetters = await openFileDeadLetters(join(t.dir, 'deadletters'), {
        io: faultyIo(faults),
      });
      const sqlite = await openSqliteStore({ file: join(t.dir, 'tally.sqlite') });
      const metrics = createMetrics({ defaults: false });
      const health = new HealthBoard({ logger: silentLogger(), clock, metrics });
      const runner = new AggregatorRunner({
        log: new FaultyReads(log, faults),
        store: new FaultyStore(sqlite, faults),
        aggregation: { ...aggregation, commitIntervalMs: 20, snapshotIntervalMs: 150 },
        clock,
        logger: silentLogger(),
        metrics,
        health,
        maxCycleRecords: 3_000,
        minRetryMs: 2,
        maxRetryMs: 40,
      });
      try {
        faults.on = false;
        await runner.init();
        faults.on = true;
        // every kind strikes at least once whatever the seed (the rates alone can miss one: a
        // seed with 18 restores saw no checkpoint-read fault); the rates add the rest at random
        for (const kind of Object.keys(faults.struck) as Array<keyof typeof faults.struck>) {
          faults.next.add(kind);
        }
        runner.start();
        const ingest = new IngestService({
          log,
          deadLetters,
          clock,
          metrics,
          maxFutureSkewMs: aggregation.maxFutureSkewMs,
          maxInflightBytes: 64 * 1024 * 1024,
          maxLagRecords: 10_000_000,
          lag: () => runner.lag(),
          onAppended: () => runner.notify(),
          health,
          probeIntervalMs: 5,
        });

        // what the clients saw, by HTTP status; every batch is retried until it is acknowledged
        const seen = new Map<number, number>();
        let acked = 0;
        let resent = 0;
        const batches: string[][] = [];
        for (let i = 0; i < lines.length;) {
          const n = 50 + faults.rng.int(400);
          batches.push(lines.slice(i, i + n));
          i += n;
        }
        let next = 0;
        const client = async () => {
          while (next < batches.length) {
            const batch = batches[next++]!;
            const body = batch.join('\n') + '\n';
            for (let attempt = 0; ; attempt++) {
              try {
                ingest.admit(body.length);
                await ingest.ingestBody(body, 'application/x-ndjson', 'test');
                seen.set(200, (seen.get(200) ?? 0) + 1);
                acked += batch.length;
                // a client that did not see the answer sends the batch again: all duplicates
                if (faults.rng.next() < 0.03) {
                  resent++;
                  next--;
                  batches[next] = batch;
                }
                break;
              } catch (e) {
                assert.ok(isTallyError(e), `not a catalogued error: ${String(e)}`);
                assert.ok(e.retryable, `not retryable: ${e.code} ${e.message}`);
                const status = HTTP_STATUS[e.code];
                seen.set(status, (seen.get(status) ?? 0) + 1);
                assert.ok(attempt < 10_000, 'a batch was refused forever');
                await sleep(1 + faults.rng.int(5));
              }
            }
          }
        };
        await Promise.all([client(), client(), client(), client()]);
        faults.on = false;
        await runner.stop();
        await runner.drain();
        ingest.stop();

        const struck = { ...faults.struck };

        const expected = countByAdMinute(distinctEvents(lines, now));
        const counted = new Map<string, number>();
        for (const r of await sqlite.rows(-Infinity, Infinity, '*')) {
          counted.set(`${r.adId}|${r.minute}`, r.count);
        }
        for (const l of await sqlite.late(10_000_000)) {
          const k = `${l.adId}|${Math.floor(l.timestamp / MINUTE) * MINUTE}`;
          counted.set(k, (counted.get(k) ?? 0) + 1);
        }
        let lost = 0;
        let twice = 0;
        for (const [k, n] of expected) {
          const got = counted.get(k) ?? 0;
          if (got < n) lost += n - got;
          if (got > n) twice += got - n;
        }
        for (const [k, got] of counted) if (!expected.has(k)) twice += got;
        const restores = (await metrics.aggregatorRestores.get()).values[0]?.value ?? 0;
        console.error(
          `seed ${seed}: ${lines.length} lines in ${batches.length} batches (${resent} re-sent), ` +
            `faults ${JSON.stringify(struck)}, client saw ${JSON.stringify(Object.fromEntries(seen))}, ` +
            `aggregator restores ${restores}; lost ${lost}, counted twice ${twice}`,
        );
        assert.ok(restores > 0, 'the runner never went back to a checkpoint');
        for (const [kind, n] of Object.entries(struck)) {
          assert.ok(
            n > 0,
            `seed ${seed}: no ${kind} fault struck; the test proved less than it says`,
          );
        }
        assert.ok((seen.get(507) ?? 0) > 0, 'no client saw a 507');
        assert.ok((seen.get(503) ?? 0) > 0, 'no client saw a 503');
        assert.equal(seen.get(500), undefined, 'a client saw a 500');
        assert.deepEqual(health.list(), [], 'every component recovered');

        assert.equal(lost, 0, `seed ${seed}: ${lost} events lost`);
        assert.equal(twice, 0, `seed ${seed}: ${twice} events counted twice`);
        assert.ok(acked >= lines.length);
      } finally {
        await sqlite.close();
        await deadLetters.close();
        await log.close();
        t.cleanup();
      }
    },
  );
});
