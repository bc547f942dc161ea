/**
 * The composition root of the distributed deployment (SPEC §5): the book's two queues on
 * Kafka, the aggregate database on PostgreSQL, each role in any process.
 *
 * - ingest: validate and append to `<ns>.clicks` (idempotent producer, acks=all: resolves
 *   only once the broker has the records), rejected records to `<ns>.deadletters`.
 * - aggregator: a member of the consumer group `<ns>.aggregators` on `<ns>.clicks`
 *   (adapters/log-kafka/group-aggregator.ts): per partition, the core operator; each cycle one
 *   Kafka transaction that produces its output to `<ns>.aggregates` and commits the consumed
 *   offsets with the group's generation (KIP-447); per-partition snapshots in PostgreSQL.
 * - writer: applies `<ns>.aggregates` to PostgreSQL, its offsets in the same transaction, and
 *   merges the partitions' top-N candidates into the global top N.
 * - query: the query service on PostgreSQL; the default `to` of `top` follows the global
 *   watermark the writer committed.
 *
 * The namespace prefixes the topics, the group and the transactional ids, and names the
 * PostgreSQL schema, so deployments and test runs sharing one broker and one database stay
 * apart.
 */
import { KafkaDeadLetters } from '../adapters/deadletters-kafka/index.js';
import {
  AggregatesWriter,
  ensureTopic,
  GroupAggregator,
  GroupOffsets,
  type GroupTiming,
  KafkaEventLog,
} from '../adapters/log-kafka/index.js';
import { openPgStore, type PgAggregateStore } from '../adapters/store-pg/index.js';
import type { Config } from '../config/index.js';
import { TallyError } from '../core/errors.js';
import type { Clock } from '../ports/clock.js';
import type { DeadLetterStore } from '../ports/dead-letters.js';
import type { EventLog } from '../ports/event-log.js';
import { operatorConfig } from '../services/aggregator/runner.js';
import { IngestService } from '../services/ingest/ingest-service.js';
import { HealthBoard } from '../services/observability/health-board.js';
import type { Logger } from '../services/observability/logger.js';
import type { Metrics } from '../services/observability/metrics.js';
import type { QueryService } from '../services/query/query-service.js';
import { RawQueryService } from '../services/query/raw-query.js';
import {
  type Closable,
  closeNewestFirst,
  closeNewestFirstQuietly,
  ingestLimits,
  observing,
} from './compose.js';
import { queryService } from './query.js';

export type DistributedRole = 'ingest' | 'aggregator' | 'writer' | 'query';

/** every role: what `all` stands for */
export const ALL_ROLES: readonly DistributedRole[] = ['ingest', 'aggregator', 'writer', 'query'];

export interface DistributedOptions {
  brokers: string[];
  databaseUrl: string;
  /** topic prefix and PostgreSQL schema: [a-z_][a-z0-9_]* */
  namespace: string;
  /** `all`: every role in this process */
  roles: readonly (DistributedRole | 'all')[];
  /**
   * how long start-up waits for an unreachable broker or database before it gives up, ms
   * (default: until they answer)
   */
  startupTimeoutMs?: number;
  /** told what start-up waits for and why, at each attempt (readiness names it) */
  onWaiting?: (what: string, reason: string) => void;
  /** the aggregator group's session, heartbeat and rebalance timeouts */
  group?: GroupTiming;
}

export interface DistributedApp {
  config: Readonly<Config>;
  namespace: string;
  topics: ReturnType<typeof namespaceTopics>;
  /** the aggregator group's id */
  groupId: string;
  log: EventLog;
  store: PgAggregateStore;
  /** present with the ingest and query roles */
  deadLetters: DeadLetterStore | undefined;
  /** present with the ingest role */
  ingest: IngestService | undefined;
  /** present with the aggregator role (a group member, joined, not started) */
  aggregator: GroupAggregator | undefined;
  /** present with the writer role (not started) */
  writer: AggregatesWriter | undefined;
  /** the group's committed offsets on the clicks topic (lag, status) */
  groupOffsets: GroupOffsets;
  /** present with the query role */
  query: QueryService | undefined;
  metrics: Metrics;
  health: HealthBoard;
  logger: Logger;
  clock: Clock;
  startedAt: number;
  /** starts the aggregator and writer loops of this process */
  start(): void;
  close(): Promise<void>;
}

/**
 * Runs `open` until it succeeds, backing off from 200 ms to 5 s, with one log line per
 * attempt saying what it waits for and why; past `timeoutMs` (default: no limit) the last
 * failure is thrown as TALLY_UNAVAILABLE.
 */
