/**
 * HttpDeps of the distributed composition: the same API over the Kafka log and the
 * PostgreSQL store. Status: per clicks partition, the broker's end and the aggregator group's
 * committed offset (lag) and the partition's watermark as the writer applied it (the live one
 * where the aggregator runs here); the global watermark, totals and the writer's position from
 * PostgreSQL (the truth), set against the ends of the aggregates topic.
 */
import { TallyError } from '../core/errors.js';
import { WRITER_CONSUMER } from '../ports/partitioned-aggregates.js';
import type { HttpDeps } from '../services/http/deps.js';
import { Lifecycle } from '../services/http/lifecycle.js';
import type { StatusBody } from '../services/http/schemas.js';
import type { DistributedApp } from './distributed.js';
import { configSummary, healthBody, iso, isoOrNull } from './http.js';

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
        (c) => c.consumer === WRITER_CONSUMER,
      );
      const writer = await app.store.writerState();
      const committed = await app.groupOffsets.read();
      const progress = new Map(writer.partitions.map((p) => [p.partition, p] as const));
      const local = new Map(
        (app.aggregator?.partitionStatus() ?? []).map((p) => [p.partition, p] as const),
      );
      const ends = await app.groupOffsets.ends(app.topics.aggregates);
      let appended = 0;
      let lag = 0;
      let writerLag = 0;
      const partitions: StatusBody['partitions'] = [];
      const writerParts: NonNullable<StatusBody['writer']>['partitions'] = [];
      for (let p = 0; p < app.log.partitions; p++) {
        const end = app.log.endOffset(p);
        const done = committed.get(p) ?? app.log.startOffset(p);
        appended += end;
        lag += Math.max(0, end - done);
        const l = local.get(p);
        // the partition's watermark as the writer applied it (the aggregator's own if it runs here)
        const wm = l?.watermark ?? progress.get(p)?.watermark;
        partitions.push({
          partition: p,
          end_offset: end,
          committed_offset: done,
          lag: Math.max(0, end - done),
          watermark: isoOrNull(wm === null || wm === undefined || !Number.isFinite(wm) ? null : wm),
          max_event_time: isoOrNull(l?.maxEventTime),
          idle: l?.idle ?? false,
        });
        const at = writer.offsets.get(p) ?? 0;
        const aggEnd = Math.max(at, ends[p] ?? 0);
        writerLag += aggEnd - at;
        writerParts.push({
          partition: p,
          offset: at,
          end_offset: aggEnd,
          lag: aggEnd - at,
          cycle: progress.get(p)?.cycle ?? 0,
        });
      }
      return {
        now: iso(now),
        started_at: iso(app.startedAt),
        uptime_seconds: Math.max(0, (now - app.startedAt) / 1000),
        watermark: isoOrNull(Number.isFinite(writer.watermark) ? writer.watermark : null),
        closed_up_to: iso(query.closedUpTo()),
        lag,
        partitions,
        writer: { lag: writerLag, partitions: writerParts },
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
