/**
 * HttpDeps of the distributed composition: the same API over the Kafka log and the
 * PostgreSQL store. Status reads the committed offsets, watermark and totals from PostgreSQL
 * (the truth, whichever process aggregates) and the end of every partition from the broker;
 * with the aggregator in this process, the per-partition watermarks come from it.
 */
import { TallyError } from '../core/errors.js';
import { DEFAULT_CONSUMER } from '../services/aggregator/runner.js';
import type { HttpDeps } from '../services/http/deps.js';
import { Lifecycle } from '../services/http/lifecycle.js';
import type { StatusBody } from '../services/http/schemas.js';
import type { DistributedApp } from './distributed.js';
import { configSummary, healthBody, iso, isoOrNull, stateStatus } from './http.js';

export function httpDepsFromDistributed(
  app: DistributedApp,
  opts: { lifecycle?: Lifecycle } = {},
): HttpDeps {
  const { ingest, query, deadLetters } = app;
  if (ingest === undefined || query === undefined || deadLetters === undefined) {
    throw new TallyError(
      'TALLY_CONFIG_INVALID',
      'the HTTP API needs the ingest and query roles in this process',
      { field: 'role' },
    );
  }
  const lifecycle = opts.lifecycle ?? new Lifecycle('ready');
  const config = configSummary(app.config, app.log.partitions, 'distributed');
  return {
    ingest,
    query,
    metrics: app.metrics,
    health: () => healthBody(app, lifecycle),
    async status(): Promise<StatusBody> {
      const now = app.clock.now();
      await app.log.refresh?.();
      const stored = (await app.store.status()).consumers.find(
        (c) => c.consumer === DEFAULT_CONSUMER,
      );
      const local = new Map(
        (app.runner?.partitionStatus() ?? []).map((p) => [p.partition, p] as const),
      );
      let appended = 0;
      let lag = 0;
      const partitions: StatusBody['partitions'] = [];
      for (let p = 0; p < app.log.partitions; p++) {
        const end = app.log.endOffset(p);
        const committed = stored?.offsets.get(p) ?? app.log.startOffset(p);
        appended += end;
        lag += Math.max(0, end - committed);
        const l = local.get(p);
        partitions.push({
          partition: p,
          end_offset: end,
          committed_offset: committed,
          lag: Math.max(0, end - committed),
          watermark: isoOrNull(l?.watermark),
          max_event_time: isoOrNull(l?.maxEventTime),
          idle: l?.idle ?? false,
        });
      }
      const watermark = app.runner?.watermark ?? stored?.watermark;
      return {
        now: iso(now),
        started_at: iso(app.startedAt),
        uptime_seconds: Math.max(0, (now - app.startedAt) / 1000),
        watermark: isoOrNull(watermark),
        closed_up_to: iso(query.closedUpTo()),
        lag,
        partitions,
        ...(app.runner === undefined ? {} : { state: stateStatus(app.runner) }),
        totals: {
          appended,
          events: stored?.totals.events ?? 0,
          duplicates: stored?.totals.duplicates ?? 0,
          late: stored?.totals.late ?? 0,
          dead_letters: await deadLetters.count(),
        },
        config,
      };
    },
  };
}