export async function waitFor<T>(
  what: string,
  open: () => Promise<T>,
  o: {
    logger: Logger;
    timeoutMs?: number | undefined;
    onWaiting?: ((what: string, reason: string) => void) | undefined;
  },
): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      const out = await open();
      if (attempt > 1) o.logger.info({ attempts: attempt }, `${what}: reachable`);
      return out;
    } catch (err) {
      // a config error does not heal by waiting
      if ((err as { code?: unknown }).code === 'TALLY_CONFIG_INVALID') throw err;
      const reason = err instanceof Error ? err.message : String(err);
      const waited = Date.now() - started;
      if (o.timeoutMs !== undefined && waited >= o.timeoutMs) {
        throw new TallyError(
          'TALLY_UNAVAILABLE',
          `${what}: still unreachable after ${(waited / 1000).toFixed(1)} s: ${reason}`,
          { cause: err },
        );
      }
      const delay = Math.min(5_000, 200 * 2 ** Math.min(attempt - 1, 5));
      o.logger.warn({ attempt, retryInMs: delay, reason }, `waiting for ${what}`);
      o.onWaiting?.(what, reason);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export function namespaceTopics(ns: string) {
  return {
    clicks: `${ns}.clicks`,
    aggregates: `${ns}.aggregates`,
    deadletters: `${ns}.deadletters`,
  };
}

/** host:port/db of a database URL, never its password */
function databaseHost(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return 'the configured database URL';
  }
}

function checkNamespace(ns: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(ns)) {
    throw new TallyError(
      'TALLY_CONFIG_INVALID',
      `the namespace ${JSON.stringify(ns)} must be 1–63 of [a-z0-9_], not starting with a digit (it names topics and a PostgreSQL schema)`,
      { field: 'namespace' },
    );
  }
}

/**
 * Opens the roles asked for. Topics are created when absent (clicks and aggregates with the
 * config's partitions; dead letters with one: their list is in arrival order), the schema
 * migrated; the aggregator has joined its group and the writer read its position when this
 * resolves; `start()` runs them.
 */
