/** The pieces the embedded and the distributed compositions build the same way. */
import { systemClock } from '../adapters/clock/system-clock.js';
import type { Config } from '../config/index.js';
import type { AggregateSink } from '../ports/aggregate-sink.js';
import type { Clock } from '../ports/clock.js';
import type { EventLog } from '../ports/event-log.js';
import { AggregatorRunner } from '../services/aggregator/runner.js';
import type { HealthBoard } from '../services/observability/health-board.js';
import type { Logger } from '../services/observability/logger.js';
import { createMetrics, type Metrics } from '../services/observability/metrics.js';

export interface Closable {
  close(): Promise<void>;
}

/** The clock and metrics a caller passed, else the system clock and fresh metrics. */
export function observing(deps: { logger: Logger; clock?: Clock; metrics?: Metrics }): {
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
} {
  return {
    clock: deps.clock ?? systemClock,
    metrics: deps.metrics ?? createMetrics(),
    logger: deps.logger,
  };
}

/** The aggregator over a log and a sink, with the config's aggregation settings. */
export function newRunner(
  config: Readonly<Config>,
  parts: {
    log: EventLog;
    store: AggregateSink;
    clock: Clock;
    logger: Logger;
    metrics: Metrics;
    health: HealthBoard;
  },
): AggregatorRunner {
  const { log, store, clock, logger, metrics, health } = parts;
  return new AggregatorRunner({
    log,
    store,
    aggregation: config.aggregation,
    clock,
    logger,
    metrics,
    health,
  });
}

/** The ingest limits both compositions take from the config. */
export function ingestLimits(config: Readonly<Config>) {
  return {
    maxFutureSkewMs: config.aggregation.maxFutureSkewMs,
    maxInflightBytes: config.http.maxInflightBytes,
    maxLagRecords: config.http.maxLagRecords,
    maxRecordsPerRequest: config.http.maxRecordsPerRequest,
  };
}

/**
 * Closes what a composition opened, newest first; every part is closed even when one fails
 * (a client left open keeps the process alive), then the first failure is thrown.
 */
export async function closeNewestFirst(opened: Closable[]): Promise<void> {
  let first: { err: unknown } | undefined;
  for (const c of opened.reverse()) {
    try {
      await c.close();
    } catch (err) {
      first ??= { err };
    }
  }
  if (first) throw first.err;
}

/** The same after a failed start: a failure to close must not hide the one that stopped it. */
export async function closeNewestFirstQuietly(opened: Closable[]): Promise<void> {
  for (const c of opened.reverse()) await c.close().catch(() => undefined);
}
