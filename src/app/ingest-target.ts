/**
 * Where `tally ingest` and `tally watch` write: the embedded log of the data dir, or, with
 * `mode: distributed`, `<ns>.clicks` on Kafka (dead letters on `<ns>.deadletters`) through
 * the same ingest service. The distributed one waits for the broker and the database with
 * backoff, saying what it waits for, up to STARTUP_TIMEOUT_MS: a command line gives up.
 */
import type { Config } from '../config/index.js';
import type { Clock } from '../ports/clock.js';
import type { IngestService } from '../services/ingest/ingest-service.js';
import type { Logger } from '../services/observability/logger.js';
import type { Metrics } from '../services/observability/metrics.js';
import { openEmbedded } from './embedded.js';

/** how long a command waits for an unreachable broker or database before it fails */
export const STARTUP_TIMEOUT_MS = 60_000;

export interface IngestTarget {
  ingest: IngestService;
  clock: Clock;
  /** starts the aggregator opened with `aggregate` */
  startAggregator(): void;
  close(): Promise<void>;
}

export async function openIngestTarget(
  config: Readonly<Config>,
  o: { logger: Logger; metrics?: Metrics; aggregate?: boolean },
): Promise<IngestTarget> {
  const aggregate = o.aggregate === true;
  if (config.mode === 'distributed') {
    const d = config.distributed;
    // the Kafka and PostgreSQL clients are loaded only for this mode (as `tally start` does):
    // an embedded ingest or watch never pays for them
    const { openDistributed } = await import('./distributed.js');
    const app = await openDistributed(
      config,
      {
        brokers: d.brokers,
        databaseUrl: d.databaseUrl,
        namespace: d.namespace,
        roles: aggregate ? ['ingest', 'aggregator'] : ['ingest'],
        startupTimeoutMs: STARTUP_TIMEOUT_MS,
      },
      { logger: o.logger, ...(o.metrics ? { metrics: o.metrics } : {}) },
    );
    const ingest = app.ingest as IngestService; // the ingest role was asked for
    return {
      ingest,
      clock: app.clock,
      startAggregator: () => app.start(),
      close: () => app.close(),
    };
  }
  const app = await openEmbedded(config, {
    logger: o.logger,
    ...(o.metrics ? { metrics: o.metrics } : {}),
    restoreAggregator: aggregate,
  });
  return {
    ingest: app.ingest,
    clock: app.clock,
    startAggregator: () => app.runner.start(),
    close: () => app.close(),
  };
}