export async function openDistributed(
  config: Readonly<Config>,
  opts: DistributedOptions,
  deps: { logger: Logger; clock?: Clock; metrics?: Metrics },
): Promise<DistributedApp> {
  checkNamespace(opts.namespace);
  const { clock, metrics, logger } = observing(deps);
  const roles = new Set<DistributedRole>(
    opts.roles.flatMap((r) => (r === 'all' ? ALL_ROLES : [r])),
  );
  const topics = namespaceTopics(opts.namespace);
  const groupId = `${opts.namespace}.aggregators`;
  const partitions = config.log.partitions;
  const opened: Closable[] = [];
  try {
    const wait = { logger, timeoutMs: opts.startupTimeoutMs, onWaiting: opts.onWaiting };
    const kafka = `Kafka at ${opts.brokers.join(',')}`;
    const log = await waitFor(
      kafka,
      () =>
        KafkaEventLog.open({
          brokers: opts.brokers,
          topic: topics.clicks,
          partitions,
          create: true,
          keyBy: 'ad_id',
        }),
      wait,
    );
    opened.push(log);
    // ingest writes them, query counts them; the aggregator has no use for them
    let deadLetters: DeadLetterStore | undefined;
    if (roles.has('ingest') || roles.has('query')) {
      deadLetters = await waitFor(
        kafka,
        () =>
          KafkaDeadLetters.open({
            brokers: opts.brokers,
            topic: topics.deadletters,
            create: true,
          }),
        wait,
      );
      opened.push(deadLetters);
    }
    const store = await waitFor(
      `PostgreSQL at ${databaseHost(opts.databaseUrl)}`,
      () => openPgStore({ url: opts.databaseUrl, schema: opts.namespace, logger }),
      wait,
    );
    opened.push(store);
    if (roles.has('aggregator') || roles.has('writer')) {
      await waitFor(kafka, () => ensureTopic(opts.brokers, topics.aggregates, partitions), wait);
    }
    const groupOffsets = new GroupOffsets(opts.brokers, groupId, topics.clicks, partitions);
    opened.push(groupOffsets);
    const health = new HealthBoard({ logger, clock, metrics });
    const a = config.aggregation;

    let writer: AggregatesWriter | undefined;
    if (roles.has('writer')) {
      writer = new AggregatesWriter({
        brokers: opts.brokers,
        topic: topics.aggregates,
        partitions,
        topN: a.topN,
        allowedLatenessMs: a.allowedLatenessMs,
        sink: store,
        commitIntervalMs: a.commitIntervalMs,
        logger,
        health,
      });
      opened.push(writer);
    }
    let aggregator: GroupAggregator | undefined;
    if (roles.has('aggregator')) {
      aggregator = await waitFor(
        kafka,
        () =>
          GroupAggregator.open({
            brokers: opts.brokers,
            clicksTopic: topics.clicks,
            aggregatesTopic: topics.aggregates,
            groupId,
            transactionalIdPrefix: `${opts.namespace}.aggregator`,
            log,
            snapshots: store,
            operator: operatorConfig(a),
            commitIntervalMs: a.commitIntervalMs,
            memoryBudgetMiB: a.memoryBudgetMiB,
            snapshotIntervalMs: a.snapshotIntervalMs,
            snapshotMaxRecords: a.snapshotMaxRecords,
            maxBatchRecords: a.maxBatchRecords,
            clock,
            logger,
            health,
            observer: {
              cycle: ({ transactionMs, stats, partitions: held }) => {
                metrics.commitSeconds.observe(transactionMs / 1000);
                metrics.aggregatedEvents.inc(stats.events);
                metrics.duplicates.inc(stats.duplicates);
                metrics.lateEvents.inc(stats.late);
                for (const h of held) {
                  metrics.partitionLag.set({ partition: String(h.partition) }, h.lag);
                  if (h.watermark !== null)
                    metrics.partitionWatermark.set(
                      { partition: String(h.partition) },
                      h.watermark / 1000,
                    );
                }
              },
              restore: ({ ms }) => {
                metrics.aggregatorRestores.inc();
                metrics.restoreSeconds.set(ms / 1000);
              },
            },
            ...(opts.group === undefined ? {} : { group: opts.group }),
          }),
        wait,
      );
      opened.push(aggregator);
    }

    // back-pressure on the aggregators' lag: what the broker's ends and the group's committed
    // offsets say, refreshed every commit interval
    let remoteLag = 0;
    const refreshLag = async () => {
      await log.refresh?.();
      const committed = await groupOffsets.read();
      let lag = 0;
      for (let p = 0; p < log.partitions; p++) {
        lag += Math.max(0, log.endOffset(p) - (committed.get(p) ?? log.startOffset(p)));
      }
      remoteLag = lag;
    };
    let lagTimer: NodeJS.Timeout | undefined;
    if (roles.has('ingest')) {
      lagTimer = setInterval(() => {
        refreshLag().catch((err: unknown) =>
          logger.warn({ err }, 'ingest: reading the aggregator lag failed'),
        );
      }, a.commitIntervalMs);
      lagTimer.unref();
    }
    const ingest =
      deadLetters !== undefined && roles.has('ingest')
        ? new IngestService({
            log,
            deadLetters,
            clock,
            metrics,
            ...ingestLimits(config),
            lag: () => remoteLag,
            ...(aggregator ? { overMemoryBudget: () => aggregator.overMemoryBudget() } : {}),
            health,
          })
        : undefined;

    // the query role's watermark: the global one the writer committed last
    let committedWatermark = -Infinity;
    const refreshWatermark = async () => {
      committedWatermark = (await store.writerState()).watermark;
    };
    let watermarkTimer: NodeJS.Timeout | undefined;
    let query: QueryService | undefined;
    if (roles.has('query')) {
      await refreshWatermark();
      watermarkTimer = setInterval(() => {
        refreshWatermark().catch((err: unknown) =>
          logger.warn({ err }, 'query: reading the committed watermark failed'),
        );
      }, a.commitIntervalMs);
      watermarkTimer.unref();
      query = queryService(config, {
        reader: store,
        clock,
        watermark: () => committedWatermark,
        raw: new RawQueryService({
          dedupHorizonMs: a.dedupHorizonMs,
          access: () =>
            Promise.reject(
              new TallyError(
                'TALLY_BAD_PARAMETER',
                'filters on attributes that are not pre-aggregated read the raw archive, which the distributed mode does not have: filter on the configured dimensions',
                { field: 'filter' },
              ),
            ),
        }),
      });
    }

    let closed = false;
    return {
      config,
      namespace: opts.namespace,
      topics,
      groupId,
      log,
      store,
      deadLetters,
      ingest,
      aggregator,
      writer,
      groupOffsets,
      query,
      metrics,
      health,
      logger,
      clock,
      startedAt: clock.now(),
      start() {
        aggregator?.start();
        writer?.start();
      },
      async close() {
        if (closed) return;
        closed = true;
        if (watermarkTimer) clearInterval(watermarkTimer);
        if (lagTimer) clearInterval(lagTimer);
        ingest?.stop();
        await closeNewestFirst(opened);
      },
    };
  } catch (err) {
    await closeNewestFirstQuietly(opened);
    throw err;
  }
}
