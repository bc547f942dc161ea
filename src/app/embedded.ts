import { mkdir } from 'node:fs/promises';
import type { Config } from '../config/index.js';
import { acquireDirLock } from '../adapters/fs/dir-lock.js';
import { embeddedRawSource, openEmbeddedLog } from '../adapters/log-embedded/index.js';
import type { ParquetArchive } from '../adapters/archive-parquet/index.js';
import { openFileDeadLetters } from '../adapters/deadletters-file/index.js';
import { openSqliteStore, type SqliteAggregateStore } from '../adapters/store-sqlite/index.js';
import type { Clock } from '../ports/clock.js';
import type { DeadLetterStore } from '../ports/dead-letters.js';
import type { EventLog } from '../ports/event-log.js';
import type { AggregatorRunner } from '../services/aggregator/runner.js';
import { IngestService } from '../services/ingest/ingest-service.js';
import type { QueryService } from '../services/query/query-service.js';
import { Archiver } from '../services/archive/archiver.js';
import { RetentionJob } from '../services/retention/retention-job.js';
import { TailGate } from '../services/archive/gate.js';
import { RawQueryService } from '../services/query/raw-query.js';
import type { Logger } from '../services/observability/logger.js';
import { HealthBoard } from '../services/observability/health-board.js';
import type { Metrics } from '../services/observability/metrics.js';
import { openArchive, tailOf } from './archive-access.js';
import { dataPaths } from './paths.js';
import {
  type Closable,
  closeNewestFirst,
  closeNewestFirstQuietly,
  ingestLimits,
  newRunner,
  observing,
} from './compose.js';
import { queryService } from './query.js';

export interface EmbeddedApp {
  config: Readonly<Config>;
  log: EventLog;
  /** the aggregate store (all its ports: the runner's sink, the readers, repair) */
  store: SqliteAggregateStore;
  /** the cold archive of raw events, and what moves closed segments into it */
  archive: ParquetArchive;
  archiver: Archiver;
  retention: RetentionJob;
  /** raw reads of the log's tail against retention's deletions */
  gate: TailGate;
  /** the log's records that are not archived yet */
  tail: ReturnType<typeof tailOf>;
  deadLetters: DeadLetterStore;
  ingest: IngestService;
  runner: AggregatorRunner;
  query: QueryService;
  metrics: Metrics;
  /** what is failing now (storage, commits): readiness and the state-change log lines */
  health: HealthBoard;
  logger: Logger;
  clock: Clock;
  startedAt: number;
  close(): Promise<void>;
}

/**
 * The composition root of the embedded default: one process owns the data dir, with the
 * durable log, the dead letters and the SQLite store in it. The aggregator is restored
 * (snapshot + replay) before this resolves; it runs only once `runner.start()` is called.
 */
export async function openEmbedded(
  config: Readonly<Config>,
  deps: { logger: Logger; clock?: Clock; metrics?: Metrics; restoreAggregator?: boolean },
): Promise<EmbeddedApp> {
  const { clock, metrics, logger } = observing(deps);
  const paths = dataPaths(config.dataDir);
  // one owner per data dir: the same pid lock the log and the dead letters take on theirs
  await mkdir(paths.root, { recursive: true });
  const lock = await acquireDirLock(paths.root);
  const opened: Closable[] = [];
  try {
    const log = await openEmbeddedLog({
      dir: paths.log,
      partitions: config.log.partitions,
      durability: config.log.durability,
      segmentBytes: config.log.segmentBytes,
      logger,
    });
    opened.push(log);
    const deadLetters = await openFileDeadLetters(paths.deadLetters);
    opened.push(deadLetters);
    const store = await openSqliteStore({
      file: paths.store,
      synchronous: config.store.synchronous,
      // queries on their own threads: a long one never holds ingest, health or other queries
      readThreads: 2,
      // and WAL checkpoints on one of their own: a commit never carries one
      walThread: true,
      logger,
    });
    opened.push(store);
    const health = new HealthBoard({ logger, clock, metrics });
    const runner = newRunner(config, { log, store, clock, logger, metrics, health });
    // `tally ingest` only appends: it needs no aggregator state
    if (deps.restoreAggregator !== false) await runner.init();
    const ingest = new IngestService({
      log,
      deadLetters,
      clock,
      metrics,
      ...ingestLimits(config),
      lag: () => runner.lag(),
      overMemoryBudget: () => runner.overMemoryBudget(),
      onAppended: () => runner.notify(),
      health,
    });
    const archive = await openArchive(config, logger);
    opened.push(archive);
    const gate = new TailGate();
    const archiver = new Archiver({
      source: embeddedRawSource(log),
      archive,
      store,
      retainLogMs: config.archive.retainLogMs,
      maxLogBytes: config.archive.maxLogBytes,
      clock,
      logger,
      gate,
      metrics,
    });
    const retention = new RetentionJob({
      store,
      retention: config.retention,
      allowedLatenessMs: config.aggregation.allowedLatenessMs,
      consumer: runner.consumer,
      logger,
      metrics,
    });
    const tail = tailOf(log, archive);
    const query = queryService(config, {
      reader: store,
      clock,
      watermark: () => runner.watermark,
      raw: new RawQueryService({
        access: { events: archive, tail, gate },
        dedupHorizonMs: config.aggregation.dedupHorizonMs,
      }),
    });
    let closed = false;
    return {
      config,
      log,
      store,
      archive,
      archiver,
      retention,
      gate,
      tail,
      deadLetters,
      ingest,
      runner,
      query,
      metrics,
      health,
      logger,
      clock,
      startedAt: clock.now(),
      async close() {
        if (closed) return;
        closed = true;
        ingest.stop();
        try {
          await archiver.stop();
          await retention.stop();
          await runner.stop();
        } finally {
          await closeNewestFirst(opened);
          await lock.release();
        }
      },
    };
  } catch (err) {
    await closeNewestFirstQuietly(opened);
    await lock.release();
    throw err;
  }
}
